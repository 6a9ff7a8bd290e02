//! A coordinator's view of one internal partition this broker leads (`__consumer_offsets` or
//! `__transaction_state`): an [`InternalLog`] over the replicated partition.
//!
//! Invariants:
//! - a write is stored only when it is fsynced here (group commit) *and* inside the high
//!   watermark — on every ISR member — as an acks=all produce; only then does the coordinator
//!   answer the client, so an acknowledged commit survives the loss of this broker;
//! - a log belongs to one leader term: every append checks that this broker still leads the
//!   partition in the epoch the coordinator loaded, and stamps that epoch into the batches; a
//!   write of an old term fails (and is answered as not stored) instead of landing in a log
//!   another leader owns;
//! - a write is refused below `min.insync.replicas`, and fails if the ISR does not take it
//!   within `offsets.commit.timeout.ms`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use strata_coordinator::{InternalLog, StorageError};
use strata_log::Durability;

use crate::broker::Broker;
use crate::partition::Partition;

/// How often a waiting write looks at the high watermark even without a wake-up.
const POLL: Duration = Duration::from_millis(20);

/// An internal partition led by this broker in one leader epoch.
pub(crate) struct ReplicatedLog {
    broker: Weak<Broker>,
    part: Arc<Partition>,
    epoch: i32,
    timeout: Duration,
}

impl ReplicatedLog {
    pub(crate) fn new(broker: &Arc<Broker>, part: Arc<Partition>, epoch: i32) -> ReplicatedLog {
        ReplicatedLog {
            broker: Arc::downgrade(broker),
            part,
            epoch,
            timeout: Duration::from_millis(broker.config.offsets_commit_timeout_ms),
        }
    }

    /// Err unless this broker still leads the partition in the loaded epoch.
    fn check_term(&self) -> Result<(), StorageError> {
        if self.part.following().is_some() || self.part.leader_epoch() != self.epoch {
            return Err(StorageError::Unavailable(format!(
                "{}-{} is no longer led here in epoch {}",
                self.part.topic, self.part.index, self.epoch
            )));
        }
        Ok(())
    }

    /// Waits until the high watermark reaches `end` (or the term ends, or time runs out).
    async fn wait_committed(&self, end: i64) -> Result<(), StorageError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let woken = self.part.readers_woken();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.part.log().high_watermark() >= end {
                return Ok(());
            }
            self.check_term()?;
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError::Unavailable(format!(
                    "the ISR of {}-{} did not take the write within offsets.commit.timeout.ms={}",
                    self.part.topic,
                    self.part.index,
                    self.timeout.as_millis()
                )));
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

impl InternalLog for ReplicatedLog {
    fn append(&self, batches: &mut [Vec<u8>], now_ms: i64) -> Result<(), StorageError> {
        let broker = self.broker.upgrade().ok_or(StorageError::Closed)?;
        self.check_term()?;
        let min_isr = self.part.settings().min_insync_replicas;
        let isr = self.part.isr_size();
        if self.part.is_replicated() && isr < min_isr {
            return Err(StorageError::Unavailable(format!(
                "min.insync.replicas={min_isr} but the ISR of {}-{} has {isr}",
                self.part.topic, self.part.index
            )));
        }
        let (end, sync_end, sealed) = {
            let mut log = self.part.log();
            let mut sync_end = None;
            let mut sealed = None;
            for batch in batches.iter_mut() {
                let info = log.append_deferred(batch, self.epoch, now_ms, Durability::Fsync)?;
                if let Some(e) = info.sync_end {
                    sync_end = Some(e);
                } else if info.sealed_unsynced {
                    sealed = Some(info.base_offset);
                }
            }
            (log.log_end_offset(), sync_end, sealed)
        };
        self.part.refresh_high_watermark();
        self.part.wake_readers();
        if let Some(base) = sealed {
            broker.flusher.sync_detached(self.part.clone(), base);
        }
        crate::metadata_quorum::block_on(async {
            if let Some(e) = sync_end {
                match broker.flusher.sync(self.part.clone(), e).await {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => return Err(StorageError::Unavailable(why)),
                    Err(_) => return Err(StorageError::Unavailable("the flusher stopped".into())),
                }
            }
            self.wait_committed(end).await
        })
    }

    fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, StorageError> {
        strata_coordinator::read_batches(&self.part.log(), offset, max_bytes)
    }

    fn bounds(&self) -> (i64, i64) {
        let log = self.part.log();
        (log.log_start_offset(), log.log_end_offset())
    }
}
