//! The log cleaner: Kafka's compaction (`kafka.log.LogCleaner`, `Cleaner.doClean`) for local
//! segments.
//!
//! A clean runs in three phases so that the partition's lock is held only briefly:
//! 1. [`PartitionLog::prepare_clean`] (under the lock): snapshots the sealed segments (file
//!    handles, sizes, offsets, modification times, aborted transactions) and decides the dirty
//!    section `[first dirty offset, cleanable end)`. The first dirty offset is the persisted
//!    cleaner checkpoint (`cleaner-offset-checkpoint`, `checkpoint.rs`), at least the log start.
//!    The cleanable end is the lowest of: the active segment's base (the active segment is never
//!    cleaned), the high watermark, the first unstable offset (open transactions), and the base
//!    of the first segment whose newest record is younger than `min.compaction.lag.ms`.
//! 2. [`CleanJob::build`] (no lock): builds the offset map key → latest offset over the dirty
//!    section, bounded by `log.cleaner.dedupe.buffer.size` (`offset_map.rs`; a full map ends the
//!    cleaned section at the start of the segment it filled in), then rewrites the segments from
//!    the log's first segment to the end of the cleaned section in groups that stay below
//!    `segment.bytes` (`rewrite.rs`) into `<base>.log.cleaned` files, fsynced.
//! 3. [`PartitionLog::finish_clean`] (under the lock): checks that the group's segments are
//!    still the ones the job read (retention, truncation or a leadership change abandon the
//!    swap), then swaps (`swap.rs`): `.cleaned` → `.swap` for every file of every group, old
//!    segments deleted, `.swap` → final name, indexes rebuilt, checkpoint written.
//!
//! What a rewrite keeps (Kafka's `shouldRetainRecord` and `MemoryRecords.filterTo`):
//! - a record without a key (invalid in a compacted topic, but kept if present);
//! - a record whose key is absent from the map or maps to an offset at or below its own;
//! - not a record of an aborted transaction (from the segments' `.txnindex`);
//! - not a tombstone (null value) in a segment that was cleaned before (below the first dirty
//!   offset) and last modified more than `delete.retention.ms` ago;
//! - a transaction marker, unless it passed the same horizon and none of its transaction's
//!   data is left;
//! - a batch whose records all go keeps its header (records count 0) when it is the last batch
//!   of its producer (producer state survives a rebuild), or the last batch of its group (so
//!   every segment keeps its end offset and segments stay contiguous).
//!
//! Batches keep their base offset, last offset delta, producer id, epoch and base sequence,
//! attributes and codec (`strata_records::filter_batch`); offsets never change.

mod checkpoint;
mod detached;
mod offset_map;
mod rewrite;
mod swap;

pub(crate) use checkpoint::truncate_cleaner_checkpoint;
pub(crate) use swap::recover_swaps;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::txn_index::AbortedTxnEntry;
use crate::{LogError, PartitionLog};

pub use checkpoint::{read_cleaner_checkpoint, CLEANER_CHECKPOINT};
pub use detached::{
    clean_detached, segment_file_name, DetachedClean, DetachedJob, DetachedSegment,
};

/// Topic-level cleaner settings (Kafka's names), plus the cleaner's map budget.
#[derive(Debug, Clone, Copy)]
pub struct CleanerConfig {
    /// `min.cleanable.dirty.ratio` (0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms` (0): segments with newer records are not cleaned yet.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` (Long.MAX_VALUE): a log whose oldest dirty record is older is
    /// cleaned whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms` (one day): how long tombstones and markers outlive a clean.
    pub delete_retention_ms: i64,
    /// `log.cleaner.dedupe.buffer.size` divided among the cleaner threads (128 MiB).
    pub dedupe_buffer_bytes: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            dedupe_buffer_bytes: 128 * 1024 * 1024,
        }
    }
}

/// How dirty a log is (what `strata topic describe` and the cleaner's choice use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableState {
    /// The cleaner checkpoint (at least the log start).
    pub first_dirty_offset: i64,
    /// End of the section a clean could cover now.
    pub cleanable_end: i64,
    /// Bytes of sealed segments below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of segments in `[first dirty, cleanable end)`.
    pub dirty_bytes: u64,
    /// `dirty / (clean + dirty)`, 0 when nothing is cleanable.
    pub dirty_ratio: f64,
    /// Newest timestamp of the oldest dirty segment, if any segment is dirty.
    pub oldest_dirty_timestamp: Option<i64>,
}

impl CleanableState {
    /// True when the cleaner should take this log: dirty ratio at or above the minimum, or the
    /// oldest dirty record past `max.compaction.lag.ms`.
    pub fn needs_cleaning(&self, config: &CleanerConfig, now_ms: i64) -> bool {
        if self.dirty_bytes == 0 {
            return false;
        }
        let overdue = self
            .oldest_dirty_timestamp
            .is_some_and(|ts| now_ms.saturating_sub(ts) > config.max_compaction_lag_ms);
        overdue || self.dirty_ratio >= config.min_cleanable_dirty_ratio
    }
}

/// A snapshot of one sealed segment taken under the lock.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSnap {
    pub(crate) base: i64,
    pub(crate) next_offset: i64,
    pub(crate) size: u64,
    pub(crate) file: Arc<File>,
    pub(crate) mtime: std::time::SystemTime,
    pub(crate) mtime_ms: i64,
    pub(crate) aborted: Vec<AbortedTxnEntry>,
}

/// Work for one clean, prepared under the partition's lock ([`PartitionLog::prepare_clean`]).
#[derive(Debug)]
pub struct CleanJob {
    pub(crate) dir: PathBuf,
    pub(crate) config: CleanerConfig,
    pub(crate) now_ms: i64,
    pub(crate) segment_bytes: u64,
    pub(crate) first_dirty: i64,
    /// Sealed segments from the first one up to the cleanable end.
    pub(crate) segments: Vec<SegmentSnap>,
    /// Last offset of each producer's last batch (their batches stay, maybe empty).
    pub(crate) producer_last_offsets: std::collections::HashSet<i64>,
}

/// One group of old segments and the cleaned file that replaces them.
#[derive(Debug, Clone)]
pub(crate) struct CleanedGroup {
    pub(crate) base: i64,
    /// `(base, next offset, size)` of every old segment of the group.
    pub(crate) old: Vec<(i64, i64, u64)>,
}

/// The result of [`CleanJob::build`]: `.cleaned` files ready to swap in.
#[derive(Debug)]
pub struct BuiltClean {
    pub(crate) dir: PathBuf,
    pub(crate) groups: Vec<CleanedGroup>,
    /// The new cleaner checkpoint (end of the cleaned section).
    pub(crate) end: i64,
    /// Bytes read from the old segments.
    pub bytes_read: u64,
    /// Bytes written to the cleaned segments.
    pub bytes_written: u64,
    /// How full the offset map got (0..=1).
    pub map_fill_ratio: f64,
}

impl BuiltClean {
    /// The first dirty offset after the swap.
    pub fn end_offset(&self) -> i64 {
        self.end
    }

    /// Deletes the `.cleaned` files (a swap that will not happen).
    pub fn abandon(self) -> Result<(), LogError> {
        swap::remove_cleaned(&self.dir, &self.groups)
    }
}

/// What [`PartitionLog::finish_clean`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanOutcome {
    /// The cleaned segments replaced the old ones; the checkpoint moved to this offset.
    Swapped(i64),
    /// The log changed underneath (retention, truncation, offline): nothing was swapped.
    Abandoned,
}

/// Where a swap stops, for crash tests: a clean that stops early behaves like a crash there.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwapStep {
    /// Only the `.cleaned` files exist.
    Cleaned,
    /// Every `.cleaned` file renamed to `.swap`.
    Swapped,
    /// The old segments deleted.
    OldDeleted,
    /// The `.swap` files renamed to their final names (checkpoint not yet written).
    Renamed,
    /// Everything, checkpoint included.
    Done,
}

impl PartitionLog {
    /// The cleaner checkpoint: first offset not yet cleaned (at least the log start).
    pub fn first_dirty_offset(&self) -> Result<i64, LogError> {
        let stored = read_cleaner_checkpoint(&self.dir)?.unwrap_or(0);
        Ok(stored
            .max(self.log_start_offset)
            .max(self.segments[0].base_offset))
    }

    /// End of the section a clean may cover now (see the module docs).
    fn cleanable_end(&self, config: &CleanerConfig, now_ms: i64) -> i64 {
        let mut end = self.active().base_offset.min(self.high_watermark);
        if let Some(unstable) = self.producers.first_unstable_offset(self.high_watermark) {
            end = end.min(unstable);
        }
        if config.min_compaction_lag_ms > 0 {
            let sealed = &self.segments[..self.segments.len() - 1];
            if let Some(young) = sealed
                .iter()
                .find(|s| now_ms.saturating_sub(s.max_timestamp) < config.min_compaction_lag_ms)
            {
                end = end.min(young.base_offset);
            }
        }
        end
    }

    /// How dirty the log is now.
    pub fn cleanable_state(
        &self,
        config: &CleanerConfig,
        now_ms: i64,
    ) -> Result<CleanableState, LogError> {
        let first_dirty = self.first_dirty_offset()?;
        let end = self.cleanable_end(config, now_ms);
        let sealed = &self.segments[..self.segments.len() - 1];
        let clean_bytes = sealed
            .iter()
            .filter(|s| s.next_offset <= first_dirty)
            .map(|s| s.size)
            .sum();
        let dirty: Vec<_> = sealed
            .iter()
            .filter(|s| s.next_offset > first_dirty && s.next_offset <= end)
            .collect();
        let dirty_bytes: u64 = dirty.iter().map(|s| s.size).sum();
        let total = clean_bytes + dirty_bytes;
        Ok(CleanableState {
            first_dirty_offset: first_dirty,
            cleanable_end: end.max(first_dirty),
            clean_bytes,
            dirty_bytes,
            dirty_ratio: if total == 0 {
                0.0
            } else {
                dirty_bytes as f64 / total as f64
            },
            oldest_dirty_timestamp: dirty.first().map(|s| s.max_timestamp),
        })
    }

    /// Snapshots what a clean needs (phase 1); `None` when no whole segment is dirty.
    pub fn prepare_clean(
        &self,
        config: &CleanerConfig,
        now_ms: i64,
    ) -> Result<Option<CleanJob>, LogError> {
        // Tiered compacted topics are cleaned in the bucket (issue 10, part 3), not here: a local
        // rewrite would change segment boundaries the tiering worker tracks.
        if self.is_offline() || self.config.remote_storage_enable {
            return Ok(None);
        }
        let first_dirty = self.first_dirty_offset()?;
        let end = self.cleanable_end(config, now_ms);
        let sealed = &self.segments[..self.segments.len() - 1];
        let upto = sealed.iter().take_while(|s| s.next_offset <= end).count();
        if !sealed[..upto].iter().any(|s| s.next_offset > first_dirty) {
            return Ok(None);
        }
        let mut segments = Vec::with_capacity(upto);
        for s in &sealed[..upto] {
            let mtime = std::fs::metadata(s.log_path())
                .and_then(|m| m.modified())
                .map_err(|e| LogError::Io {
                    context: format!("stat {}", s.log_path().display()),
                    source: e,
                })?;
            let mtime_ms = mtime
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            segments.push(SegmentSnap {
                base: s.base_offset,
                next_offset: s.next_offset,
                size: s.size,
                file: Arc::clone(s.file()),
                mtime,
                mtime_ms,
                aborted: s.txn_index.entries().to_vec(),
            });
        }
        let producer_last_offsets = self
            .producers
            .entries()
            .iter()
            .filter_map(|p| p.batches.back().map(|b| b.last_offset))
            .collect();
        Ok(Some(CleanJob {
            dir: self.dir.clone(),
            config: *config,
            now_ms,
            segment_bytes: self.config.segment_bytes.min(u64::from(u32::MAX)),
            first_dirty,
            segments,
            producer_last_offsets,
        }))
    }

    /// Phase 3: swaps the cleaned segments in if the log still holds the segments the job read.
    pub fn finish_clean(&mut self, built: BuiltClean) -> Result<CleanOutcome, LogError> {
        self.finish_clean_until(built, SwapStep::Done)
    }

    /// [`PartitionLog::finish_clean`] stopping after `step` (crash tests).
    #[doc(hidden)]
    pub fn finish_clean_until(
        &mut self,
        built: BuiltClean,
        step: SwapStep,
    ) -> Result<CleanOutcome, LogError> {
        if self.is_offline() || !self.still_holds(&built) {
            tracing::info!(dir = %self.dir.display(), "log changed during cleaning: swap abandoned");
            built.abandon()?;
            return Ok(CleanOutcome::Abandoned);
        }
        swap::swap_in(self, built, step)
    }

    /// True if every old segment of every group is still a sealed segment of the log, unchanged.
    fn still_holds(&self, built: &BuiltClean) -> bool {
        let sealed = &self.segments[..self.segments.len() - 1];
        built
            .groups
            .iter()
            .flat_map(|g| g.old.iter())
            .all(|&(base, next, size)| {
                sealed
                    .iter()
                    .any(|s| s.base_offset == base && s.next_offset == next && s.size == size)
            })
    }

    /// Seals the active segment now (tests: makes the data so far cleanable).
    #[doc(hidden)]
    pub fn roll_for_test(&mut self) -> Result<(), LogError> {
        self.roll_with(true)
    }

    /// Cleans now, all three phases in a row (tests and tools). `None`: nothing to clean.
    pub fn clean_now(
        &mut self,
        config: &CleanerConfig,
        now_ms: i64,
    ) -> Result<Option<CleanOutcome>, LogError> {
        let Some(job) = self.prepare_clean(config, now_ms)? else {
            return Ok(None);
        };
        let built = job.build(&mut |_| {})?;
        self.finish_clean(built).map(Some)
    }
}
