//! Shared helpers for the log tests: batch builders and a few file utilities.
#![allow(dead_code)]

use std::path::Path;

use strata_log::{LogConfig, PartitionLog};
use strata_records::testing::build_batch;

pub(crate) const TOPIC: &str = "AAAAAAAAAAAAAAAAAAAAAA";

/// Bytes of a `batch(_, 1, 100)` batch: 61 header + 109 record.
pub(crate) const BATCH_170: usize = 170;

/// A non-idempotent batch of `records` records with `value_len`-byte values; record `i` has
/// timestamp `ts + i`.
pub(crate) fn batch(ts: i64, records: usize, value_len: usize) -> Vec<u8> {
    let value = vec![b'v'; value_len];
    let recs: Vec<_> = (0..records)
        .map(|i| (None, Some(value.as_slice()), i as i64))
        .collect();
    build_batch(ts, &recs, -1, -1, -1)
}

/// An idempotent batch.
pub(crate) fn idem(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
    let recs: Vec<_> = (0..records)
        .map(|i| (None, Some(&b"x"[..]), i as i64))
        .collect();
    build_batch(1_000, &recs, pid, epoch, seq)
}

pub(crate) fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, TOPIC, config, 1_000).unwrap()
}

/// The file name of a segment file.
pub(crate) fn seg(base: i64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// What the broker would store for `original` at `base` with `epoch`.
pub(crate) fn patched(original: &[u8], base: i64, epoch: i32) -> Vec<u8> {
    let mut out = original.to_vec();
    strata_records::patch_base_offset(&mut out, base);
    strata_records::patch_leader_epoch(&mut out, epoch);
    out
}

pub(crate) fn small_segments(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        ..LogConfig::default()
    }
}

/// A transactional batch (attribute bit 4) of `records` records, with a valid CRC.
pub(crate) fn txn(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
    let mut out = idem(pid, epoch, seq, records);
    let attrs = i16::from_be_bytes([out[21], out[22]]) | 0x10;
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = strata_records::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}
