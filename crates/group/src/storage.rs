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

use strata_coordinator::Term;
use strata_coordinator::{build_records, TxnProducer};
pub use strata_coordinator::{InternalLog as OffsetsLog, LocalLog, StorageError};
use strata_log::LogConfig;

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

impl From<FormatError> for StorageError {
    fn from(e: FormatError) -> StorageError {
        StorageError::Format(e.to_string())
    }
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

/// Opens (creating if needed) internal partition `p` under `data_dir` as an unreplicated
/// [`LocalLog`], with crash recovery: the coordinator's log when it runs without a broker.
pub fn open_local_log(data_dir: &Path, p: i32, now_ms: i64) -> Result<LocalLog, StorageError> {
    LocalLog::open(
        &partition_dir(data_dir, p),
        OFFSETS_TOPIC_ID,
        log_config(),
        now_ms,
    )
}

/// A record to write: key and encoded value (`None` = tombstone).
pub(crate) type Write = (RecordKey, Option<Vec<u8>>);

/// The records one state change produced, in the order it produced them: one entry (one batch)
/// per operation. An encoding failure poisons the journal so the whole change is refused.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    batches: Vec<(Option<TxnProducer>, Vec<Write>)>,
    refused: Option<FormatError>,
}

impl Journal {
    /// Queues `writes` as one batch (nothing if empty).
    pub(crate) fn push(&mut self, writes: Vec<Write>) {
        if !writes.is_empty() {
            self.batches.push((None, writes));
        }
    }

    /// Queues `writes` as one transactional batch of `producer` (a TxnOffsetCommit): the
    /// transaction's COMMIT or ABORT marker resolves it.
    pub(crate) fn push_transactional(&mut self, producer: TxnProducer, writes: Vec<Write>) {
        if !writes.is_empty() {
            self.batches.push((Some(producer), writes));
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
    pub(crate) log: Option<Term>,
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
        for (txn, writes) in journal.batches {
            let records = writes
                .into_iter()
                .map(|(k, value)| Ok((encode_key(&k)?, value)))
                .collect::<Result<Vec<_>, FormatError>>()?;
            built.push(build_records(&records, now_ms, txn)?);
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
