//! Produce-path validation of one client batch (Kafka `LogValidator` / `ProduceRequest`).
//!
//! The checks run in a fixed order and the first failure is returned, so a given bad batch
//! always yields the same error: parse, exactly one batch, base offset 0, CRC, offset range,
//! not control, producer id implies sequence, known codec.

use crate::{compute_crc, BatchHeader, RecordsError};

/// Validates a Produce v3+ partition payload, which must be exactly one v2 batch.
pub fn validate_client_batch(buf: &[u8]) -> Result<BatchHeader, RecordsError> {
    let header = BatchHeader::parse(buf)?;
    if buf.len() != header.total_len() {
        return Err(RecordsError::InvalidRecord(
            "partition data must be exactly one batch",
        ));
    }
    if header.base_offset != 0 {
        return Err(RecordsError::InvalidRecord(
            "client batch base offset must be 0",
        ));
    }
    let actual = compute_crc(buf);
    if actual != header.crc {
        return Err(RecordsError::CorruptMessage {
            expected: header.crc,
            actual,
        });
    }
    if header.records_count <= 0
        || i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count)
    {
        return Err(RecordsError::InvalidRecord(
            "inconsistent batch offset range",
        ));
    }
    if header.is_control() {
        return Err(RecordsError::InvalidRecord(
            "clients may not send control batches",
        ));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(RecordsError::InvalidRecord(
            "idempotent batch without a base sequence",
        ));
    }
    header.compression()?;
    Ok(header)
}
