//! Rebuilding a segment's in-memory state and index entries from its batches.
//!
//! The scan replays exactly the indexing rule used on append (see `segment.rs`), so a rebuilt
//! index is identical to the one written live with the same `index_interval_bytes`. It stops at
//! the first batch that is truncated, malformed, out of offset order (offsets may have gaps: the cleaner removes batches) or (when verifying) has a
//! bad CRC; everything before that point is the segment's valid prefix.

use std::fs::File;

use crate::scan::{verify_batch, HeaderScanner};
use crate::LogError;

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub(crate) struct SegmentScan {
    /// Bytes of whole, valid batches from the start of the file.
    pub(crate) valid_size: u64,
    /// Offset after the last valid batch (the base offset if none).
    pub(crate) next_offset: i64,
    pub(crate) offset_entries: Vec<(u32, u32)>,
    pub(crate) time_entries: Vec<(i64, u32)>,
    pub(crate) max_timestamp: i64,
    pub(crate) offset_of_max_timestamp: i64,
    pub(crate) bytes_since_index: u64,
    pub(crate) first_batch_max_timestamp: Option<i64>,
    pub(crate) batches: usize,
    /// The data error that ended the scan early, if any.
    pub(crate) stopped_by: Option<LogError>,
}

/// Scans `file[0..size)` of the segment based at `base_offset`.
pub(crate) fn scan_segment(
    file: &File,
    base_offset: i64,
    size: u64,
    verify_crc: bool,
    index_interval: u64,
) -> Result<SegmentScan, LogError> {
    let mut scan = SegmentScan {
        next_offset: base_offset,
        max_timestamp: -1,
        offset_of_max_timestamp: base_offset,
        ..SegmentScan::default()
    };
    for item in HeaderScanner::new(file, 0, size) {
        let checked = item.and_then(|(pos, header)| {
            if header.base_offset < scan.next_offset || header.last_offset_delta < 0 {
                return Err(LogError::Corrupt(format!(
                    "batch at position {pos} has base offset {} but at least {} was expected",
                    header.base_offset, scan.next_offset
                )));
            }
            if verify_crc {
                verify_batch(file, pos, &header)?;
            }
            Ok((pos, header))
        });
        let (pos, header) = match checked {
            Ok(found) => found,
            Err(err @ LogError::Io { .. }) => return Err(err),
            Err(err) => {
                scan.stopped_by = Some(err);
                break;
            }
        };
        if header.max_timestamp > scan.max_timestamp {
            scan.max_timestamp = header.max_timestamp;
            scan.offset_of_max_timestamp = header.last_offset();
        }
        if scan.bytes_since_index > index_interval {
            let rel = (header.last_offset() - base_offset) as u32;
            scan.offset_entries.push((rel, pos as u32));
            let rel_max = (scan.offset_of_max_timestamp - base_offset) as u32;
            if scan
                .time_entries
                .last()
                .is_none_or(|&(t, _)| t < scan.max_timestamp)
            {
                scan.time_entries.push((scan.max_timestamp, rel_max));
            }
            scan.bytes_since_index = 0;
        }
        scan.bytes_since_index += header.total_len() as u64;
        scan.first_batch_max_timestamp
            .get_or_insert(header.max_timestamp);
        scan.valid_size = pos + header.total_len() as u64;
        scan.next_offset = header.last_offset() + 1;
        scan.batches += 1;
    }
    Ok(scan)
}
