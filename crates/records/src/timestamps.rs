//! Decoding each record's absolute offset and timestamp from one batch.
//!
//! Only the record prefix (length, attributes, timestamp delta, offset delta) is decoded; keys,
//! values and headers are skipped by the record's length. LogAppendTime batches report
//! `max_timestamp` for every record, as Kafka does. At most `records_count` records are read
//! and every record must lie wholly inside the (decompressed) records section.

use crate::codec::decompress;
use crate::varint::Cursor;
use crate::{BatchHeader, RecordsError, BATCH_HEADER_LEN};

/// Returns `(offset, timestamp)` for every record in `batch` (one whole batch, possibly
/// followed by other bytes), in stored order.
pub fn record_timestamps(batch: &[u8]) -> Result<Vec<(i64, i64)>, RecordsError> {
    let header = BatchHeader::parse(batch)?;
    let total = header.total_len();
    if batch.len() < total {
        return Err(RecordsError::Truncated {
            need: total,
            have: batch.len(),
        });
    }
    if header.records_count < 0 {
        return Err(RecordsError::InvalidRecord("negative records count"));
    }
    if header.records_count == 0 {
        return Ok(Vec::new()); // an empty batch left by the cleaner
    }
    let records = decompress(header.compression()?, &batch[BATCH_HEADER_LEN..total])?;
    let mut cursor = Cursor::new(&records);
    let count = header.records_count as usize;
    // Each record takes at least 7 bytes, which bounds the allocation on hostile counts.
    let mut out = Vec::with_capacity(count.min(records.len() / 7 + 1));
    for _ in 0..count {
        let len = cursor.varint()?;
        if len < 0 {
            return Err(RecordsError::InvalidRecord("negative record length"));
        }
        let len = len as usize;
        let start = cursor.position();
        if len > cursor.remaining() {
            return Err(RecordsError::Truncated {
                need: len,
                have: cursor.remaining(),
            });
        }
        cursor.skip(1)?; // record attributes
        let timestamp_delta = cursor.varlong()?;
        let offset_delta = cursor.varint()?;
        if cursor.position() - start > len {
            return Err(RecordsError::InvalidRecord(
                "record prefix exceeds its length",
            ));
        }
        cursor.skip(len - (cursor.position() - start))?;
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(timestamp_delta)
        };
        out.push((
            header.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
        ));
    }
    Ok(out)
}
