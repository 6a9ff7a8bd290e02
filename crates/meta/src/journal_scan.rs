//! Reading a metadata journal image and telling a torn tail from damage.
//!
//! A journal is written by appending one entry at a time with a single `write_all` followed by
//! an fsync (see [`crate::journal`]). A crash can therefore leave at most one incomplete entry,
//! and only at the end of the file: a *torn tail*. Anything else wrong with the file is *damage*
//! (a flipped bit, a zeroed block, a bad sector), and the entries after it were acknowledged.
//!
//! Invariants:
//! - [`scan`] never reports a torn tail when an intact entry follows the first bad entry: that
//!   is [`ScanEnd::Damaged`], and the caller must refuse to cut it;
//! - an entry is intact when its length is in `1..=MAX_REPLAY_ENTRY_LEN`, it fits in the file,
//!   and its CRC-32C matches; an intact entry whose JSON this build cannot read is an error (it
//!   was written by a newer build), never a reason to truncate;
//! - scanning is linear in the file size (the search for a later intact entry only computes a
//!   CRC where a payload starts with `{`, as every JSON record does).

use crate::journal::{FORMAT_VERSION, HEADER_LEN, MAGIC};
use crate::record::MetadataRecord;

/// Largest entry accepted on replay (a corrupt length must not allocate without bound). Larger
/// than the write-side bound, so that an entry written by an older build still replays.
pub const MAX_REPLAY_ENTRY_LEN: usize = 16 * 1024 * 1024;

/// How a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belongs to an intact entry.
    Clean,
    /// The file ends in an incomplete or corrupt entry starting at `at` with nothing intact
    /// after it: an append that never returned. Safe to cut.
    TornTail {
        /// Byte offset of the torn entry.
        at: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The entry at `at` is bad but an intact entry starts at `next_intact`: damage, not a
    /// crash. Cutting at `at` would lose acknowledged metadata.
    Damaged {
        /// Byte offset of the first bad entry.
        at: usize,
        /// What is wrong with it.
        why: String,
        /// Byte offset of the first intact entry after it.
        next_intact: usize,
    },
}

/// The result of scanning a journal image.
#[derive(Debug, Clone)]
pub struct Scan<T = MetadataRecord> {
    /// The intact records before the first bad entry, in order.
    pub records: Vec<T>,
    /// Byte offset at which each record's entry starts (same length as `records`).
    pub offsets: Vec<usize>,
    /// Length of the intact prefix (header plus whole intact entries).
    pub intact_len: usize,
    /// How the scan ended.
    pub end: ScanEnd,
}

/// Scans a whole journal image. Errors (as text) for a wrong magic, an unsupported format
/// version, or an intact entry this build cannot decode.
pub fn scan(data: &[u8]) -> Result<Scan, String> {
    scan_as(data, FORMAT_VERSION)
}

/// [`scan`] for a journal of format `expected_version` whose entries are `T`s (the Raft log of
/// the metadata quorum is a journal of format version 2, entries being Raft log entries).
pub fn scan_as<T: serde::de::DeserializeOwned>(
    data: &[u8],
    expected_version: u16,
) -> Result<Scan<T>, String> {
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err("not a Strata metadata journal (bad magic)".into());
    }
    let version = u16::from_be_bytes([data[8], data[9]]);
    if version != expected_version {
        return Err(format!(
            "metadata journal format version {version} is not supported here (this reader expects {expected_version})"
        ));
    }
    let mut pos = HEADER_LEN;
    let mut records = Vec::new();
    let mut offsets = Vec::new();
    loop {
        if pos == data.len() {
            return Ok(Scan {
                records,
                offsets,
                intact_len: pos,
                end: ScanEnd::Clean,
            });
        }
        match entry_at(data, pos) {
            Ok(payload) => {
                let record = serde_json::from_slice(payload).map_err(|e| {
                    format!(
                        "entry at byte {pos} is intact but not a record this build understands \
                         ({e}); was the journal written by a newer Strata?"
                    )
                })?;
                records.push(record);
                offsets.push(pos);
                pos += 8 + payload.len();
            }
            Err(why) => {
                let end = match next_intact_entry(data, pos + 1) {
                    Some(next_intact) => ScanEnd::Damaged {
                        at: pos,
                        why,
                        next_intact,
                    },
                    None => ScanEnd::TornTail { at: pos, why },
                };
                return Ok(Scan {
                    records,
                    offsets,
                    intact_len: pos,
                    end,
                });
            }
        }
    }
}

/// The payload of the intact entry at `pos`, or why it is not intact.
/// Journal format version of the quorum's Raft log (`raft.log`), whose entries are Raft log
/// entries carrying batches of records.
pub const RAFT_LOG_VERSION: u16 = 2;

#[derive(serde::Deserialize)]
struct RaftEntryView {
    payload: serde_json::Value,
}

/// Scans a journal of either version and returns, per entry, the records it carries (one for a
/// version-1 entry; a Raft entry's batch, possibly empty, for version 2). For the offline tools.
pub fn scan_any(data: &[u8]) -> Result<Scan<Vec<MetadataRecord>>, String> {
    let version = data
        .get(8..10)
        .map(|v| u16::from_be_bytes([v[0], v[1]]))
        .unwrap_or(FORMAT_VERSION);
    if version == RAFT_LOG_VERSION && data.len() >= HEADER_LEN && &data[..8] == MAGIC {
        let s = scan_as::<RaftEntryView>(data, RAFT_LOG_VERSION)?;
        let mut records = Vec::with_capacity(s.records.len());
        for (entry, at) in s.records.into_iter().zip(&s.offsets) {
            let batch = match entry.payload.get("Normal").and_then(|n| n.get("records")) {
                Some(r) => serde_json::from_value(r.clone()).map_err(|e| {
                    format!("raft entry at byte {at} carries records this build cannot read ({e})")
                })?,
                None => Vec::new(),
            };
            records.push(batch);
        }
        return Ok(Scan {
            records,
            offsets: s.offsets,
            intact_len: s.intact_len,
            end: s.end,
        });
    }
    let s = scan(data)?;
    Ok(Scan {
        records: s.records.into_iter().map(|r| vec![r]).collect(),
        offsets: s.offsets,
        intact_len: s.intact_len,
        end: s.end,
    })
}

pub(crate) fn entry_at(data: &[u8], pos: usize) -> Result<&[u8], String> {
    let rest = &data[pos..];
    if rest.len() < 8 {
        return Err(format!(
            "{} bytes left, shorter than an entry header",
            rest.len()
        ));
    }
    let len = u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len == 0 {
        return Err("entry length 0".into());
    }
    if len > MAX_REPLAY_ENTRY_LEN {
        return Err(format!(
            "entry length {len} exceeds the limit {MAX_REPLAY_ENTRY_LEN}"
        ));
    }
    if rest.len() - 8 < len {
        return Err(format!(
            "entry length {len} runs past the end of the file ({} bytes left)",
            rest.len() - 8
        ));
    }
    let payload = &rest[8..8 + len];
    if crc32c::crc32c(payload) != crc {
        return Err("entry checksum mismatch".into());
    }
    Ok(payload)
}

/// The first offset at or after `from` where an intact entry starts, if any.
pub(crate) fn next_intact_entry(data: &[u8], from: usize) -> Option<usize> {
    // Every record is a JSON object, so its payload starts with `{` at `start + 8`.
    let mut q = from;
    while q + 9 <= data.len() {
        let brace = data[q + 8..].iter().position(|&b| b == b'{')?;
        let start = q + brace;
        if entry_at(data, start).is_ok() {
            return Some(start);
        }
        q = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::encode_entry;

    fn image(records: &[MetadataRecord]) -> (Vec<u8>, Vec<usize>) {
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        let mut offsets = Vec::new();
        for r in records {
            offsets.push(data.len());
            data.extend_from_slice(&encode_entry(r).expect("small record"));
        }
        (data, offsets)
    }

    fn rec(n: i64) -> MetadataRecord {
        MetadataRecord::ProducerIdsAllocated { next: n }
    }

    #[test]
    fn clean_image() {
        let (data, offsets) = image(&[rec(1), rec(2)]);
        let s = scan(&data).unwrap();
        assert_eq!(s.records, vec![rec(1), rec(2)]);
        assert_eq!(s.offsets, offsets);
        assert_eq!(s.intact_len, data.len());
        assert_eq!(s.end, ScanEnd::Clean);
    }

    #[test]
    fn torn_last_entry_is_a_tail() {
        let (data, offsets) = image(&[rec(1), rec(2), rec(3)]);
        for cut in offsets[2] + 1..data.len() {
            let s = scan(&data[..cut]).unwrap();
            assert_eq!(s.records, vec![rec(1), rec(2)], "cut at {cut}");
            assert!(matches!(s.end, ScanEnd::TornTail { at, .. } if at == offsets[2]));
        }
    }

    #[test]
    fn zero_filled_tail_is_a_tail() {
        let (mut data, _) = image(&[rec(1)]);
        let good = data.len();
        data.extend_from_slice(&[0u8; 4096]);
        let s = scan(&data).unwrap();
        assert_eq!(s.records, vec![rec(1)]);
        assert_eq!(
            s.end,
            ScanEnd::TornTail {
                at: good,
                why: "entry length 0".into()
            }
        );
    }

    #[test]
    fn bad_entry_followed_by_intact_ones_is_damage() {
        let (mut data, offsets) = image(&[rec(1), rec(2), rec(3)]);
        data[offsets[1] + 10] ^= 0x01; // inside entry 2's payload
        let s = scan(&data).unwrap();
        assert_eq!(s.records, vec![rec(1)]);
        assert_eq!(s.intact_len, offsets[1]);
        match s.end {
            ScanEnd::Damaged {
                at, next_intact, ..
            } => {
                assert_eq!(at, offsets[1]);
                assert_eq!(next_intact, offsets[2]);
            }
            other => panic!("expected damage, got {other:?}"),
        }
    }

    #[test]
    fn damaged_length_field_is_damage_when_entries_follow() {
        let (mut data, offsets) = image(&[rec(1), rec(2), rec(3)]);
        data[offsets[1]] = 0xff; // a length far past the end
        let s = scan(&data).unwrap();
        assert!(matches!(s.end, ScanEnd::Damaged { at, next_intact, .. }
            if at == offsets[1] && next_intact == offsets[2]));
    }

    #[test]
    fn flipped_bit_in_last_entry_is_a_tail() {
        let (mut data, offsets) = image(&[rec(1), rec(2)]);
        let last = data.len() - 2;
        data[last] ^= 0x40;
        let s = scan(&data).unwrap();
        assert_eq!(s.records, vec![rec(1)]);
        assert!(matches!(s.end, ScanEnd::TornTail { at, .. } if at == offsets[1]));
    }
}
