//! Taking a log offline after a storage error (Kafka's log-dir failure handling, per partition).
//!
//! Invariants:
//! - a failed write, fsync, roll or checkpoint on the write path takes the log offline once and
//!   for good: from then on every append, flush, read and close answers [`LogError::Offline`]
//!   (KAFKA_STORAGE_ERROR), so nothing more is acknowledged or served for the partition until
//!   the broker restarts;
//! - the batch whose write failed is cut back off the active segment (best effort: `set_len` to
//!   the position it was written at), so a partial batch never sits in front of later data;
//! - an offline log never writes its clean-shutdown marker, so the next open runs full crash
//!   recovery, which cuts whatever the failed write left behind;
//! - the shared flag is what the broker reads without taking the log's lock.
//!
//! Metrics: `strata_offline_partitions` (gauge, +1 when a log goes offline, -1 when it is
//! dropped) and `strata_log_storage_errors_total` (counter, by operation).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{LogError, PartitionLog};

impl PartitionLog {
    /// Why the log is offline, or `None` while it serves.
    pub fn offline_reason(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// True once a storage error has taken the log offline.
    pub fn is_offline(&self) -> bool {
        self.failed.is_some()
    }

    /// A flag that turns true when the log goes offline, readable without the log's lock.
    pub fn offline_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.offline)
    }

    /// `Err(Offline)` if the log is offline.
    pub(crate) fn ensure_online(&self) -> Result<(), LogError> {
        match &self.failed {
            None => Ok(()),
            Some(reason) => Err(LogError::Offline {
                dir: self.dir.display().to_string(),
                reason: reason.clone(),
            }),
        }
    }

    /// Takes the log offline if `err` is a storage error; returns `err` for the caller.
    pub(crate) fn fail_on_io(&mut self, operation: &'static str, err: LogError) -> LogError {
        if matches!(err, LogError::Io { .. }) && self.failed.is_none() {
            tracing::error!(dir = %self.dir.display(), operation, error = %err,
                "storage error: partition log is offline until restart");
            metrics::counter!("strata_log_storage_errors_total", "operation" => operation)
                .increment(1);
            metrics::gauge!("strata_offline_partitions").increment(1.0);
            self.failed = Some(err.to_string());
            self.offline.store(true, Ordering::Release);
        }
        err
    }

    /// Cuts the active segment's file back to `position` after a failed append (best effort:
    /// a failure here is logged; recovery at the next start cuts the tail anyway).
    pub(crate) fn cut_active_to(&mut self, position: u64) {
        let active = self.segments.last().expect("a log always has a segment");
        if let Err(e) = active.file().set_len(position) {
            tracing::error!(segment = %active.log_path().display(), position, error = %e,
                "could not cut a partial write; recovery will cut it at the next start");
        }
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        if self.failed.is_some() {
            metrics::gauge!("strata_offline_partitions").decrement(1.0);
        }
    }
}
