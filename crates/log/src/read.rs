//! Reading: locating whole batches as a file range for zero-copy sends.
//!
//! Invariants of a returned [`ReadSlice`]: it lies within one segment; it starts at the batch
//! containing the requested offset; it holds only whole batches whose last offset is below
//! `upper_bound`; its length is at most `max_bytes` unless the first batch alone is larger, in
//! which case it is exactly that batch. The `Arc<File>` keeps the data readable even if
//! retention deletes the segment before the caller sends it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::{LogError, PartitionLog};

/// A byte range of a segment file holding whole batches.
#[derive(Debug, Clone)]
pub struct ReadSlice {
    /// The segment's log file.
    pub file: Arc<File>,
    /// Start of the first batch in the file.
    pub position: u64,
    /// Bytes in the range (0 when nothing is readable yet).
    pub len: usize,
    /// Base offset of the first batch, or the requested offset when empty.
    pub first_offset: i64,
    /// One past the last offset of the last batch, or the requested offset when empty (the
    /// upper bound of the aborted transactions a read_committed fetch reports with it).
    pub end_offset: i64,
}

impl ReadSlice {
    /// Copies the range into memory with a positional read.
    pub fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }

    /// True if the slice holds no batches.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Data damage found while reading is a storage error, not a client error.
pub(crate) fn as_storage_error(err: LogError) -> LogError {
    match err {
        LogError::Records(e) => LogError::Corrupt(format!("reading stored batches: {e}")),
        other => other,
    }
}

impl PartitionLog {
    /// Index of the segment that holds `offset` (the last with base `<= offset`).
    pub(crate) fn segment_index(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    /// Reads whole batches starting at the one containing `offset`; see the module docs.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<ReadSlice, LogError> {
        self.ensure_online()?;
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        let local_start = self.local_log_start_offset();
        if offset < local_start {
            return Err(LogError::NotLocal {
                offset,
                local_start,
            });
        }
        let segment = &self.segments[self.segment_index(offset)];
        let mut slice = ReadSlice {
            file: Arc::clone(segment.file()),
            position: segment.size,
            len: 0,
            first_offset: offset,
            end_offset: offset,
        };
        if offset >= upper_bound {
            return Ok(slice);
        }
        for item in segment.scan_from_offset(offset) {
            let (pos, header) = item.map_err(as_storage_error)?;
            if header.last_offset() < offset {
                continue;
            }
            if header.last_offset() >= upper_bound {
                break;
            }
            let len = header.total_len();
            if slice.len == 0 {
                slice.position = pos;
                slice.first_offset = header.base_offset;
            } else if slice.len + len > max_bytes {
                break;
            }
            slice.len += len;
            slice.end_offset = header.last_offset() + 1;
        }
        Ok(slice)
    }
}
