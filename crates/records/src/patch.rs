//! In-place rewrites the broker makes to a stored batch (Kafka `DefaultRecordBatch` setters).
//!
//! Invariant: a batch with a valid CRC keeps a valid CRC after any of these calls. Base offset
//! and leader epoch lie outside CRC coverage; LogAppendTime changes covered bytes and so
//! recomputes the CRC. Buffers shorter than a header are left untouched.

use crate::crc::CRC_OFFSET;
use crate::header::TIMESTAMP_TYPE_MASK;
use crate::{compute_crc, BATCH_HEADER_LEN};

/// Writes the base offset (bytes 0..8). Not CRC-covered.
pub fn patch_base_offset(buf: &mut [u8], base_offset: i64) {
    if buf.len() >= BATCH_HEADER_LEN {
        buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Writes the partition leader epoch (bytes 12..16). Not CRC-covered.
pub fn patch_leader_epoch(buf: &mut [u8], epoch: i32) {
    if buf.len() >= BATCH_HEADER_LEN {
        buf[12..16].copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Marks the batch LogAppendTime (attribute bit 3), sets max timestamp to `now_ms` and
/// recomputes the CRC. `buf` must be exactly one batch.
pub fn set_log_append_time(buf: &mut [u8], now_ms: i64) {
    set_log_append_time_parts(buf, &[], now_ms);
}

/// [`set_log_append_time`] for a batch held in two parts: `head` (at least the 61-byte header,
/// patched in place) followed by `rest`. The CRC covers `head[21..]` then `rest`.
pub fn set_log_append_time_parts(head: &mut [u8], rest: &[u8], now_ms: i64) {
    if head.len() < BATCH_HEADER_LEN {
        return;
    }
    let attributes = i16::from_be_bytes([head[21], head[22]]) | TIMESTAMP_TYPE_MASK;
    head[21..23].copy_from_slice(&attributes.to_be_bytes());
    head[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(compute_crc(head), rest);
    head[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Makes one whole batch `buf` a CreateTime batch whose max timestamp (bytes 35..43) is
/// `max_timestamp`, and recomputes the CRC (Kafka `DefaultRecordBatch.setMaxTimestamp(
/// CREATE_TIME, max)`), so the header agrees with its records. A no-op when it already does.
pub fn set_max_timestamp(buf: &mut [u8], max_timestamp: i64) {
    if buf.len() < BATCH_HEADER_LEN {
        return;
    }
    let attributes = i16::from_be_bytes([buf[21], buf[22]]);
    if attributes & TIMESTAMP_TYPE_MASK == 0 && buf[35..43] == max_timestamp.to_be_bytes() {
        return;
    }
    buf[21..23].copy_from_slice(&(attributes & !TIMESTAMP_TYPE_MASK).to_be_bytes());
    buf[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = compute_crc(buf);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}
