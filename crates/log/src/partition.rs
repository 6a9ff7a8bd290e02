//! `PartitionLog`: one partition's segmented log and its write path.
//!
//! Invariants:
//! - `segments` is non-empty, sorted by base offset and contiguous; the last one is active
//!   (writable) and all others are sealed. The log end offset is the active segment's
//!   `next_offset`.
//! - `log_start_offset <= high_watermark <= log_end_offset`; the high watermark is the log end
//!   except while an append waits for the fsync that makes it durable (`durability.rs`).
//!
//! Write path of [`PartitionLog::append`], in order:
//! 1. size check; 2. producer idempotence check (duplicates return early, nothing written);
//! 3. roll if the active segment is full, too old, or its relative offsets would overflow
//!    (a roll writes the producer snapshot `<new base>.snapshot`);
//! 4. patch base offset and leader epoch (and LogAppendTime + CRC if configured);
//! 5. positional write to the active `.log`, then sparse index entries;
//! 6. leader-epoch-checkpoint if the epoch is new;
//! 7. fsync of log and indexes if the flush policy is due ([`PartitionLog::append`]), or, for
//!    [`PartitionLog::append_deferred`] (group commit), a note that the batch must wait for an
//!    fsync done later without the lock (`durability.rs`);
//! 8. producer state (and, for an ABORT marker, the active segment's `.txnindex`; `txn.rs`),
//!    then the high watermark: a batch that must be durable becomes visible
//!    (fetchable and acknowledged) only after its fsync, so with `flush.messages=1` or durable
//!    acks=all the high watermark never covers unsynced data.
//!
//! A storage error in steps 3 to 7 cuts the batch back off the file and takes the log offline
//! (`failure.rs`). Rolling seals the old segment before the new one is created; an inline
//! append fsyncs it there, a deferred (group-commit) append leaves that fsync to the flusher
//! ([`AppendInfo::sealed_unsynced`]) so no lock is held across it. Crash recovery checks every
//! segment after the recovery point (`recovery.rs`).

use std::path::{Path, PathBuf};

use strata_records::{
    patch_base_offset, patch_leader_epoch, set_log_append_time_parts, BatchHeader, EndTxnMarker,
    RecordsError, BATCH_HEADER_LEN,
};

use crate::checkpoint::{sync_dir, write_clean_marker, write_leader_epochs, write_log_start};
use crate::durability::Durability;
use crate::error::IoContext;
use crate::leader_epoch::LeaderEpochCache;
use crate::producer_state::{ProducerState, SequenceCheck};
use crate::segment::Segment;
use crate::{LogConfig, LogError};

/// Result of an append (or of an acknowledged duplicate).
#[derive(Debug, Clone, Copy)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The append time stamped on the batch, or -1 for CreateTime topics and duplicates.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// True if the batch was a retry of an already written batch; nothing was written.
    pub duplicate: bool,
    /// For [`PartitionLog::append_deferred`]: the append sealed a segment without fsyncing it;
    /// a group-commit flush should sync it soon (nobody waits for it).
    pub sealed_unsynced: bool,
    /// For [`PartitionLog::append_deferred`]: the durable end an fsync must reach before the
    /// append may be acknowledged (`None`: acknowledge now).
    pub sync_end: Option<i64>,
}

/// What `open` found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// A clean shutdown marker was present, so no CRC scan was needed.
    pub clean_shutdown: bool,
    /// Batches read during recovery and index rebuilds.
    pub scanned_batches: usize,
    /// Bytes cut from the tail of the active segment.
    pub truncated_bytes: u64,
    /// Segments whose indexes were rebuilt.
    pub rebuilt_indexes: usize,
    /// Segments CRC-checked by crash recovery (every segment after an unclean shutdown).
    pub recovered_segments: usize,
    /// Segments moved aside (`.log.unrecovered`) because an earlier segment had to be cut.
    pub segments_moved_aside: usize,
    /// Producer state was rebuilt by scanning batch headers (no usable snapshot).
    pub producer_state_rebuilt: bool,
}

/// One partition's durable, segmented log.
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) high_watermark: i64,
    pub(crate) producers: ProducerState,
    pub(crate) epochs: LeaderEpochCache,
    pub(crate) unflushed_messages: u64,
    pub(crate) last_flush_ms: i64,
    /// End offset (exclusive) up to which sealed segments are durably recorded as uploaded;
    /// `None` until the tiering worker says so. Local retention never deletes past it.
    pub(crate) remote_upload_end: Option<i64>,
    pub(crate) report: OpenReport,
    /// Why the log is offline (`failure.rs`); `None` while it serves.
    pub(crate) failed: Option<String>,
    /// Offset below which everything is fsynced (see [`PartitionLog::recovery_point`]).
    pub(crate) recovery_point: i64,
    /// Mirrors `failed.is_some()` for lock-free readers.
    pub(crate) offline: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Offset below which every batch is fsynced (`durability.rs`).
    pub(crate) durable_end: i64,
    /// End of the last append that must be durable before it is visible (`durability.rs`).
    pub(crate) hold_end: i64,
    /// A group-commit roll created a segment whose directory entry is not yet fsynced.
    pub(crate) dir_unsynced: bool,
    /// A [`crate::SyncPlan`] that fsyncs the directory is being executed (`durability.rs`).
    pub(crate) dir_sync_in_flight: bool,
    /// The replica layer sets the high watermark (`replica_append.rs`).
    pub(crate) replicated: bool,
    /// Index files of segments a group-commit roll sealed without an fsync (`durability.rs`).
    pub(crate) unsynced_indexes: Vec<(std::sync::Arc<std::fs::File>, PathBuf)>,
}

/// How an append reaches the disk.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SyncMode {
    /// Fsync inside the append when the flush policy says so.
    Inline,
    /// Leave fsyncs to a group-commit flusher; hold the batch if it must be durable.
    Deferred(Durability),
}

impl PartitionLog {
    /// Opens (creating if needed) the partition log in `dir`; see `recovery.rs`. After an
    /// unclean shutdown every segment is CRC-checked.
    pub fn open(
        dir: &Path,
        topic_id: &str,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<PartitionLog, LogError> {
        crate::recovery::open(dir, topic_id, config, now_ms, None)
    }

    /// Like [`PartitionLog::open`], with the recovery point last reported by
    /// [`PartitionLog::recovery_point`] (Kafka's recovery-point checkpoint): after an unclean
    /// shutdown, segments that end at or below it were fsynced and are trusted; every later
    /// segment is CRC-checked.
    pub fn open_with_recovery_point(
        dir: &Path,
        topic_id: &str,
        config: LogConfig,
        now_ms: i64,
        recovery_point: Option<i64>,
    ) -> Result<PartitionLog, LogError> {
        crate::recovery::open(dir, topic_id, config, now_ms, recovery_point)
    }

    /// Offset below which every record is fsynced (with its indexes): the log end at open, the
    /// new segment's base at a roll that fsyncs (or once a group-commit flush has synced every
    /// sealed segment), the log end after each full flush. A checkpoint of it bounds
    /// crash recovery.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Replaces the configuration; takes effect on the next append or retention pass.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The configuration in effect.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Appends one validated client batch, patching it in place (see the module docs).
    pub fn append(
        &mut self,
        batch: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        if batch.len() < BATCH_HEADER_LEN {
            BatchHeader::parse(batch)?;
        }
        let (head, body) = batch.split_at_mut(BATCH_HEADER_LEN);
        let mut patched: [u8; BATCH_HEADER_LEN] = head.try_into().expect("split at header length");
        let info = self.append_parts(
            &mut patched,
            body,
            leader_epoch,
            now_ms,
            SyncMode::Inline,
            None,
        )?;
        head.copy_from_slice(&patched);
        Ok(info)
    }

    /// Appends one validated client batch without copying it: only its 61-byte header is copied
    /// and patched; the records are written from `batch` as they are.
    pub fn append_shared(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_unpatched(batch, leader_epoch, now_ms, SyncMode::Inline)
    }

    /// Appends one validated client batch like [`PartitionLog::append_shared`], but never
    /// fsyncs: when the batch must be durable before it is acknowledged (`durability` is
    /// [`Durability::Fsync`], or `flush.messages` is reached) it is held back from readers and
    /// [`AppendInfo::sync_end`] says how far a group-commit fsync ([`PartitionLog::sync_plan`])
    /// must reach. A duplicate of a batch that is not yet durable waits for the same fsync.
    pub fn append_deferred(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        durability: Durability,
    ) -> Result<AppendInfo, LogError> {
        let mode = SyncMode::Deferred(durability);
        self.append_unpatched(batch, leader_epoch, now_ms, mode)
    }

    /// Copies the batch's header, patches the copy, writes the rest from `batch` as it is.
    fn append_unpatched(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        mode: SyncMode,
    ) -> Result<AppendInfo, LogError> {
        if batch.len() < BATCH_HEADER_LEN {
            BatchHeader::parse(batch)?;
        }
        let (head, body) = batch.split_at(BATCH_HEADER_LEN);
        let mut patched: [u8; BATCH_HEADER_LEN] = head.try_into().expect("split at header length");
        self.append_parts(&mut patched, body, leader_epoch, now_ms, mode, None)
    }

    /// The write path for a batch held as its header (patched in place) and the rest. A
    /// control batch is accepted only with its `marker` (the coordinator's path, `txn.rs`).
    pub(crate) fn append_parts(
        &mut self,
        head: &mut [u8; BATCH_HEADER_LEN],
        body: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        mode: SyncMode,
        marker: Option<EndTxnMarker>,
    ) -> Result<AppendInfo, LogError> {
        let total = head.len() + body.len();
        if total > self.config.max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size: total,
                max: self.config.max_message_bytes,
            });
        }
        let header = BatchHeader::parse(head)?;
        if header.total_len() != total || header.last_offset_delta < 0 {
            return Err(RecordsError::InvalidRecord("append expects exactly one batch").into());
        }
        if header.is_control() != marker.is_some() {
            return Err(RecordsError::InvalidRecord("clients may not send control batches").into());
        }
        if let SequenceCheck::Duplicate {
            base_offset,
            last_offset,
        } = self.producers.check(&header)?
        {
            // A retry acknowledges what the original would: after the same fsync.
            let durable = matches!(mode, SyncMode::Deferred(Durability::Fsync));
            let sync_end = (durable && last_offset >= self.durable_end).then_some(last_offset + 1);
            return Ok(AppendInfo {
                base_offset,
                last_offset,
                log_append_time: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
                sync_end,
                sealed_unsynced: false,
            });
        }
        self.ensure_online()?;
        // Group commit seals without an fsync under the lock; the flusher syncs it.
        let sync_seal = matches!(mode, SyncMode::Inline);
        let rolled = match self.maybe_roll(total, header.last_offset_delta, now_ms, sync_seal) {
            Ok(rolled) => rolled,
            Err(e) => return Err(self.fail_on_io("roll", e)),
        };
        let position = self.active().size;
        match self.write_batch(head, body, leader_epoch, now_ms, mode, marker) {
            Ok(mut info) => {
                info.sealed_unsynced = rolled && !sync_seal;
                Ok(info)
            }
            Err((operation, e)) => {
                if matches!(e, LogError::Io { .. }) {
                    self.cut_active_to(position);
                }
                Err(self.fail_on_io(operation, e))
            }
        }
    }

    /// Steps 4 to 7 of the write path; an error names the step that failed.
    fn write_batch(
        &mut self,
        head: &mut [u8; BATCH_HEADER_LEN],
        body: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        mode: SyncMode,
        marker: Option<EndTxnMarker>,
    ) -> Result<AppendInfo, (&'static str, LogError)> {
        let base_offset = self.log_end_offset();
        patch_base_offset(head, base_offset);
        patch_leader_epoch(head, leader_epoch);
        let log_append_time = if self.config.message_timestamp_type_log_append {
            set_log_append_time_parts(head, body, now_ms);
            now_ms
        } else {
            -1
        };
        let header = BatchHeader::parse(head).map_err(|e| ("patch", e.into()))?;
        let interval = self.config.index_interval_bytes as u64;
        self.active_mut()
            .append(&[&head[..], body], &header, interval, now_ms)
            .map_err(|e| ("write", e))?;
        if self.epochs.assign(leader_epoch, base_offset) {
            write_leader_epochs(&self.dir, self.epochs.entries())
                .map_err(|e| ("leader-epoch-checkpoint", e))?;
        }
        self.unflushed_messages = self
            .unflushed_messages
            .saturating_add(header.records_count.max(0) as u64);
        let flush_due = self.unflushed_messages >= self.config.flush_messages
            || now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms;
        let must_sync = match mode {
            SyncMode::Inline => {
                if flush_due {
                    self.flush_segments().map_err(|e| ("fsync", e))?;
                    self.last_flush_ms = now_ms;
                }
                false
            }
            SyncMode::Deferred(durability) => {
                if flush_due {
                    self.last_flush_ms = now_ms;
                }
                flush_due || durability == Durability::Fsync
            }
        };
        // Only now may readers and acks see the batch, and a batch that must be durable only
        // once an fsync covers it: the high watermark never covers such data unsynced.
        self.record_in_producer_state(&header, marker)
            .map_err(|e| ("txn-index", e))?;
        self.note_appended(must_sync);
        Ok(AppendInfo {
            base_offset,
            last_offset: header.last_offset(),
            log_append_time,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            sync_end: must_sync.then(|| self.log_end_offset()),
            sealed_unsynced: false,
        })
    }

    /// Rolls if the batch would not fit; returns whether it rolled.
    pub(crate) fn maybe_roll(
        &mut self,
        batch_len: usize,
        last_offset_delta: i32,
        now_ms: i64,
        sync_seal: bool,
    ) -> Result<bool, LogError> {
        let limit = self.config.segment_bytes.min(u64::from(u32::MAX));
        let leo = self.log_end_offset();
        let active = self.active();
        if active.is_empty() {
            return Ok(false);
        }
        let full = active.size + batch_len as u64 > limit;
        let offsets_overflow =
            leo + i64::from(last_offset_delta) - active.base_offset > i64::from(i32::MAX);
        if full || offsets_overflow || self.segment_aged(now_ms) {
            self.roll_with(sync_seal)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// True if the active segment is non-empty and older than `segment_ms`.
    pub(crate) fn segment_aged(&self, now_ms: i64) -> bool {
        let active = self.active();
        !active.is_empty()
            && active
                .rolling_base_ms
                .is_some_and(|base| now_ms.saturating_sub(base) > self.config.segment_ms)
    }

    /// Seals the active segment and starts a new one at the log end offset. Without `sync_seal`
    /// the sealed `.log` is not fsynced here: neither the durable end nor the recovery point
    /// moves until a [`crate::SyncPlan`] covers it (`durability.rs`).
    pub(crate) fn roll_with(&mut self, sync_seal: bool) -> Result<(), LogError> {
        let base = self.log_end_offset();
        let unsynced = self.active_mut().seal_with(sync_seal)?;
        self.unsynced_indexes.extend(unsynced);
        if sync_seal {
            self.recovery_point = self.recovery_point.max(base);
            self.advance_durable(base);
        }
        let segment = Segment::create(&self.dir, base)?;
        // The producer state at the sealed segment's end: it travels with the segment to the
        // remote tier and seeds a replay after a crash (`producer_snapshot.rs`).
        self.producers
            .write_segment_snapshot(&self.dir, base, sync_seal)?;
        if sync_seal {
            sync_dir(&self.dir)?;
        } else {
            // The new segment's directory entry is synced by the next SyncPlan, before any of
            // its data counts as durable.
            self.dir_unsynced = true;
        }
        tracing::debug!(dir = %self.dir.display(), base, "rolled segment");
        self.segments.push(segment);
        Ok(())
    }

    pub(crate) fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has a segment")
    }

    /// Fsyncs every segment with unflushed data, and their indexes. A failure takes the log
    /// offline (see `failure.rs`).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.ensure_online()?;
        self.flush_segments()
            .map_err(|e| self.fail_on_io("fsync", e))
    }

    fn flush_segments(&mut self) -> Result<(), LogError> {
        for segment in &mut self.segments {
            segment.flush()?;
        }
        for (file, path) in &self.unsynced_indexes {
            file.sync_data()
                .ctx(|| format!("fsync index {}", path.display()))?;
        }
        self.unsynced_indexes.clear();
        self.unflushed_messages = 0;
        self.recovery_point = self.log_end_offset();
        self.advance_durable(self.recovery_point);
        Ok(())
    }

    /// Flushes if `flush.ms` has passed since the last flush and something is unflushed (Kafka's
    /// periodic log flusher). Returns whether it flushed.
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        if self.is_offline()
            || self.unflushed_messages == 0
            || now_ms.saturating_sub(self.last_flush_ms) < self.config.flush_ms
        {
            return Ok(false);
        }
        self.flush()?;
        self.last_flush_ms = now_ms;
        Ok(true)
    }

    /// First offset that may be read.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// High watermark: the log end offset for a single replica, except while appends wait for
    /// the fsync that makes them durable (`durability.rs`).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Total bytes of all segment `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Number of segments, including the active one.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Latest leader epoch recorded in the log, or -1.
    pub fn leader_epoch(&self) -> i32 {
        self.epochs.latest_epoch()
    }

    /// Records that this replica leads from `epoch` on, starting at its log end (Kafka's
    /// `maybeAssignEpochStartOffset` on becoming leader), so that OffsetForLeaderEpoch answers
    /// for the epoch a client learned from this leader even before anything is appended in it.
    /// Only a newer epoch is recorded; the checkpoint is rewritten when it is.
    pub fn assign_leader_epoch(&mut self, epoch: i32) -> Result<(), LogError> {
        if self.epochs.assign(epoch, self.log_end_offset()) {
            write_leader_epochs(&self.dir, self.epochs.entries())?;
        }
        Ok(())
    }

    /// OffsetForLeaderEpoch: `(largest epoch <= epoch, its end offset)`, `(-1, -1)` if unknown.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// What the last `open` found and repaired.
    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Flushes, seals the active segment's indexes, writes the producer snapshot and
    /// checkpoints, and finally the clean shutdown marker.
    /// An offline log writes nothing and answers `Offline`: without the marker, the next open
    /// runs full recovery.
    pub fn close(mut self) -> Result<(), LogError> {
        self.flush()?;
        self.active_mut().seal()?;
        let leo = self.log_end_offset();
        self.producers.write_snapshot(&self.dir, leo)?;
        write_log_start(&self.dir, self.log_start_offset)?;
        write_leader_epochs(&self.dir, self.epochs.entries())?;
        write_clean_marker(&self.dir)
    }

    /// Deletes the partition: every file and the directory itself.
    pub fn truncate_all_and_delete(self) -> Result<(), LogError> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(&dir).ctx(|| format!("remove partition dir {}", dir.display()))
    }
}
