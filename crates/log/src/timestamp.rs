//! ListOffsets by timestamp: the first record at or after a timestamp, and the record with
//! the largest timestamp.
//!
//! Search order: skip segments whose max timestamp is below the target; in the first segment
//! that qualifies, start at the time index entry (every record up to its offset is older than
//! the target), scan batch headers to the first batch whose max timestamp reaches the target,
//! then decode that batch's record timestamps. Records below the log start are never returned.

use strata_records::record_timestamps;

use crate::read::as_storage_error;
use crate::scan::read_batch;
use crate::{LogError, PartitionLog};

impl PartitionLog {
    /// First `(offset, timestamp)` whose timestamp is `>= ts`, or `None`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.ensure_online()?;
        let log_start = self.log_start_offset;
        let first = self.segment_index(log_start);
        for segment in &self.segments[first..] {
            if segment.is_empty() || segment.max_timestamp < ts {
                continue;
            }
            let start = segment.time_lookup(ts).max(log_start);
            for item in segment.scan_from_offset(start) {
                let (pos, header) = item.map_err(as_storage_error)?;
                if header.last_offset() < log_start || header.max_timestamp < ts {
                    continue;
                }
                let batch = read_batch(segment.file(), pos, &header)?;
                let records = record_timestamps(&batch).map_err(|e| as_storage_error(e.into()))?;
                if let Some(found) = records
                    .into_iter()
                    .find(|&(offset, t)| offset >= log_start && t >= ts)
                {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the record with the largest timestamp (the first such record
    /// if several share it), or `None` for an empty log.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.ensure_online()?;
        let mut best: Option<&crate::segment::Segment> = None;
        for segment in self.segments.iter().filter(|s| !s.is_empty()) {
            if best.is_none_or(|b| segment.max_timestamp > b.max_timestamp) {
                best = Some(segment);
            }
        }
        let Some(segment) = best else {
            return Ok(None);
        };
        let (max_ts, offset) = (segment.max_timestamp, segment.offset_of_max_timestamp);
        let Some((pos, header)) = segment.find_batch(offset).map_err(as_storage_error)? else {
            return Ok(Some((offset, max_ts)));
        };
        let batch = read_batch(segment.file(), pos, &header)?;
        let records = record_timestamps(&batch).map_err(|e| as_storage_error(e.into()))?;
        let exact = records.into_iter().find(|&(_, t)| t == max_ts);
        Ok(Some(exact.unwrap_or((offset, max_ts))))
    }
}
