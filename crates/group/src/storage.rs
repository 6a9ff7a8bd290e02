//! `__consumer_offsets`: the coordinator's internal log, one `strata_log::PartitionLog` per
//! partition under `<data dir>/__consumer_offsets-<p>/`.
//!
//! A group lives in partition `abs(java_hash(group id)) % offsets.topic.num.partitions`, as in
//! Kafka, so every record of a group is in one partition, in order. Writes are one batch per
//! operation (all offsets of one OffsetCommit, or one group record, or a set of tombstones),
//! appended and then fsynced before the caller answers the client: a commit that was
//! acknowledged survives a crash. The log keeps everything (no time or size retention); replay
//! keeps the last value per key, so older records are dead weight until a compacting cleaner
//! exists.

use std::path::{Path, PathBuf};

use strata_log::{LogConfig, LogError, PartitionLog};
use strata_records::{build_batch, BatchSpec, NewRecord, RecordsError};

use crate::format::{encode_key, FormatError, RecordKey};

/// Topic name of the internal log (also the directory prefix).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Topic id written to each internal partition's `partition.metadata`.
const OFFSETS_TOPIC_ID: &str = "00000000-0000-4000-8000-00000000c0f5";

/// Kafka's `offsets.topic.segment.bytes` default (100 MiB).
const SEGMENT_BYTES: u64 = 100 * 1024 * 1024;

/// Largest batch the coordinator writes (a very large OffsetCommit is split by the caller's
/// request size anyway; this only bounds the log's own check).
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Why the coordinator's storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The partition log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A batch could not be built or decoded.
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// A record is not in a format this build reads.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Reading a segment failed.
    #[error("reading {path}: {source}")]
    Io {
        /// What was read.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Kafka `Utils.abs(groupId.hashCode()) % partitions`: Java's `String.hashCode` over UTF-16
/// code units, and `abs` that maps `i32::MIN` to 0.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// Directory of internal partition `p`.
pub fn partition_dir(data_dir: &Path, p: i32) -> PathBuf {
    data_dir.join(format!("{OFFSETS_TOPIC}-{p}"))
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        retention_ms: -1,
        retention_bytes: -1,
        max_message_bytes: MAX_BATCH_BYTES,
        ..LogConfig::default()
    }
}

/// The open internal partitions.
#[derive(Debug)]
pub(crate) struct Store {
    logs: Vec<PartitionLog>,
}

/// A record to write: key and value (`None` = tombstone).
pub(crate) type Write = (RecordKey, Option<Vec<u8>>);

impl Store {
    /// Opens (creating if needed) every internal partition, with crash recovery.
    pub(crate) fn open(
        data_dir: &Path,
        partitions: i32,
        now_ms: i64,
    ) -> Result<Store, StorageError> {
        let mut logs = Vec::with_capacity(partitions.max(0) as usize);
        for p in 0..partitions {
            logs.push(PartitionLog::open(
                &partition_dir(data_dir, p),
                OFFSETS_TOPIC_ID,
                log_config(),
                now_ms,
            )?);
        }
        Ok(Store { logs })
    }

    pub(crate) fn logs(&self) -> &[PartitionLog] {
        &self.logs
    }

    /// Appends `writes` for `group` as one batch and fsyncs it.
    pub(crate) fn write(
        &mut self,
        group: &str,
        writes: &[Write],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        if writes.is_empty() {
            return Ok(());
        }
        let keys: Vec<Vec<u8>> = writes.iter().map(|(k, _)| encode_key(k)).collect();
        let records: Vec<NewRecord<'_>> = writes
            .iter()
            .zip(&keys)
            .map(|((_, value), key)| NewRecord {
                key: Some(key),
                value: value.as_deref(),
                headers: &[],
                timestamp_delta: 0,
            })
            .collect();
        let mut batch = build_batch(&BatchSpec::plain(now_ms), &records)?;
        let p = partition_for(group, self.logs.len() as i32) as usize;
        let log = &mut self.logs[p];
        crate::blocking(|| {
            log.append(&mut batch, 0, now_ms)?;
            log.flush()
        })?;
        Ok(())
    }

    /// Flushes and closes every partition (writing clean-shutdown markers).
    pub(crate) fn close(self) -> Result<(), StorageError> {
        let mut first = None;
        for log in self.logs {
            if let Err(e) = log.close() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_matches_kafka() {
        // Java: "test-group".hashCode() = 627841412 → 627841412 % 50 = 12.
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE → Utils.abs gives 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert!((0..50).contains(&partition_for("ü-gröup", 50)));
    }
}
