//! The unsynced contents of one file: dirty pages over the backing file, and its logical size.
//!
//! Invariants:
//! - `floor <= len`; backing bytes at or past `floor` are not part of the file (a truncate cut
//!   them, and it is not yet synced), so they read as zeros unless a page overrides them;
//! - every page holds `PAGE` bytes; bytes of a page at or past `len` are zero;
//! - `sync` writes the pages, sets the backing length to `len` and fsyncs, after which the
//!   backing file alone is the file's contents.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes per buffered page.
pub(crate) const PAGE: u64 = 4096;

/// Unsynced state of one file.
#[derive(Debug)]
pub(crate) struct Pending {
    file: Arc<File>,
    pages: BTreeMap<u64, Vec<u8>>,
    pub(crate) len: u64,
    floor: u64,
}

/// Reads `buf.len()` bytes at `at` from `file`, zero-filling past its end.
pub(crate) fn read_backing(file: &File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf[done..].fill(0);
    Ok(())
}

impl Pending {
    /// Starts buffering over `file`, whose synced contents are its current backing contents.
    pub(crate) fn new(file: Arc<File>) -> io::Result<Pending> {
        let len = file.metadata()?.len();
        Ok(Pending {
            file,
            pages: BTreeMap::new(),
            len,
            floor: len,
        })
    }

    /// Bytes held only in memory (pages), for reports.
    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    fn page(&mut self, index: u64) -> io::Result<&mut Vec<u8>> {
        if !self.pages.contains_key(&index) {
            let start = index * PAGE;
            let mut page = vec![0u8; PAGE as usize];
            if start < self.floor {
                let valid = (self.floor - start).min(PAGE) as usize;
                read_backing(&self.file, start, &mut page[..valid])?;
            }
            self.pages.insert(index, page);
        }
        Ok(self.pages.get_mut(&index).expect("inserted above"))
    }

    /// Writes `data` at `offset` into memory.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let index = at / PAGE;
            let within = (at % PAGE) as usize;
            let n = rest.len().min(PAGE as usize - within);
            self.page(index)?[within..within + n].copy_from_slice(&rest[..n]);
            at += n as u64;
            rest = &rest[n..];
        }
        self.len = self.len.max(offset + data.len() as u64);
        Ok(())
    }

    /// Reads up to `size` bytes at `offset` (fewer at the end of the file).
    pub(crate) fn read(&self, offset: u64, size: u64) -> io::Result<Vec<u8>> {
        if offset >= self.len {
            return Ok(Vec::new());
        }
        let end = (offset + size).min(self.len);
        let mut buf = vec![0u8; (end - offset) as usize];
        if offset < self.floor {
            let upto = (end.min(self.floor) - offset) as usize;
            read_backing(&self.file, offset, &mut buf[..upto])?;
        }
        for (&index, page) in self.pages.range(offset / PAGE..=(end - 1) / PAGE) {
            let page_start = index * PAGE;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - page_start) as usize..(to - page_start) as usize]);
        }
        Ok(buf)
    }

    /// Sets the logical size (truncate or extend with zeros), in memory.
    pub(crate) fn set_len(&mut self, len: u64) {
        if len < self.len {
            let first_gone = len.div_ceil(PAGE);
            self.pages.retain(|&index, _| index < first_gone);
            if !len.is_multiple_of(PAGE) {
                if let Some(page) = self.pages.get_mut(&(len / PAGE)) {
                    page[(len % PAGE) as usize..].fill(0);
                }
            }
            self.floor = self.floor.min(len);
        }
        self.len = len;
    }

    /// Writes everything to the backing file and fsyncs it.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        for (&index, page) in &self.pages {
            let start = index * PAGE;
            if start >= self.len {
                continue;
            }
            let n = (self.len - start).min(PAGE) as usize;
            self.file.write_all_at(&page[..n], start)?;
        }
        self.file.set_len(self.len)?;
        self.file.sync_all()?;
        self.pages.clear();
        self.floor = self.len;
        Ok(())
    }
}
