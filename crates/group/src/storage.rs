//! `__consumer_offsets`: the coordinator's internal log, one `strata_log::PartitionLog` per
//! partition under `<data dir>/__consumer_offsets-<p>/`.
//!
//! A group lives in partition `abs(java_hash(group id)) % offsets.topic.num.partitions`, as in
//! Kafka, so every record of a group is in one partition, in order. Each partition's log is
//! owned by a [`Writer`] behind that partition's write lock (see `coordinator.rs`). A state
//! change collects its records in a [`Journal`] — one batch per operation (all offsets of one
//! OffsetCommit, or one group record, or a set of tombstones) — and the writer appends them and
//! fsyncs once, before the caller answers the client: a commit that was acknowledged survives a
//! crash. Strings that do not fit the format are refused (`format.rs`), never cut. The log keeps everything (no time or size retention); replay
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
    /// The coordinator closed the log.
    #[error("__consumer_offsets is closed")]
    Closed,
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

/// The internal partitions as opened, before replay hands each to its [`Writer`].
#[derive(Debug)]
pub(crate) struct Store {
    logs: Vec<PartitionLog>,
}

/// A record to write: key and encoded value (`None` = tombstone).
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

    /// One writer per partition, in partition order.
    pub(crate) fn into_writers(self) -> Vec<Writer> {
        self.logs
            .into_iter()
            .enumerate()
            .map(|(p, log)| Writer {
                partition: p as i32,
                log: Some(log),
                #[cfg(test)]
                hook: None,
            })
            .collect()
    }

    /// Closes every partition without writing (the coordinator closed during replay).
    pub(crate) fn close(self) -> Result<(), StorageError> {
        let mut first = None;
        for mut w in self.into_writers() {
            if let Err(e) = w.close() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// The records one state change produced, in the order it produced them: one entry (one batch)
/// per operation. An encoding failure poisons the journal so the whole change is refused.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    batches: Vec<Vec<Write>>,
    refused: Option<FormatError>,
}

impl Journal {
    /// Queues `writes` as one batch (nothing if empty).
    pub(crate) fn push(&mut self, writes: Vec<Write>) {
        if !writes.is_empty() {
            self.batches.push(writes);
        }
    }

    /// Marks the change as not storable.
    pub(crate) fn refuse(&mut self, e: FormatError) {
        self.refused.get_or_insert(e);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.refused.is_none()
    }

    fn take(&mut self) -> Journal {
        std::mem::take(self)
    }
}

/// Test seam: runs before a writer appends; an error fails the write (nothing is appended).
#[cfg(test)]
pub(crate) type WriteHook = std::sync::Arc<dyn Fn(i32) -> std::io::Result<()> + Send + Sync>;

/// One internal partition's log, behind its partition's write lock. Writes happen here, with
/// no state lock held, so an fsync never blocks heartbeats or reads.
pub(crate) struct Writer {
    partition: i32,
    /// `None` once closed.
    log: Option<PartitionLog>,
    #[cfg(test)]
    pub(crate) hook: Option<WriteHook>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("partition", &self.partition)
            .field("open", &self.log.is_some())
            .finish()
    }
}

impl Writer {
    /// Appends every batch of `journal` (emptying it) and fsyncs once. Ok means every record
    /// is durable; on error none of them may be treated as stored (some may have reached the
    /// log and reappear after a restart, as after any failed fsync).
    pub(crate) fn write(&mut self, journal: &mut Journal, now_ms: i64) -> Result<(), StorageError> {
        let journal = journal.take();
        if let Some(e) = journal.refused {
            return Err(e.into());
        }
        if journal.batches.is_empty() {
            return Ok(());
        }
        let mut built = Vec::with_capacity(journal.batches.len());
        for writes in &journal.batches {
            let keys = writes
                .iter()
                .map(|(k, _)| encode_key(k))
                .collect::<Result<Vec<_>, _>>()?;
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
            built.push(build_batch(&BatchSpec::plain(now_ms), &records)?);
        }
        #[cfg(test)]
        if let Some(hook) = &self.hook {
            let hook = hook.clone();
            let p = self.partition;
            crate::blocking(|| hook(p)).map_err(|source| StorageError::Io {
                path: format!("{OFFSETS_TOPIC}-{p}"),
                source,
            })?;
        }
        let log = self.log.as_mut().ok_or(StorageError::Closed)?;
        crate::blocking(|| {
            for batch in &mut built {
                log.append(batch, 0, now_ms)?;
            }
            log.flush()
        })?;
        Ok(())
    }

    /// Flushes and closes the log (writing its clean-shutdown marker); later writes fail.
    pub(crate) fn close(&mut self) -> Result<(), StorageError> {
        match self.log.take() {
            Some(log) => Ok(log.close()?),
            None => Ok(()),
        }
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
