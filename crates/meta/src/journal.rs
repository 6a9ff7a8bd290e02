//! The metadata journal: an append-only file of framed [`MetadataRecord`]s.
//!
//! Format (version 1, see `migrations/FORMATS.md`):
//! - header: the 8 bytes `STRATAMJ`, then the format version as a big-endian u16;
//! - entries: `u32 length`, `u32 crc32c(payload)`, `payload` (one JSON record), big-endian.
//!
//! Crash order: an entry is written with one `write_all` and then fsynced; the caller applies it
//! only after [`Journal::append`] returns.
//!
//! Invariants:
//! - only a torn *tail* is cut on open (an incomplete or corrupt last entry: its append never
//!   returned, so it was never acknowledged); a bad entry followed by an intact one is damage,
//!   and open refuses with an error naming the file, the byte offset and the way out
//!   (`strata meta check`, `strata meta repair --truncate-at N`); see [`crate::journal_scan`];
//! - an entry larger than [`MAX_ENTRY_LEN`] is refused when it is written (the change fails and
//!   nothing is appended), so replay never meets one that this build wrote;
//! - a failed append is cut back off, so a later append never lands behind torn bytes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{MetaError, MetaErrorKind};
use crate::journal_scan::{scan, scan_as, Scan, ScanEnd};
use crate::record::MetadataRecord;

/// File magic.
pub const MAGIC: &[u8; 8] = b"STRATAMJ";
/// Current journal format version.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the file header (magic and version).
pub const HEADER_LEN: usize = 10;
/// Largest entry payload a change may write; a larger change is refused.
pub const MAX_ENTRY_LEN: usize = 1024 * 1024;

/// An open journal positioned for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Length of the intact prefix (header plus whole entries).
    len: u64,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and returns it with every intact record.
    /// Cuts a torn tail; refuses (and changes nothing) when the file is damaged.
    pub fn open(path: &Path) -> Result<(Journal, Vec<MetadataRecord>), MetaError> {
        let (file, scanned) = open_framed::<MetadataRecord>(path, FORMAT_VERSION)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                len: scanned.intact_len as u64,
            },
            scanned.records,
        ))
    }

    /// Appends one record durably. A record whose entry would exceed [`MAX_ENTRY_LEN`] is
    /// refused without writing anything. A failed write is cut back off.
    pub fn append(&mut self, record: &MetadataRecord) -> Result<(), MetaError> {
        let entry = encode_entry(record)?;
        let written = self
            .file
            .write_all(&entry)
            .and_then(|_| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += entry.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .file
                    .set_len(self.len)
                    .and_then(|_| self.file.sync_data());
                Err(MetaError::io(
                    format!("append to {}", self.path.display()),
                    e,
                ))
            }
        }
    }
}

/// Opens (or creates) a journal of format `version` whose entries are `T`s, for appending:
/// writes the header of a new (or torn-header) file, cuts a torn tail, and refuses (changing
/// nothing) a damaged file or one of another version. Returns the file and what it holds.
/// The one place where every journal version (the v1 metadata journal, the v2 Raft log) opens.
pub fn open_framed<T: serde::de::DeserializeOwned>(
    path: &Path,
    version: u16,
) -> Result<(File, Scan<T>), MetaError> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| MetaError::io(ctx("open"), e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| MetaError::io(ctx("read"), e))?;
    let header = header_for(version);
    if data.len() < HEADER_LEN && header.starts_with(&data) {
        // Empty, or a header torn by a crash during the very first start: nothing was ever
        // acknowledged, so start afresh.
        file.set_len(0)
            .map_err(|e| MetaError::io(ctx("reset"), e))?;
        file.write_all(&header)
            .and_then(|_| file.sync_all())
            .map_err(|e| MetaError::io(ctx("write header of"), e))?;
        sync_parent(path)?;
        data = header;
    }
    let scanned = scan_as::<T>(&data, version)
        .map_err(|m| MetaError::new(MetaErrorKind::Damaged, format!("{}: {m}", path.display())))?;
    match &scanned.end {
        ScanEnd::Clean => {}
        ScanEnd::TornTail { at, why } => {
            tracing::warn!(
                path = %path.display(),
                at,
                dropped = data.len() - at,
                why = %why,
                "journal has a torn tail (an append that never completed); cutting it"
            );
            file.set_len(*at as u64)
                .and_then(|_| file.sync_all())
                .map_err(|e| MetaError::io(ctx("truncate"), e))?;
        }
        ScanEnd::Damaged {
            at,
            why,
            next_intact,
        } => {
            return Err(MetaError::new(
                MetaErrorKind::Damaged,
                damage_message(path, *at, why, *next_intact),
            ));
        }
    }
    Ok((file, scanned))
}

/// The error text for a damaged journal: the file, the offset, and the way out.
pub fn damage_message(path: &Path, at: usize, why: &str, next_intact: usize) -> String {
    let data_dir = path
        .parent()
        .and_then(Path::parent)
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| ".".into());
    format!(
        "metadata journal {} is damaged at byte {at} ({why}), and an intact entry follows at byte \
         {next_intact}: this is not a torn tail, so refusing to start rather than cut \
         acknowledged metadata. Inspect with `strata meta check --data-dir {data_dir}`; to \
         accept losing every entry from byte {at} on, run `strata meta repair --data-dir \
         {data_dir} --truncate-at {at}` (it keeps a copy of the original file)",
        path.display()
    )
}

/// Encodes one entry (length, CRC, JSON payload); refuses payloads over [`MAX_ENTRY_LEN`].
pub fn encode_entry(record: &MetadataRecord) -> Result<Vec<u8>, MetaError> {
    encode_json_entry(record)
}

/// The file header of a journal of format `version` (magic and version).
pub fn header_for(version: u16) -> Vec<u8> {
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&version.to_be_bytes());
    header
}

/// Encodes any JSON value as one journal entry (the framing every journal version shares).
pub fn encode_json_entry<T: serde::Serialize>(record: &T) -> Result<Vec<u8>, MetaError> {
    let payload = serde_json::to_vec(record).map_err(|e| {
        MetaError::new(
            MetaErrorKind::InvalidRequest,
            format!("metadata record does not serialize: {e}"),
        )
    })?;
    if payload.len() > MAX_ENTRY_LEN {
        return Err(MetaError::new(
            MetaErrorKind::InvalidRequest,
            format!(
                "the change is too large to store: its metadata record is {} bytes, the limit is \
                 {MAX_ENTRY_LEN}",
                payload.len()
            ),
        ));
    }
    let mut entry = Vec::with_capacity(payload.len() + 8);
    entry.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    entry.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    entry.extend_from_slice(&payload);
    Ok(entry)
}

/// Decodes a whole journal image: the intact records and the length of the intact prefix
/// (for golden-file tests and tools; the broker uses [`Journal::open`]).
pub fn decode(data: &[u8]) -> Result<(Vec<MetadataRecord>, usize), String> {
    scan(data).map(|s| (s.records, s.intact_len))
}

fn sync_parent(path: &Path) -> Result<(), MetaError> {
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| MetaError::io(format!("fsync dir {}", parent.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: i64) -> MetadataRecord {
        MetadataRecord::ProducerIdsAllocated { next: n }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        {
            let (mut j, recs) = Journal::open(&path).unwrap();
            assert!(recs.is_empty());
            for n in 1..=3 {
                j.append(&rec(n)).unwrap();
            }
        }
        let full = std::fs::read(&path).unwrap();
        // Cut the last entry in half: replay keeps two records and truncates.
        let cut = full.len() - 5;
        std::fs::write(&path, &full[..cut]).unwrap();
        let (mut j, recs) = Journal::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1), rec(2)]);
        let len_after = std::fs::metadata(&path).unwrap().len() as usize;
        assert_eq!(len_after, full.len() - encode_entry(&rec(3)).unwrap().len());
        j.append(&rec(9)).unwrap();
        drop(j);
        let (_, recs) = Journal::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1), rec(2), rec(9)]);
    }

    #[test]
    fn bit_flip_stops_replay_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        {
            let (mut j, _) = Journal::open(&path).unwrap();
            j.append(&rec(1)).unwrap();
            j.append(&rec(2)).unwrap();
        }
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 2;
        data[last] ^= 0x40;
        std::fs::write(&path, &data).unwrap();
        let (_, recs) = Journal::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1)]);
    }

    #[test]
    fn damage_before_intact_entries_refuses_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        {
            let (mut j, _) = Journal::open(&path).unwrap();
            for n in 1..=3 {
                j.append(&rec(n)).unwrap();
            }
        }
        let mut data = std::fs::read(&path).unwrap();
        let second = HEADER_LEN + encode_entry(&rec(1)).unwrap().len();
        data[second + 12] ^= 0x08;
        std::fs::write(&path, &data).unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert_eq!(err.kind, MetaErrorKind::Damaged);
        assert!(
            err.message.contains(&format!("damaged at byte {second}")),
            "{err}"
        );
        assert!(err.message.contains(&path.display().to_string()), "{err}");
        assert!(
            err.message.contains(&format!(
                "strata meta repair --data-dir {} --truncate-at {second}",
                dir.path().parent().unwrap().display()
            )),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), data, "nothing truncated");
    }

    #[test]
    fn oversized_records_are_refused_at_write_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let (mut j, _) = Journal::open(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let huge = MetadataRecord::ClusterInitialized {
            cluster_id: "x".repeat(MAX_ENTRY_LEN),
            node_id: 1,
        };
        let err = j.append(&huge).unwrap_err();
        assert_eq!(err.kafka_error_code(), 42);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        j.append(&rec(5)).unwrap();
        drop(j);
        assert_eq!(Journal::open(&path).unwrap().1, vec![rec(5)]);
    }

    #[test]
    fn refuses_intact_but_unknown_records_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        drop(Journal::open(&path).unwrap());
        let payload = br#"{"type":"FromTheFuture","x":1}"#;
        let mut data = std::fs::read(&path).unwrap();
        data.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        data.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
        data.extend_from_slice(payload);
        std::fs::write(&path, &data).unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(err.message.contains("newer Strata"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), data, "nothing truncated");
    }

    #[test]
    fn torn_header_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        std::fs::write(&path, &MAGIC[..5]).unwrap();
        let (mut j, recs) = Journal::open(&path).unwrap();
        assert!(recs.is_empty());
        j.append(&rec(4)).unwrap();
        drop(j);
        assert_eq!(Journal::open(&path).unwrap().1, vec![rec(4)]);
    }

    #[test]
    fn refuses_unknown_version() {
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&2u16.to_be_bytes());
        assert!(decode(&data).unwrap_err().contains("version 2"));
    }
}
