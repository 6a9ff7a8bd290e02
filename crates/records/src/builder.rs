//! Building v2 batches: the one encoder in the workspace, used by the broker's internal logs
//! (the group coordinator's `__consumer_offsets`) and by tests (through [`crate::testing`]).
//!
//! Invariants of a built batch: base offset 0 and partition leader epoch 0 (the log patches
//! both on append, outside the CRC); consecutive offset deltas `0..n`; `last_offset_delta = n-1`
//! (so an empty record list is refused); `max_timestamp = base_timestamp + max(delta)`; a correct
//! CRC-32C over bytes 21.. . Snappy output uses Kafka's xerial framing.

use std::io::Write;

use crate::crc::CRC_OFFSET;
use crate::varint::write_varlong;
use crate::{compute_crc, Compression, RecordsError, BATCH_HEADER_LEN};

/// One record to encode.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRecord<'a> {
    /// Key (`None` = null).
    pub key: Option<&'a [u8]>,
    /// Value (`None` = null, a tombstone in a compacted log).
    pub value: Option<&'a [u8]>,
    /// Headers in order (`None` = null header value).
    pub headers: &'a [(&'a [u8], Option<&'a [u8]>)],
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
}

/// Batch-level fields of a batch to encode.
#[derive(Debug, Clone, Copy)]
pub struct BatchSpec {
    /// Codec of the records section.
    pub compression: Compression,
    /// Timestamp of the first record (CreateTime).
    pub base_timestamp: i64,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
}

impl BatchSpec {
    /// An uncompressed, non-idempotent batch stamped `base_timestamp`.
    pub fn plain(base_timestamp: i64) -> BatchSpec {
        BatchSpec {
            compression: Compression::None,
            base_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

/// Encodes `records` as one v2 batch; see the module docs for the invariants.
pub fn build_batch(spec: &BatchSpec, records: &[NewRecord<'_>]) -> Result<Vec<u8>, RecordsError> {
    if records.is_empty() {
        return Err(RecordsError::InvalidRecord(
            "a batch needs at least one record",
        ));
    }
    let count = i32::try_from(records.len())
        .map_err(|_| RecordsError::InvalidRecord("too many records for one batch"))?;
    let section = compress(spec.compression, &encode_records(records))?;
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let header = HeaderSpec {
        attributes: codec_bits(spec.compression),
        last_offset_delta: count - 1,
        base_ts: spec.base_timestamp,
        max_ts: spec.base_timestamp.wrapping_add(max_delta),
        producer_id: spec.producer_id,
        producer_epoch: spec.producer_epoch,
        base_sequence: spec.base_sequence,
        records_count: count,
    };
    Ok(assemble(&header, &section))
}

fn codec_bits(codec: Compression) -> i16 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

pub(crate) struct HeaderSpec {
    pub(crate) attributes: i16,
    pub(crate) last_offset_delta: i32,
    pub(crate) base_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) records_count: i32,
}

/// Concatenates a header and a records section and fills in length and CRC.
pub(crate) fn assemble(h: &HeaderSpec, section: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + section.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    let batch_length = (BATCH_HEADER_LEN - 12 + section.len()) as i32;
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&h.attributes.to_be_bytes());
    out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&h.base_ts.to_be_bytes());
    out.extend_from_slice(&h.max_ts.to_be_bytes());
    out.extend_from_slice(&h.producer_id.to_be_bytes());
    out.extend_from_slice(&h.producer_epoch.to_be_bytes());
    out.extend_from_slice(&h.base_sequence.to_be_bytes());
    out.extend_from_slice(&h.records_count.to_be_bytes());
    out.extend_from_slice(section);
    let crc = compute_crc(&out);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

fn write_bytes(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        Some(bytes) => {
            write_varlong(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
        None => write_varlong(out, -1),
    }
}

/// Encodes the uncompressed records section.
pub(crate) fn encode_records(records: &[NewRecord<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let mut body = vec![0u8]; // attributes
        write_varlong(&mut body, record.timestamp_delta);
        write_varlong(&mut body, i as i64);
        write_bytes(&mut body, record.key);
        write_bytes(&mut body, record.value);
        write_varlong(&mut body, record.headers.len() as i64);
        for (key, value) in record.headers {
            write_bytes(&mut body, Some(key));
            write_bytes(&mut body, *value);
        }
        write_varlong(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

fn codec_error(name: &str, e: std::io::Error) -> RecordsError {
    RecordsError::Decompress(format!("{name} compression failed: {e}"))
}

/// Compresses a records section the way Kafka producers do.
pub(crate) fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    Ok(match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).map_err(|e| codec_error("gzip", e))?;
            enc.finish().map_err(|e| codec_error("gzip", e))?
        }
        Compression::Snappy => {
            let mut out = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            for chunk in data.chunks(32 * 1024) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .map_err(|e| RecordsError::Decompress(format!("snappy: {e}")))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).map_err(|e| codec_error("lz4", e))?;
            enc.finish()
                .map_err(|e| RecordsError::Decompress(format!("lz4: {e}")))?
        }
        Compression::Zstd => zstd::encode_all(data, 3).map_err(|e| codec_error("zstd", e))?,
    })
}
