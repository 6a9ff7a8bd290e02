//! Cutting a log's tail: a follower whose log diverged from its leader's (Kafka's
//! `UnifiedLog.truncateTo`).
//!
//! Invariants of [`PartitionLog::truncate_to`]:
//! - whole batches only: a batch that contains the target offset is removed entirely, so the
//!   new log end is at or below the target (the base offset of that batch);
//! - segments that start at or past the new end are deleted; the log always keeps one segment,
//!   and the one the cut falls in becomes the (writable) active segment, its file cut, its
//!   indexes rebuilt by a scan, and fsynced, so a crash cannot bring the cut batches back;
//! - the producer state and the `.txnindex` entries are rebuilt by replaying the remaining
//!   batches from the latest producer snapshot at or below the new end (later snapshots are
//!   deleted; `replay.rs`), and the leader-epoch cache
//!   drops every epoch that starts at or after the new end (checkpointed);
//! - the high watermark, the durable end, held appends, the recovery point and the cleaner
//!   checkpoint never exceed the new end;
//! - a target below the local log start is refused (OffsetOutOfRange): the caller decides
//!   whether to reset the whole log instead.
//!
//! [`PartitionLog::truncate_fully_and_start_at`] is that reset (Kafka's
//! `truncateFullyAndStartAt`), for a follower whose log end lies below its leader's log start (a
//! new replica of a partition whose oldest records retention or DeleteRecords removed): every
//! segment is deleted, an empty active segment starts at the new offset, which becomes the log
//! start, log end, high watermark and recovery point; producer state, producer snapshots and
//! leader epochs are forgotten. Order on disk: segments deleted, new segment created, log-start checkpoint, empty
//! leader-epoch checkpoint, directory fsync — a crash in between reopens as an empty log at the
//! old or the new start, and the follower resets again.
//!
//! A storage error takes the log offline (`failure.rs`), as on the write path.

use std::fs::OpenOptions;

use crate::checkpoint::{sync_dir, write_leader_epochs, write_log_start};
use crate::error::IoContext;
use crate::leader_epoch::LeaderEpochCache;
use crate::producer_snapshot::delete_segment_snapshots_outside;
use crate::producer_state::ProducerState;
use crate::segment::{OpenMode, Segment};
use crate::{LogError, PartitionLog};

impl PartitionLog {
    /// Removes every batch at or after `offset` (see the module docs); returns the new log end.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, LogError> {
        self.ensure_online()?;
        let log_end = self.log_end_offset();
        if offset >= log_end {
            return Ok(log_end);
        }
        let local_start = self.local_log_start_offset();
        if offset < local_start.max(self.log_start_offset) {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: local_start.max(self.log_start_offset),
                log_end,
            });
        }
        match self.cut_tail(offset) {
            Ok(end) => Ok(end),
            Err(e) => Err(self.fail_on_io("truncate", e)),
        }
    }

    /// Deletes every batch and restarts the log, empty, at `offset` (see the module docs).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.ensure_online()?;
        match self.reset_at(offset.max(0)) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail_on_io("truncate fully", e)),
        }
    }

    fn reset_at(&mut self, offset: i64) -> Result<(), LogError> {
        let from = (self.log_start_offset, self.log_end_offset());
        // Emptying a log that holds no local records (a read replica's, or a restored tiered
        // log moving to the bucket's end) loses nothing: not worth a warning.
        let had_records = self.segments.iter().any(|s| s.size > 0);
        for segment in self.segments.drain(..) {
            segment.delete_files()?;
        }
        self.segments.push(Segment::create(&self.dir, offset)?);
        self.log_start_offset = offset;
        write_log_start(&self.dir, offset)?;
        self.epochs = LeaderEpochCache::new(Vec::new());
        write_leader_epochs(&self.dir, self.epochs.entries())?;
        sync_dir(&self.dir)?;
        delete_segment_snapshots_outside(&self.dir, i64::MAX, i64::MIN)?;
        self.producers = ProducerState::default();
        self.high_watermark = offset;
        self.durable_end = offset;
        self.hold_end = offset;
        self.recovery_point = offset;
        self.unflushed_messages = 0;
        self.unsynced_indexes.clear();
        self.dir_unsynced = false;
        if had_records {
            tracing::warn!(dir = %self.dir.display(), from_start = from.0, from_end = from.1,
                start = offset, "emptied the log and restarted it at the leader's log start");
        } else {
            tracing::debug!(dir = %self.dir.display(), from_start = from.0, from_end = from.1,
                start = offset, "restarted an empty log at a new start");
        }
        Ok(())
    }

    fn cut_tail(&mut self, offset: i64) -> Result<i64, LogError> {
        let index = self.segment_index(offset);
        for later in self.segments.drain(index + 1..) {
            later.delete_files()?;
        }
        // Byte position of the first batch that reaches `offset`.
        let segment = &self.segments[index];
        let mut cut = segment.size;
        for item in segment.scan_from_offset(offset) {
            let (position, header) = item?;
            if header.last_offset() >= offset {
                cut = position;
                break;
            }
        }
        let base = segment.base_offset;
        let path = segment.log_path().to_path_buf();
        // Replace the segment: cut its file, then reopen it as the active segment (a scan
        // rebuilds its indexes and its end).
        self.segments.truncate(index);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(cut))
            .ctx(|| format!("truncate {} to {cut} bytes", path.display()))?;
        let interval = self.config.index_interval_bytes as u64;
        let (mut active, _) = Segment::open(&self.dir, base, OpenMode::Recover, interval, None)?;
        active.flush()?;
        self.segments.push(active);
        sync_dir(&self.dir)?;

        let end = self.log_end_offset();
        crate::cleaner::truncate_cleaner_checkpoint(&self.dir, end)?;
        let first_base = self.segments[0].base_offset;
        delete_segment_snapshots_outside(&self.dir, first_base, end)?;
        // Replays from the latest snapshot at or below the new end; also drops the `.txnindex`
        // entries of cut markers.
        self.producers = crate::replay::rebuild(&self.dir, &mut self.segments)?;
        if self.epochs.truncate_from_end(end) {
            write_leader_epochs(&self.dir, self.epochs.entries())?;
        }
        self.high_watermark = self.high_watermark.min(end);
        self.durable_end = self.durable_end.min(end);
        self.hold_end = self.hold_end.min(end);
        self.recovery_point = self.recovery_point.min(end);
        self.unflushed_messages = 0;
        self.remote_upload_end = self.remote_upload_end.map(|e| e.min(end));
        tracing::info!(dir = %self.dir.display(), requested = offset, log_end = end,
            "truncated the log tail");
        Ok(end)
    }
}
