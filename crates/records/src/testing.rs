//! A small encoder for v2 batches, for tests in this and dependent crates.
//!
//! Batches produced here are valid client batches: base offset 0, leader epoch 0 (set to -1 by
//! real clients; 0 is what the broker overwrites anyway), consecutive offset deltas, no record
//! headers, and a correct CRC. Snappy output uses Kafka's xerial framing.

use std::io::Write;

use crate::crc::CRC_OFFSET;
use crate::varint::write_varlong;
use crate::{compute_crc, Compression, BATCH_HEADER_LEN};

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
pub fn build_compressed_batch(
    codec: Compression,
    base_ts: i64,
    records: &[TestRecord<'_>],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Vec<u8> {
    let section = compress(codec, &encode_records(records));
    let max_delta = records.iter().map(|r| r.2).max().unwrap_or(0);
    let header = HeaderSpec {
        attributes: codec_bits(codec),
        last_offset_delta: records.len() as i32 - 1,
        base_ts,
        max_ts: base_ts + max_delta,
        producer_id,
        producer_epoch,
        base_sequence,
        records_count: records.len() as i32,
    };
    assemble(&header, &section)
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

/// Encodes the uncompressed records section.
pub(crate) fn encode_records(records: &[TestRecord<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (key, value, ts_delta)) in records.iter().enumerate() {
        let mut body = vec![0u8]; // attributes
        write_varlong(&mut body, *ts_delta);
        write_varlong(&mut body, i as i64);
        for field in [key, value] {
            match field {
                Some(bytes) => {
                    write_varlong(&mut body, bytes.len() as i64);
                    body.extend_from_slice(bytes);
                }
                None => write_varlong(&mut body, -1),
            }
        }
        write_varlong(&mut body, 0); // header count
        write_varlong(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

/// Compresses a records section the way Kafka producers do.
pub(crate) fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).expect("in-memory gzip");
            enc.finish().expect("in-memory gzip")
        }
        Compression::Snappy => {
            let mut out = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            for chunk in data.chunks(32 * 1024) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .expect("in-memory snappy");
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).expect("in-memory lz4");
            enc.finish().expect("in-memory lz4")
        }
        Compression::Zstd => zstd::encode_all(data, 3).expect("in-memory zstd"),
    }
}
