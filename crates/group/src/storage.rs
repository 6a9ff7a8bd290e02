//! `__consumer_offsets`: where the coordinator's records go.
//!
//! A group lives in partition `abs(java_hash(group id)) % offsets.topic.num.partitions`, as in
//! Kafka, so every record of a group is in one partition, in order. The coordinator writes a
//! partition only while it leads it (see `coordinator.rs`), through an [`OffsetsLog`]: in a
//! broker that is the replicated partition of the internal topic (acks=all semantics: fsynced
//! and in the high watermark before it counts); [`LocalLog`] is a plain local log for tools
//! and tests. The log is owned by a [`Writer`] behind that partition's write lock. A state
//! change collects its records in a [`Journal`] — one batch per operation (all offsets of one
//! OffsetCommit, or one group record, or a set of tombstones) — and the writer appends them
//! once, before the caller answers the client: a commit that was acknowledged survives a crash
//! and a change of leader. Strings that do not fit the format are refused (`format.rs`), never
//! cut. The log keeps everything (no time or size retention); replay keeps the last value per
//! key, so older records are dead weight until a compacting cleaner exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_log::{LogConfig, LogError, PartitionLog};
use strata_records::{build_batch, BatchSpec, NewRecord, RecordsError};

use crate::format::{encode_key, FormatError, RecordKey};

/// Topic name of the internal log (also the directory prefix).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Topic id of the internal topic (in each partition's `partition.metadata`, and the id the
/// broker creates the topic with, so data directories written before the topic was replicated
/// open unchanged).
pub const OFFSETS_TOPIC_ID: &str = "00000000-0000-4000-8000-00000000c0f5";

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
    /// The coordinator closed the log, or no longer coordinates its partition.
    #[error("__consumer_offsets is closed")]
    Closed,
    /// The partition cannot take the write now: this broker stopped leading it, or its ISR
    /// did not take the write in time.
    #[error("__consumer_offsets: {0}")]
    Unavailable(String),
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

/// One `__consumer_offsets` partition as the coordinator uses it while it coordinates the
/// partition's groups. The broker implements it over its replicated partition (leader append,
/// group-commit fsync, wait for the ISR); [`LocalLog`] is an unreplicated log for tools and
/// tests.
pub trait OffsetsLog: Send + Sync {
    /// Appends `batches` (built by the coordinator; offsets and leader epoch are assigned here)
    /// and returns once all of them are durable and committed — fsynced, and in the high
    /// watermark of a replicated partition. An error means none of them may be treated as
    /// stored (some may still reach the log, as after any failed acks=all produce).
    fn append(&self, batches: &mut [Vec<u8>], now_ms: i64) -> Result<(), StorageError>;
    /// Whole batches from `offset`, at most about `max_bytes` (at least one batch); empty at
    /// the log end.
    fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, StorageError>;
    /// `[log start, log end)`.
    fn bounds(&self) -> (i64, i64);
    /// Called when the coordinator closes; a log the coordinator owns closes itself here.
    fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// An unreplicated internal partition under `<data dir>/__consumer_offsets-<p>/`, fsynced on
/// every append: the coordinator's log when it runs without a broker (tools, tests).
#[derive(Debug)]
pub struct LocalLog {
    log: std::sync::Mutex<Option<PartitionLog>>,
}

impl LocalLog {
    /// Opens (creating if needed) internal partition `p` under `data_dir`, with crash recovery.
    pub fn open(data_dir: &Path, p: i32, now_ms: i64) -> Result<LocalLog, StorageError> {
        let log = PartitionLog::open(
            &partition_dir(data_dir, p),
            OFFSETS_TOPIC_ID,
            log_config(),
            now_ms,
        )?;
        Ok(LocalLog {
            log: std::sync::Mutex::new(Some(log)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.as_mut().ok_or(StorageError::Closed)?)
    }
}

impl OffsetsLog for LocalLog {
    fn append(&self, batches: &mut [Vec<u8>], now_ms: i64) -> Result<(), StorageError> {
        self.with(|log| {
            crate::blocking(|| {
                for batch in batches.iter_mut() {
                    log.append(batch, 0, now_ms)?;
                }
                log.flush()
            })?;
            Ok(())
        })
    }

    fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, StorageError> {
        self.with(|log| read_batches(log, offset, max_bytes))
    }

    fn bounds(&self) -> (i64, i64) {
        self.with(|log| Ok((log.log_start_offset(), log.log_end_offset())))
            .unwrap_or((0, 0))
    }

    fn close(&self) -> Result<(), StorageError> {
        let taken = self.log.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(log) => Ok(log.close()?),
            None => Ok(()),
        }
    }
}

/// Whole batches of `log` from `offset` up to its end, at most about `max_bytes`.
pub fn read_batches(
    log: &PartitionLog,
    offset: i64,
    max_bytes: usize,
) -> Result<Vec<u8>, StorageError> {
    let end = log.log_end_offset();
    if offset >= end {
        return Ok(Vec::new());
    }
    let slice = log.read(offset, max_bytes, end)?;
    slice.read_to_vec().map_err(|source| StorageError::Io {
        path: log.dir().display().to_string(),
        source,
    })
}

/// A record to write: key and encoded value (`None` = tombstone).
pub(crate) type Write = (RecordKey, Option<Vec<u8>>);

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

/// One internal partition's log while this coordinator leads it, behind the partition's write
/// lock. Writes happen here, with no state lock held, so an fsync (or the wait for followers)
/// never blocks heartbeats or reads.
pub(crate) struct Writer {
    partition: i32,
    /// The log and the leader epoch it was loaded in; `None` while not coordinating.
    pub(crate) log: Option<(i32, Arc<dyn OffsetsLog>)>,
    #[cfg(test)]
    pub(crate) hook: Option<WriteHook>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("partition", &self.partition)
            .field("epoch", &self.log.as_ref().map(|(e, _)| *e))
            .finish()
    }
}

impl Writer {
    /// A writer of partition `p` that coordinates nothing yet.
    pub(crate) fn idle(partition: i32) -> Writer {
        Writer {
            partition,
            log: None,
            #[cfg(test)]
            hook: None,
        }
    }

    /// Appends every batch of `journal` (emptying it), durably and committed. Ok means every
    /// record is stored; on error none of them may be treated as stored.
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
        let (_, log) = self.log.as_ref().ok_or(StorageError::Closed)?;
        log.append(&mut built, now_ms)
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
