//! Sparse offset index (`.index`): 8-byte big-endian entries `(u32 relative offset, u32
//! position)`, relative to the segment's base offset.
//!
//! Invariants: relative offsets and positions are strictly increasing; each entry maps the
//! LAST offset of a batch to the file position where that batch starts (as Kafka does), so a
//! lookup of `o` yields a position at or before the batch containing `o`. One entry is added
//! when more than `index_interval_bytes` of log were written since the previous entry. Entries
//! are kept in memory for binary search; the file is the durable copy.

use std::path::Path;

use crate::index_file::IndexFile;
use crate::LogError;

const WIDTH: usize = 8;

/// The offset index of one segment.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    base_offset: i64,
    entries: Vec<(u32, u32)>,
    file: IndexFile,
}

impl OffsetIndex {
    /// Creates the index file from `entries` (empty for a new segment, or a rebuild).
    pub(crate) fn create(
        path: &Path,
        base_offset: i64,
        entries: Vec<(u32, u32)>,
    ) -> Result<OffsetIndex, LogError> {
        let mut bytes = Vec::with_capacity(entries.len() * WIDTH);
        for (rel, pos) in &entries {
            bytes.extend_from_slice(&rel.to_be_bytes());
            bytes.extend_from_slice(&pos.to_be_bytes());
        }
        let file = IndexFile::create(path, &bytes)?;
        Ok(OffsetIndex {
            base_offset,
            entries,
            file,
        })
    }

    /// Loads the index; `Ok(None)` if missing or inconsistent with a log of `log_size` bytes
    /// whose offsets are below `base_offset + max_relative` (when known).
    pub(crate) fn load(
        path: &Path,
        base_offset: i64,
        log_size: u64,
        max_relative: Option<u64>,
    ) -> Result<Option<OffsetIndex>, LogError> {
        let Some(bytes) = IndexFile::read(path, WIDTH)? else {
            return Ok(None);
        };
        let entries: Vec<(u32, u32)> = bytes
            .chunks_exact(WIDTH)
            .map(|c| {
                (
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        let increasing = entries
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        let in_bounds = entries.last().is_none_or(|&(rel, pos)| {
            u64::from(pos) < log_size && max_relative.is_none_or(|max| u64::from(rel) < max)
        });
        if !increasing || !in_bounds {
            return Ok(None);
        }
        let file = IndexFile::existing(path, bytes.len() as u64);
        Ok(Some(OffsetIndex {
            base_offset,
            entries,
            file,
        }))
    }

    /// Appends `(last_offset, position)`; ignored if not beyond the last entry.
    pub(crate) fn append(&mut self, last_offset: i64, position: u32) -> Result<(), LogError> {
        let rel = (last_offset - self.base_offset) as u32;
        if self
            .entries
            .last()
            .is_some_and(|&(r, p)| r >= rel || p >= position)
        {
            return Ok(());
        }
        let mut entry = [0u8; WIDTH];
        entry[..4].copy_from_slice(&rel.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.append(&entry)?;
        self.entries.push((rel, position));
        Ok(())
    }

    /// Position to start scanning for `offset`: the largest entry whose offset is `<= offset`,
    /// or the start of the segment.
    pub(crate) fn lookup(&self, offset: i64) -> u64 {
        // Saturating: an offset far below the base (or a base near i64::MAX) must not wrap.
        let rel = offset.saturating_sub(self.base_offset);
        if rel < 0 {
            return 0;
        }
        let idx = self.entries.partition_point(|&(r, _)| i64::from(r) <= rel);
        if idx == 0 {
            0
        } else {
            u64::from(self.entries[idx - 1].1)
        }
    }

    /// Position of the last entry (0 if none).
    pub(crate) fn last_position(&self) -> u64 {
        self.entries.last().map_or(0, |&(_, p)| u64::from(p))
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
    fn lookups_at_the_extremes_do_not_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let idx =
            OffsetIndex::create(&dir.path().join("i.index"), 100, vec![(5, 40), (9, 80)]).unwrap();
        assert_eq!(
            idx.lookup(i64::MIN),
            0,
            "far below the base (fuzz reproducer)"
        );
        assert_eq!(idx.lookup(104), 0);
        assert_eq!(idx.lookup(105), 40);
        assert_eq!(idx.lookup(i64::MAX), 80);
    }
}
