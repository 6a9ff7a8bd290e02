//! Fixed-width index files shared by the offset and time indexes.
//!
//! Invariants: the file holds exactly `entries * width` bytes (no preallocation, so "trimming"
//! only matters after a crash left a partial entry); entries are appended with positional
//! writes at the current end; a file whose length is not a multiple of the width is rejected
//! on load and rebuilt by the caller.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::LogError;

/// An index file opened for appending.
#[derive(Debug)]
pub(crate) struct IndexFile {
    path: PathBuf,
    file: Option<File>,
    len: u64,
    dirty: bool,
}

impl IndexFile {
    /// Creates (or truncates) the file and writes `contents`.
    pub(crate) fn create(path: &Path, contents: &[u8]) -> Result<IndexFile, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .ctx(|| format!("create index {}", path.display()))?;
        file.write_all_at(contents, 0)
            .ctx(|| format!("write index {}", path.display()))?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            len: contents.len() as u64,
            dirty: true,
        })
    }

    /// Reads the whole file; `Ok(None)` if it is missing or not a whole number of entries.
    pub(crate) fn read(path: &Path, width: usize) -> Result<Option<Vec<u8>>, LogError> {
        match fs::read(path) {
            Ok(bytes) if bytes.len() % width == 0 => Ok(Some(bytes)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx(|| format!("read index {}", path.display())),
        }
    }

    /// Wraps an existing, already validated file of `len` bytes; opened lazily on append.
    pub(crate) fn existing(path: &Path, len: u64) -> IndexFile {
        IndexFile {
            path: path.to_path_buf(),
            file: None,
            len,
            dirty: false,
        }
    }

    fn handle(&mut self) -> Result<&File, LogError> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .ctx(|| format!("open index {}", self.path.display()))?;
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("opened above"))
    }

    /// Appends one entry at the end of the file.
    pub(crate) fn append(&mut self, entry: &[u8]) -> Result<(), LogError> {
        let at = self.len;
        let path = self.path.clone();
        self.handle()?
            .write_all_at(entry, at)
            .ctx(|| format!("append to index {}", path.display()))?;
        self.len += entry.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Fsyncs pending appends.
    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        if self.dirty {
            if let Some(file) = &self.file {
                file.sync_data()
                    .ctx(|| format!("fsync index {}", self.path.display()))?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// Cuts the file to its entries and releases the handle without an fsync; returns the
    /// handle (and path) for the caller to fsync later, or `None` if the file was never opened
    /// for writing since it was loaded (nothing to sync).
    pub(crate) fn close_deferred(&mut self) -> Result<Option<(File, PathBuf)>, LogError> {
        let Some(file) = self.file.take() else {
            return Ok(None);
        };
        file.set_len(self.len)
            .ctx(|| format!("trim index {}", self.path.display()))?;
        self.dirty = false;
        Ok(Some((file, self.path.clone())))
    }

    /// Cuts the file to its entries, fsyncs, and releases the handle (segment sealed or closed).
    pub(crate) fn close(&mut self) -> Result<(), LogError> {
        if let Some(file) = &self.file {
            file.set_len(self.len)
                .ctx(|| format!("trim index {}", self.path.display()))?;
        }
        self.dirty = true;
        self.flush()?;
        self.file = None;
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
