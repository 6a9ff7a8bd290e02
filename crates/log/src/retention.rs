//! Deleting old data: retention by time and size, and DeleteRecords.
//!
//! Invariants: only whole sealed segments are deleted (with their `.txnindex` and the producer
//! snapshots below the new first segment), oldest first, never the active one; a
//! segment goes only when every earlier segment goes too. The log start offset only moves
//! forward and is checkpointed (atomically) whenever it moves. Deleted files may still be
//! open in `ReadSlice`s; their data stays readable through those handles.

use crate::checkpoint::{sync_dir, write_leader_epochs, write_log_start};
use crate::{LogError, PartitionLog};

impl PartitionLog {
    /// Rolls an aged active segment (sealed without an fsync under the caller's lock:
    /// [`PartitionLog::seal_pending`] then asks for a group-commit sync), then deletes sealed
    /// segments beyond `retention_ms`, beyond `retention_bytes`, or wholly below the log start.
    /// Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        if self.is_offline() {
            return Ok(0);
        }
        if self.segment_aged(now_ms) {
            if let Err(e) = self.roll_with(false) {
                return Err(self.fail_on_io("roll", e));
            }
        }
        let sealed = self.segments.len() - 1;
        let mut count = self.segments_below_log_start();
        if self.config.retention_ms >= 0 {
            let expired = self.segments[..sealed]
                .iter()
                .take_while(|s| now_ms.saturating_sub(s.max_timestamp) > self.config.retention_ms)
                .count();
            count = count.max(expired);
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
            let oversize = self.segments[..sealed]
                .iter()
                .take_while(|s| {
                    let fits = excess - s.size as i64 >= 0;
                    if fits {
                        excess -= s.size as i64;
                    }
                    fits
                })
                .count();
            count = count.max(oversize);
        }
        if self.config.remote_storage_enable {
            // Tiered: total retention by time still deletes expired data outright (advancing the
            // log start), but size and local retention only remove segments already uploaded,
            // leaving the log start where it is (the data lives on remotely).
            let expired = if self.config.retention_ms >= 0 {
                self.segments[..sealed]
                    .iter()
                    .take_while(|s| {
                        now_ms.saturating_sub(s.max_timestamp) > self.config.retention_ms
                    })
                    .count()
            } else {
                0
            };
            let expired = expired.max(self.segments_below_log_start());
            self.delete_oldest(expired)?;
            let local = self.locally_retained_count(now_ms);
            self.delete_oldest_local(local)?;
            return Ok(expired + local);
        }
        self.delete_oldest(count)?;
        Ok(count)
    }

    /// How many of the oldest sealed segments local retention removes: those beyond
    /// `local.retention.ms`/`.bytes` and wholly uploaded (ending at or below the upload end).
    fn locally_retained_count(&self, now_ms: i64) -> usize {
        let Some(uploaded_end) = self.remote_upload_end else {
            return 0;
        };
        let sealed = self.segments.len() - 1;
        let uploaded = self.segments[..sealed]
            .iter()
            .take_while(|s| s.next_offset <= uploaded_end)
            .count();
        let mut count = 0;
        let ms = self.config.effective_local_retention_ms();
        if ms >= 0 {
            count = self.segments[..uploaded]
                .iter()
                .take_while(|s| now_ms.saturating_sub(s.max_timestamp) > ms)
                .count();
        }
        let bytes = self.config.effective_local_retention_bytes();
        if bytes >= 0 {
            let mut excess = self.size_bytes() as i64 - bytes;
            let oversize = self.segments[..uploaded]
                .iter()
                .take_while(|s| {
                    let fits = excess - s.size as i64 >= 0;
                    if fits {
                        excess -= s.size as i64;
                    }
                    fits
                })
                .count();
            count = count.max(oversize);
        }
        count
    }

    /// Deletes the oldest `count` sealed segments from local disk without moving the log start.
    fn delete_oldest_local(&mut self, count: usize) -> Result<(), LogError> {
        if count == 0 {
            return Ok(());
        }
        let count = count.min(self.segments.len() - 1);
        for segment in self.segments.drain(..count) {
            tracing::info!(dir = %self.dir.display(), base = segment.base_offset, "deleting uploaded local segment");
            segment.delete_files()?;
        }
        self.delete_snapshots_below_first_segment()?;
        sync_dir(&self.dir)
    }

    /// DeleteRecords: makes `offset` (`-1` = high watermark) the log start if it is higher,
    /// and deletes segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        self.ensure_online()?;
        let target = if offset == -1 {
            self.high_watermark
        } else {
            offset
        };
        if target < 0 || target > self.high_watermark {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.high_watermark,
            });
        }
        if target > self.log_start_offset {
            self.advance_log_start(target)?;
        }
        let count = self.segments_below_log_start();
        self.delete_oldest(count)?;
        Ok(self.log_start_offset)
    }

    /// Sealed segments whose successor starts at or below the log start.
    fn segments_below_log_start(&self) -> usize {
        self.segments
            .windows(2)
            .take_while(|w| w[1].base_offset <= self.log_start_offset)
            .count()
    }

    fn delete_oldest(&mut self, count: usize) -> Result<(), LogError> {
        if count == 0 {
            return Ok(());
        }
        let count = count.min(self.segments.len() - 1);
        let new_start = self.segments[count].base_offset;
        if new_start > self.log_start_offset {
            self.advance_log_start(new_start)?;
        }
        for segment in self.segments.drain(..count) {
            tracing::info!(dir = %self.dir.display(), base = segment.base_offset, "deleting segment");
            segment.delete_files()?;
        }
        self.delete_snapshots_below_first_segment()?;
        sync_dir(&self.dir)
    }

    /// Producer snapshots below the first segment belong to deleted segments; the one at its
    /// base stays (it seeds a replay of what is left).
    fn delete_snapshots_below_first_segment(&self) -> Result<(), LogError> {
        let first = self.segments[0].base_offset;
        crate::producer_snapshot::delete_segment_snapshots_outside(&self.dir, first, i64::MAX)
    }

    fn advance_log_start(&mut self, log_start: i64) -> Result<(), LogError> {
        self.log_start_offset = log_start;
        write_log_start(&self.dir, log_start)?;
        if self.epochs.truncate_from_start(log_start) {
            write_leader_epochs(&self.dir, self.epochs.entries())?;
        }
        Ok(())
    }
}
