//! Sparse time index (`.timeindex`): 12-byte big-endian entries `(i64 timestamp, u32 relative
//! offset)`.
//!
//! Invariants: timestamps are strictly increasing (an entry is only added when the segment's
//! max timestamp grew) and offsets non-decreasing. An entry `(t, o)` means every record at an
//! offset `<= o` has a timestamp `<= t`, and `o` is the last offset of the batch holding the
//! maximum timestamp so far. When a segment is sealed or closed, a final entry for its max
//! timestamp is added, so the last entry of a sealed segment is its largest timestamp.

use std::path::Path;

use crate::index_file::IndexFile;
use crate::LogError;

const WIDTH: usize = 12;

/// The time index of one segment.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    base_offset: i64,
    entries: Vec<(i64, u32)>,
    file: IndexFile,
}

impl TimeIndex {
    /// Creates the file from `entries` (empty for a new segment, or a rebuild).
    pub(crate) fn create(
        path: &Path,
        base_offset: i64,
        entries: Vec<(i64, u32)>,
    ) -> Result<TimeIndex, LogError> {
        let mut bytes = Vec::with_capacity(entries.len() * WIDTH);
        for (ts, rel) in &entries {
            bytes.extend_from_slice(&ts.to_be_bytes());
            bytes.extend_from_slice(&rel.to_be_bytes());
        }
        let file = IndexFile::create(path, &bytes)?;
        Ok(TimeIndex {
            base_offset,
            entries,
            file,
        })
    }

    /// Loads the index; `Ok(None)` if missing or inconsistent (offsets must be below
    /// `base_offset + max_relative` when known).
    pub(crate) fn load(
        path: &Path,
        base_offset: i64,
        max_relative: Option<u64>,
    ) -> Result<Option<TimeIndex>, LogError> {
        let Some(bytes) = IndexFile::read(path, WIDTH)? else {
            return Ok(None);
        };
        let entries: Vec<(i64, u32)> = bytes
            .chunks_exact(WIDTH)
            .map(|c| {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&c[..8]);
                (
                    i64::from_be_bytes(ts),
                    u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                )
            })
            .collect();
        let ordered = entries
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        let in_bounds = entries
            .last()
            .is_none_or(|&(_, rel)| max_relative.is_none_or(|max| u64::from(rel) < max));
        if !ordered || !in_bounds {
            return Ok(None);
        }
        let file = IndexFile::existing(path, bytes.len() as u64);
        Ok(Some(TimeIndex {
            base_offset,
            entries,
            file,
        }))
    }

    /// Appends `(timestamp, offset)` if `timestamp` exceeds the last entry's.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<(), LogError> {
        if self.entries.last().is_some_and(|&(t, _)| t >= timestamp) {
            return Ok(());
        }
        let rel = (offset - self.base_offset) as u32;
        let mut entry = [0u8; WIDTH];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&rel.to_be_bytes());
        self.file.append(&entry)?;
        self.entries.push((timestamp, rel));
        Ok(())
    }

    /// Offset from which to scan for the first record with timestamp `>= target`: the offset of
    /// the last entry whose timestamp is strictly below `target`, or the segment base.
    pub(crate) fn lookup(&self, target: i64) -> i64 {
        let idx = self.entries.partition_point(|&(t, _)| t < target);
        if idx == 0 {
            self.base_offset
        } else {
            self.base_offset
                .saturating_add(i64::from(self.entries[idx - 1].1))
        }
    }

    /// The last entry as `(timestamp, absolute offset)`.
    pub(crate) fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|&(t, rel)| (t, self.base_offset.saturating_add(i64::from(rel))))
    }

    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        self.file.flush()
    }

    pub(crate) fn close(&mut self) -> Result<(), LogError> {
        self.file.close()
    }

    pub(crate) fn close_deferred(
        &mut self,
    ) -> Result<Option<(std::fs::File, std::path::PathBuf)>, LogError> {
        self.file.close_deferred()
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_near_the_top_saturates_instead_of_wrapping() {
        let dir = tempfile::tempdir().unwrap();
        let base = i64::MAX - 3;
        let idx =
            TimeIndex::create(&dir.path().join("t.timeindex"), base, vec![(10, u32::MAX)]).unwrap();
        assert_eq!(idx.lookup(11), i64::MAX, "fuzz reproducer");
        assert_eq!(idx.last_entry(), Some((10, i64::MAX)));
        assert_eq!(idx.lookup(5), base);
    }
}
