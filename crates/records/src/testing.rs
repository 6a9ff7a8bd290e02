//! Short-hand batch construction for tests in this and dependent crates, on top of the one
//! encoder in [`crate::builder`].
//!
//! Batches produced here are valid client batches: base offset 0, leader epoch 0 (set to -1 by
//! real clients; 0 is what the broker overwrites anyway), consecutive offset deltas, no record
//! headers, and a correct CRC. Snappy output uses Kafka's xerial framing.

use crate::builder::{build_batch as encode, BatchSpec, NewRecord};
use crate::Compression;

/// One test record: key, value, timestamp delta from the batch's base timestamp.
pub type TestRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

/// Builds an uncompressed batch with a valid CRC.
pub fn build_batch(
    base_ts: i64,
    records: &[TestRecord<'_>],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Vec<u8> {
    build_compressed_batch(
        Compression::None,
        base_ts,
        records,
        producer_id,
        producer_epoch,
        base_sequence,
    )
}

/// Builds a batch whose records section is compressed with `codec`, with a valid CRC.
///
/// Panics on an empty record list (a batch needs at least one record).
pub fn build_compressed_batch(
    codec: Compression,
    base_ts: i64,
    records: &[TestRecord<'_>],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Vec<u8> {
    let spec = BatchSpec {
        compression: codec,
        base_timestamp: base_ts,
        producer_id,
        producer_epoch,
        base_sequence,
    };
    let records: Vec<NewRecord<'_>> = records
        .iter()
        .map(|(key, value, timestamp_delta)| NewRecord {
            key: *key,
            value: *value,
            headers: &[],
            timestamp_delta: *timestamp_delta,
        })
        .collect();
    encode(&spec, &records).expect("test batches have at least one record")
}
