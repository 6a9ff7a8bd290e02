//! The metadata journal: an append-only file of framed [`MetadataRecord`]s.
//!
//! Format (version 1, see `migrations/FORMATS.md`):
//! - header: the 8 bytes `STRATAMJ`, then the format version as a big-endian u16;
//! - entries: `u32 length`, `u32 crc32c(payload)`, `payload` (one JSON record), big-endian.
//!
//! Crash order: an entry is written with one `write_all` and then fsynced; the caller applies it
//! only after [`Journal::append`] returns. Replay stops at the first short or corrupt entry and
//! truncates the file there: such an entry was never acknowledged, because its fsync never
//! returned.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{MetaError, MetaErrorKind};
use crate::record::MetadataRecord;

/// File magic.
pub const MAGIC: &[u8; 8] = b"STRATAMJ";
/// Current journal format version.
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 10;
/// Largest entry accepted on replay (a corrupt length must not allocate without bound).
const MAX_ENTRY_LEN: usize = 16 * 1024 * 1024;

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
    pub fn open(path: &Path) -> Result<(Journal, Vec<MetadataRecord>), MetaError> {
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
        let mut header_bytes = MAGIC.to_vec();
        header_bytes.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        if data.len() < HEADER_LEN && header_bytes.starts_with(&data) {
            // Empty, or a header torn by a crash during the very first start: nothing was ever
            // acknowledged, so start afresh.
            file.set_len(0)
                .map_err(|e| MetaError::io(ctx("reset"), e))?;
            let mut header = MAGIC.to_vec();
            header.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
            file.write_all(&header)
                .and_then(|_| file.sync_all())
                .map_err(|e| MetaError::io(ctx("write header of"), e))?;
            sync_parent(path)?;
            return Ok((
                Journal {
                    path: path.to_path_buf(),
                    file,
                    len: HEADER_LEN as u64,
                },
                Vec::new(),
            ));
        }
        let (records, good_len) = decode(&data).map_err(|m| {
            MetaError::new(MetaErrorKind::Storage, format!("{}: {m}", path.display()))
        })?;
        if good_len < data.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good_len,
                dropped = data.len() - good_len,
                "metadata journal has a torn tail; truncating"
            );
            file.set_len(good_len as u64)
                .and_then(|_| file.sync_all())
                .map_err(|e| MetaError::io(ctx("truncate"), e))?;
        }
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                len: good_len as u64,
            },
            records,
        ))
    }

    /// Appends one record durably.
    /// A failed write is cut back off, so a later successful append never lands behind torn
    /// bytes (which replay would truncate, losing an acknowledged record).
    pub fn append(&mut self, record: &MetadataRecord) -> Result<(), MetaError> {
        let entry = encode_entry(record);
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

/// Encodes one entry (length, CRC, JSON payload).
pub fn encode_entry(record: &MetadataRecord) -> Vec<u8> {
    let payload = serde_json::to_vec(record).expect("metadata records always serialize");
    let mut entry = Vec::with_capacity(payload.len() + 8);
    entry.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    entry.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    entry.extend_from_slice(&payload);
    entry
}

/// Decodes a whole journal image: the intact records and the length of the intact prefix.
/// Errors for a wrong magic, an unknown (newer) format version, or an entry whose CRC is valid
/// but whose record this build does not understand (written by a newer build: refusing keeps
/// it, where truncating would destroy it and everything after it).
pub fn decode(data: &[u8]) -> Result<(Vec<MetadataRecord>, usize), String> {
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err("not a Strata metadata journal (bad magic)".into());
    }
    let version = u16::from_be_bytes([data[8], data[9]]);
    if version != FORMAT_VERSION {
        return Err(format!(
            "metadata journal format version {version} is not supported (this build reads {FORMAT_VERSION})"
        ));
    }
    let mut pos = HEADER_LEN;
    let mut records = Vec::new();
    while data.len() - pos >= 8 {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_be_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        if len > MAX_ENTRY_LEN || data.len() - pos - 8 < len {
            break;
        }
        let payload = &data[pos + 8..pos + 8 + len];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        match serde_json::from_slice(payload) {
            Ok(r) => records.push(r),
            Err(e) => {
                return Err(format!(
                    "entry at byte {pos} is intact but not a record this build understands ({e}); \
                     was the journal written by a newer Strata?"
                ))
            }
        }
        pos += 8 + len;
    }
    Ok((records, pos))
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
        assert_eq!(len_after, full.len() - encode_entry(&rec(3)).len());
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
