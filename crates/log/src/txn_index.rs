//! The aborted-transaction index of one segment: `<base>.txnindex` (Kafka's `TransactionIndex`).
//!
//! Format (exactly Kafka's, so the file carries its own version per entry): a sequence of
//! 34-byte big-endian entries `version i16 = 0, producer id i64, first offset i64, last offset
//! i64, last stable offset i64`, in the order the ABORT markers were appended. `last offset` is
//! the marker's offset, so an entry lives in the segment holding its marker; `last stable
//! offset` is the partition's LSO right after the abort (the first offset of the oldest other
//! open transaction, or the marker offset + 1).
//!
//! Invariants:
//! - the file is created lazily, on the first entry (most segments have none);
//! - entries are appended in marker order, so `last offset` increases along the file;
//! - the index is derived data: crash recovery rebuilds the entries of every replayed segment
//!   from its batches (`replay.rs`); a file whose length is not a multiple of 34 loses its torn
//!   tail; an entry of an unknown version makes the file unusable (`LogError::Corrupt`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::LogError;

/// Bytes of one entry.
pub const TXN_INDEX_ENTRY_LEN: usize = 34;
const ENTRY_VERSION: i16 = 0;

/// One entry of an aborted-transaction index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxnEntry {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// First offset of the transaction in this partition.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset right after the abort.
    pub last_stable_offset: i64,
}

/// An aborted transaction as Fetch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// First offset of the transaction in this partition.
    pub first_offset: i64,
}

impl AbortedTxnEntry {
    /// The 34-byte encoding.
    pub fn encode(&self) -> [u8; TXN_INDEX_ENTRY_LEN] {
        let mut out = [0u8; TXN_INDEX_ENTRY_LEN];
        out[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }
}

/// Parses a whole `.txnindex` file. A torn tail (length not a multiple of 34) is ignored; an
/// entry of another version is an error.
pub fn parse_txn_index(bytes: &[u8]) -> Result<Vec<AbortedTxnEntry>, LogError> {
    let be = |b: &[u8]| i64::from_be_bytes(b.try_into().expect("8 bytes"));
    bytes
        .chunks_exact(TXN_INDEX_ENTRY_LEN)
        .map(|e| {
            let version = i16::from_be_bytes([e[0], e[1]]);
            if version != ENTRY_VERSION {
                return Err(LogError::Corrupt(format!(
                    "transaction index entry version {version} is not supported (this build reads {ENTRY_VERSION})"
                )));
            }
            Ok(AbortedTxnEntry {
                producer_id: be(&e[2..10]),
                first_offset: be(&e[10..18]),
                last_offset: be(&e[18..26]),
                last_stable_offset: be(&e[26..34]),
            })
        })
        .collect()
}

/// Kafka's `collectAbortedTxns`: the entries overlapping `[fetch_offset, upper)` (last offset
/// at or above the fetch offset, first offset below the upper bound), in index order. Returns
/// whether the search is complete: an entry whose last stable offset reaches `upper` proves
/// that no later entry can overlap.
pub fn collect_aborted(
    entries: &[AbortedTxnEntry],
    fetch_offset: i64,
    upper: i64,
    out: &mut Vec<AbortedTxn>,
) -> bool {
    for e in entries {
        if e.last_offset >= fetch_offset && e.first_offset < upper {
            out.push(AbortedTxn {
                producer_id: e.producer_id,
                first_offset: e.first_offset,
            });
        }
        if e.last_stable_offset >= upper {
            return true;
        }
    }
    false
}

/// A segment's aborted-transaction index: its entries in memory, the file on disk.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxnEntry>,
    file: Option<File>,
    dirty: bool,
}

impl TxnIndex {
    /// An index with no entries (no file is created until the first entry).
    pub(crate) fn empty(path: PathBuf) -> TxnIndex {
        TxnIndex {
            path,
            entries: Vec::new(),
            file: None,
            dirty: false,
        }
    }

    /// Loads the file at `path` if present; a torn tail is cut off the file.
    pub(crate) fn load(path: PathBuf) -> Result<TxnIndex, LogError> {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::empty(path)),
            Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
        };
        let entries = parse_txn_index(&bytes).map_err(|e| match e {
            LogError::Corrupt(why) => LogError::Corrupt(format!("{}: {why}", path.display())),
            other => other,
        })?;
        let whole = (entries.len() * TXN_INDEX_ENTRY_LEN) as u64;
        if whole != bytes.len() as u64 {
            tracing::warn!(index = %path.display(), len = bytes.len(), "cutting torn transaction index tail");
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(whole))
                .ctx(|| format!("truncate {}", path.display()))?;
        }
        Ok(TxnIndex {
            path,
            entries,
            file: None,
            dirty: false,
        })
    }

    /// The entries, in marker order.
    pub(crate) fn entries(&self) -> &[AbortedTxnEntry] {
        &self.entries
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry (creating the file if needed); not fsynced until [`TxnIndex::flush`].
    pub(crate) fn append(&mut self, entry: AbortedTxnEntry) -> Result<(), LogError> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ctx(|| format!("open {}", self.path.display()))?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&entry.encode())
            .ctx(|| format!("append to {}", self.path.display()))?;
        self.entries.push(entry);
        self.dirty = true;
        Ok(())
    }

    /// Fsyncs appended entries.
    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        if let (true, Some(file)) = (self.dirty, &self.file) {
            file.sync_data()
                .ctx(|| format!("fsync {}", self.path.display()))?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Removes the entries whose marker is at or after `offset` (Kafka `truncateTo`), rewriting
    /// the file (removed when no entry is left).
    pub(crate) fn truncate_from(&mut self, offset: i64) -> Result<(), LogError> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.file = None;
        self.dirty = false;
        if keep == 0 {
            return self.delete_file();
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .ctx(|| format!("open {}", self.path.display()))?;
        file.set_len((keep * TXN_INDEX_ENTRY_LEN) as u64)
            .and_then(|()| file.sync_data())
            .ctx(|| format!("truncate {}", self.path.display()))
    }

    /// Removes the file (missing is fine).
    pub(crate) fn delete_file(&self) -> Result<(), LogError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(|| format!("delete {}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxnEntry {
        AbortedTxnEntry {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_round_trip_in_kafkas_layout() {
        let e = entry(1000, 5, 9, 10);
        let bytes = e.encode();
        assert_eq!(&bytes[0..2], &[0, 0]);
        assert_eq!(&bytes[2..10], &1000i64.to_be_bytes());
        assert_eq!(parse_txn_index(&bytes).unwrap(), vec![e]);
        let mut bad = bytes;
        bad[1] = 1;
        assert!(parse_txn_index(&bad).is_err());
    }

    #[test]
    fn collect_follows_kafka_overlap_and_stop_rules() {
        let entries = [entry(1, 0, 4, 5), entry(2, 3, 10, 11), entry(3, 20, 25, 26)];
        let mut out = Vec::new();
        assert!(collect_aborted(&entries, 5, 11, &mut out));
        assert_eq!(
            out,
            vec![AbortedTxn {
                producer_id: 2,
                first_offset: 3
            }]
        );
        out.clear();
        assert!(!collect_aborted(&entries, 0, 100, &mut out));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn file_appends_truncates_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::empty(path.clone());
        assert!(!path.exists());
        index.append(entry(1, 0, 4, 5)).unwrap();
        index.append(entry(2, 6, 8, 9)).unwrap();
        index.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 68);
        let mut raw = std::fs::read(&path).unwrap();
        raw.extend_from_slice(&[0, 0, 1]);
        std::fs::write(&path, &raw).unwrap();
        let mut loaded = TxnIndex::load(path.clone()).unwrap();
        assert_eq!(loaded.entries(), index.entries());
        assert_eq!(std::fs::read(&path).unwrap().len(), 68);
        loaded.truncate_from(8).unwrap();
        assert_eq!(loaded.entries(), &[entry(1, 0, 4, 5)]);
        assert_eq!(std::fs::read(&path).unwrap().len(), 34);
        loaded.truncate_from(0).unwrap();
        assert!(!path.exists());
    }
}
