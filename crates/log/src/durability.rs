//! Group commit support: which appends must be on disk before anyone sees them, and the fsync
//! that makes them so, done without the log's lock.
//!
//! Invariants:
//! - `durable_end`: every batch below it is on disk (its segment's `.log` was fdatasynced after
//!   the batch was written). It starts at the log end when the log opens (recovery fsyncs what
//!   it keeps), and moves forward at a roll that fsyncs the sealed segment, a full flush, or
//!   when a [`SyncPlan`] completes. A group-commit roll seals without an fsync: the sealed
//!   segment (its `.log` and both index files) stays above `durable_end` and the recovery
//!   point until a plan syncs it.
//! - `hold_end`: the end of the last append that must be durable before it is visible or
//!   acknowledged (acks=all on a topic with `strata.acks.all.fsync=true`, or an append that
//!   reached `flush.messages`). While `hold_end > durable_end` the high watermark does not move
//!   past `durable_end`, so a reader never sees a batch that a power loss could still take
//!   away; later appends that need no fsync (acks=1, acks=0) wait behind the held data rather
//!   than exposing it. Once `durable_end` reaches `hold_end` the high watermark is the log end
//!   again.
//! - the high watermark never moves backwards.
//! - a [`SyncPlan`] holds `Arc<File>` handles of the segments with data at or above
//!   `durable_end`, the partition directory if a group-commit roll created a segment since the
//!   last plan (its entry must be durable before its data counts), and the log end when it was
//!   made: executing it (fdatasync, directory fsync) needs no lock,
//!   and completing it advances `durable_end` to that log end. A failed fdatasync takes the log
//!   offline (`failure.rs`): nothing more is acknowledged.
//! - plans may run concurrently (the flusher's, and a follower's own, see
//!   [`PartitionLog::seal_pending`]), but none may complete past a new segment while the plan
//!   that fsyncs its directory entry is still running: `seal_pending` stays true from the
//!   moment such a plan is made until it completes, and only the flusher (one plan at a time)
//!   runs plans while it is true.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::checkpoint::sync_dir;
use crate::error::IoContext;
use crate::{LogError, PartitionLog};

/// When an append may be seen by readers and acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// From the page cache, as soon as it is written (acks=0, acks=1, or acks=all without
    /// `strata.acks.all.fsync`), unless `flush.messages` is reached.
    PageCache,
    /// Only once an fsync covers it (acks=all with `strata.acks.all.fsync=true`).
    Fsync,
}

/// The fdatasyncs that make a log durable up to `end`; run without the log's lock.
#[derive(Debug)]
pub struct SyncPlan {
    files: Vec<(Arc<File>, PathBuf)>,
    /// The partition directory, when a roll created a segment since the last sync.
    dir: Option<PathBuf>,
    end: i64,
}

impl SyncPlan {
    /// The offset the log is durable up to once this plan completes.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Files to sync.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Fdatasyncs every file of the plan, then the directory if a segment was created
    /// (blocking; call without the log's lock).
    pub fn execute(&self) -> Result<(), LogError> {
        for (file, path) in &self.files {
            file.sync_data()
                .ctx(|| format!("fsync {}", path.display()))?;
        }
        if let Some(dir) = &self.dir {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

impl PartitionLog {
    /// Offset below which every batch is on disk.
    pub fn durable_end(&self) -> i64 {
        self.durable_end
    }

    /// True if a sync is needed to make the log durable up to `end`, or a group-commit roll
    /// left a sealed segment's index files or the directory unsynced.
    pub fn needs_sync(&self, end: i64) -> bool {
        self.durable_end < end || self.seal_pending()
    }

    /// True if a roll sealed a segment without its fsync (its index files or the directory
    /// entry of the new segment wait for a [`SyncPlan`], or a plan syncing that directory is
    /// still running). While it is true, plans must run one at a time (module invariants).
    pub fn seal_pending(&self) -> bool {
        !self.unsynced_indexes.is_empty() || self.dir_unsynced || self.dir_sync_in_flight
    }

    /// True if some append waits for an fsync before it may be acknowledged or read.
    pub fn sync_pending(&self) -> bool {
        self.hold_end > self.durable_end
    }

    /// What must be fsynced to make everything written so far durable, or `None` if it already
    /// is (or the log is offline). The flush count (`flush.messages`) restarts here.
    pub fn sync_plan(&mut self) -> Option<SyncPlan> {
        let end = self.log_end_offset();
        let nothing_else = self.unsynced_indexes.is_empty() && !self.dir_unsynced;
        if self.failed.is_some() || (end <= self.durable_end && nothing_else) {
            return None;
        }
        let files = self
            .segments
            .iter()
            .filter(|s| s.next_offset > self.durable_end)
            .map(|s| (Arc::clone(s.file()), s.log_path().to_path_buf()))
            .chain(
                self.unsynced_indexes
                    .iter()
                    .map(|(f, p)| (Arc::clone(f), p.clone())),
            )
            .collect();
        self.unflushed_messages = 0;
        let dir = std::mem::take(&mut self.dir_unsynced).then(|| self.dir.clone());
        self.dir_sync_in_flight |= dir.is_some();
        Some(SyncPlan { files, dir, end })
    }

    /// The periodic flush (`flush.ms`) as a plan: `Some` when `flush.ms` has passed since the
    /// last flush and something is unsynced. The interval restarts here.
    pub fn due_sync_plan(&mut self, now_ms: i64) -> Option<SyncPlan> {
        if now_ms.saturating_sub(self.last_flush_ms) < self.config.flush_ms {
            return None;
        }
        let plan = self.sync_plan()?;
        self.last_flush_ms = now_ms;
        Some(plan)
    }

    /// Records the outcome of an executed [`SyncPlan`]: on success the log is durable up to
    /// the plan's end and held appends become visible; a failure takes the log offline.
    pub fn complete_sync(
        &mut self,
        plan: &SyncPlan,
        result: Result<(), LogError>,
    ) -> Result<(), LogError> {
        if plan.dir.is_some() {
            self.dir_sync_in_flight = false;
        }
        match result {
            Ok(()) => {
                self.ensure_online()?;
                // Sealed index files this plan synced are durable now.
                self.unsynced_indexes
                    .retain(|(f, _)| !plan.files.iter().any(|(g, _)| Arc::ptr_eq(f, g)));
                self.advance_durable(plan.end);
                Ok(())
            }
            Err(e) => Err(self.fail_on_io("fsync", e)),
        }
    }

    /// Moves `durable_end` forward and the high watermark with it (module invariants).
    /// Once the durable end reaches the active segment and no sealed segment's index waits for
    /// its fsync, every sealed segment is durable with its indexes, so the recovery point moves
    /// there too.
    pub(crate) fn advance_durable(&mut self, end: i64) {
        let end = end.min(self.log_end_offset());
        if end > self.durable_end {
            self.durable_end = end;
        }
        let active_base = self.active().base_offset;
        if self.durable_end >= active_base && self.unsynced_indexes.is_empty() {
            self.recovery_point = self.recovery_point.max(active_base);
        }
        self.refresh_high_watermark();
    }

    /// An append has been written: hold it until an fsync covers it, or let the high
    /// watermark cover it now.
    pub(crate) fn note_appended(&mut self, must_sync: bool) {
        if must_sync {
            self.hold_end = self.log_end_offset();
        }
        self.refresh_high_watermark();
    }

    /// How far this copy alone may let the high watermark go: its log end, or its durable end
    /// while an append that must be durable waits for its fsync. A replicated leader takes the
    /// minimum of this and its in-sync followers' ends.
    pub fn local_visible_end(&self) -> i64 {
        if self.hold_end > self.durable_end {
            self.durable_end
        } else {
            self.log_end_offset()
        }
    }

    fn refresh_high_watermark(&mut self) {
        if self.replicated {
            // The replica layer sets it (the minimum over the ISR).
            return;
        }
        let visible = self.local_visible_end();
        self.high_watermark = self.high_watermark.max(visible);
    }
}
