//! The Raft log on disk: `raft.log`, a metadata journal of format version 2 (the same framing as
//! version 1: magic, version, then `u32 length`, `u32 crc32c`, JSON payload per entry), whose
//! entries are Raft log entries; plus `raft-vote.json` (the vote, fsynced) and
//! `raft-committed.json` (a hint of the commit index, not fsynced: losing it only means the
//! leader tells us again).
//!
//! Invariants:
//! - an append returns (and tells openraft it is flushed) only after `fdatasync`;
//! - the in-memory entries are exactly the file's entries above the purge point;
//! - truncation cuts the file at an entry boundary and fsyncs before returning;
//! - purging records the purge point in `raft-vote.json`'s sibling `raft-purged.json` first,
//!   then rewrites the file without the purged prefix (write, fsync, rename, fsync dir) once the
//!   prefix is large, so a crash leaves either file whole and replay skips purged entries;
//! - only a torn tail is cut on open; damage refuses to start (see `strata_meta::journal_scan`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId, StorageIOError, Vote};
use serde::{Deserialize, Serialize};
use strata_meta::journal::{encode_json_entry, header_for, open_framed};
use strata_meta::MetaError;

use crate::files;
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

/// Journal format version of `raft.log`.
pub use strata_meta::journal_scan::RAFT_LOG_VERSION;
/// File name of the Raft log inside the metadata directory.
pub const RAFT_LOG_FILE: &str = "raft.log";
/// Rewrite the file once this many bytes before the purge point are dead.
const REWRITE_DEAD_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct VoteFile {
    vote: Vote<NodeId>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LogIdFile {
    log_id: Option<LogId>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    file: File,
    /// Length of the intact file.
    len: u64,
    /// Entries above the purge point, by index.
    entries: BTreeMap<u64, Entry>,
    /// File offset of each entry (including purged ones still in the file).
    offsets: BTreeMap<u64, u64>,
    purged: Option<LogId>,
    last: Option<LogId>,
    vote: Option<Vote<NodeId>>,
}

/// Entries framed for one append: the bytes, and each entry with the file offset it starts at.
struct Framed {
    data: Vec<u8>,
    added: Vec<(u64, Entry)>,
}

/// The Raft log store (cheap to clone; clones share one file).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(openraft::AnyError::new(&e)).into()
}

impl LogStore {
    /// Opens (or creates) the log under `dir`.
    pub fn open(dir: &Path) -> Result<LogStore, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::io(format!("create {}", dir.display()), e))?;
        let path = dir.join(RAFT_LOG_FILE);
        let (file, scanned) = open_framed::<Entry>(&path, RAFT_LOG_VERSION)?;
        let vote = files::read::<VoteFile>(&dir.join("raft-vote.json"))
            .map_err(|e| MetaError::io("read the raft vote", e))?
            .map(|v| v.vote);
        let purged = files::read::<LogIdFile>(&dir.join("raft-purged.json"))
            .map_err(|e| MetaError::io("read the raft purge point", e))?
            .and_then(|p| p.log_id);
        let mut entries = BTreeMap::new();
        let mut offsets = BTreeMap::new();
        let mut last = purged;
        for (entry, offset) in scanned.records.into_iter().zip(scanned.offsets) {
            let id = *entry.get_log_id();
            offsets.insert(id.index, offset as u64);
            last = Some(id);
            if purged.is_none_or(|p| id.index > p.index) {
                entries.insert(id.index, entry);
            }
        }
        if purged.is_some_and(|p| last.is_some_and(|l| l.index < p.index)) {
            last = purged;
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file,
                len: scanned.intact_len as u64,
                entries,
                offsets,
                purged,
                last,
                vote,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Index of the last entry (0 when empty).
    pub fn last_index(&self) -> u64 {
        self.lock().last.map(|l| l.index).unwrap_or(0)
    }

    /// Appends `entries` durably, exactly as [`RaftLogStorage::append`] does (one write, then
    /// `fdatasync`), for callers that have no openraft flush callback: the golden-file
    /// generator and tests (`crates/quorum/tests/golden_v2.rs`). Not for use beside a running
    /// Raft node.
    #[doc(hidden)]
    pub fn append_durably(
        &self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<(), MetaError> {
        let mut inner = self.lock();
        let framed = inner.encode(entries)?;
        let path = inner.dir.join(RAFT_LOG_FILE);
        inner
            .write_durably(framed)
            .map_err(|e| MetaError::io(format!("append to {}", path.display()), e))
    }
}

impl Inner {
    /// Frames `entries` for appending after the current end.
    fn encode(&self, entries: impl IntoIterator<Item = Entry>) -> Result<Framed, MetaError> {
        let mut framed = Framed {
            data: Vec::new(),
            added: Vec::new(),
        };
        for entry in entries {
            let offset = self.len + framed.data.len() as u64;
            framed.data.extend_from_slice(&encode_json_entry(&entry)?);
            framed.added.push((offset, entry));
        }
        Ok(framed)
    }

    /// Writes what [`Inner::encode`] framed in one `write_all`, `fdatasync`s, then records
    /// the entries. A failed write is cut back off.
    fn write_durably(&mut self, framed: Framed) -> std::io::Result<()> {
        let written = self
            .file
            .write_all(&framed.data)
            .and_then(|_| self.file.sync_data());
        if let Err(e) = written {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += framed.data.len() as u64;
        for (offset, entry) in framed.added {
            let id = *entry.get_log_id();
            self.offsets.insert(id.index, offset);
            self.entries.insert(id.index, entry);
            self.last = Some(id);
        }
        Ok(())
    }

    fn rewrite_without_purged(&mut self) -> std::io::Result<()> {
        let path = self.dir.join(RAFT_LOG_FILE);
        let tmp = self.dir.join("raft.log.rewrite");
        let mut data = header_for(RAFT_LOG_VERSION);
        let mut offsets = BTreeMap::new();
        for (index, entry) in &self.entries {
            offsets.insert(*index, data.len() as u64);
            let bytes = encode_json_entry(entry).map_err(std::io::Error::other)?;
            data.extend_from_slice(&bytes);
        }
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        files::sync_dir(&path)?;
        self.file = OpenOptions::new().read(true).append(true).open(&path)?;
        self.len = data.len() as u64;
        self.offsets = offsets;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.lock();
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: inner.last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let mut inner = self.lock();
        files::write_atomic(&inner.dir.join("raft-vote.json"), &VoteFile { vote: *vote }).map_err(
            |e| StorageError::from(StorageIOError::write_vote(openraft::AnyError::new(&e))),
        )?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // A hint only: written without fsync, and a missing or torn file reads as none.
        let dir = self.lock().dir.clone();
        let bytes = serde_json::to_vec(&LogIdFile { log_id: committed }).map_err(io_err)?;
        let tmp = dir.join("raft-committed.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, dir.join("raft-committed.json")))
            .map_err(io_err)?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let dir = self.lock().dir.clone();
        let hint = std::fs::read(dir.join("raft-committed.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<LogIdFile>(&b).ok())
            .and_then(|f| f.log_id);
        Ok(hint)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let framed = inner.encode(entries).map_err(io_err)?;
        if let Err(e) = inner.write_durably(framed) {
            callback.log_io_completed(Err(std::io::Error::new(e.kind(), e.to_string())));
            return Err(io_err(e));
        }
        drop(inner);
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.lock();
        let Some(&cut) = inner.offsets.get(&log_id.index) else {
            return Ok(());
        };
        inner
            .file
            .set_len(cut)
            .and_then(|_| inner.file.sync_all())
            .map_err(io_err)?;
        inner.len = cut;
        inner.entries.split_off(&log_id.index);
        inner.offsets.split_off(&log_id.index);
        inner.last = inner
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(inner.purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.lock();
        files::write_atomic(
            &inner.dir.join("raft-purged.json"),
            &LogIdFile {
                log_id: Some(log_id),
            },
        )
        .map_err(io_err)?;
        inner.purged = Some(log_id);
        let keep = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = keep;
        if inner.last.is_none_or(|l| l.index < log_id.index) {
            inner.last = Some(log_id);
        }
        let dead = inner
            .offsets
            .range(log_id.index + 1..)
            .next()
            .map(|(_, &o)| o)
            .unwrap_or(inner.len);
        if dead >= REWRITE_DEAD_BYTES {
            inner.rewrite_without_purged().map_err(io_err)?;
        }
        Ok(())
    }
}
