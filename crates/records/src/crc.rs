//! CRC-32C of a batch. Invariant: covers `batch[21..]` (attributes through the last record);
//! base offset, length, leader epoch and magic are outside it so the broker may patch them.

/// Byte offset of the CRC field.
pub(crate) const CRC_OFFSET: usize = 17;
/// Byte offset where CRC coverage starts (the attributes field).
pub(crate) const CRC_COVERED_FROM: usize = 21;

/// CRC-32C of `batch[21..]`. Pass exactly one batch; returns 0's CRC for shorter input.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(CRC_COVERED_FROM..).unwrap_or(&[]))
}
