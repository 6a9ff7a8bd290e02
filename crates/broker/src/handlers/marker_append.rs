//! Writing a COMMIT or ABORT marker into a partition this broker leads, and waiting until it
//! counts: durable and below the high watermark, as an acks=all produce.
//!
//! Steps of [`append_marker`] (the leader side of WriteTxnMarkers):
//! 1. the partition must be led here (`Broker::serving_partition`: NOT_LEADER_OR_FOLLOWER,
//!    UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR);
//! 2. `PartitionLog::append_marker` under the partition's lock, with the replica state's leader
//!    epoch and the topic's acks=all durability (`strata.acks.all.fsync`): the only path by
//!    which a control batch enters a leader's log; a stale producer or coordinator epoch is
//!    refused there before anything is written;
//! 3. the high watermark is refreshed and long-polling fetches are woken (the LSO may move);
//! 4. [`MarkerWrite::wait`]: the group-commit flusher fsyncs the marker if it must be durable
//!    (KAFKA_STORAGE_ERROR if that fails), then the high watermark must reach past it (every
//!    ISR member has it) within the timeout (REQUEST_TIMED_OUT), with this broker still leading
//!    at the same epoch (NOT_LEADER_OR_FOLLOWER otherwise: a new leader may cut it, and the
//!    coordinator retries there).
//!
//! Until the high watermark passes the marker the transaction still holds the partition's LSO
//! (`strata_log`'s unreplicated transactions), so read_committed never sees a decision that a
//! leader change could undo.

use std::sync::Arc;
use std::time::Duration;

use strata_log::{Durability, TxnMarker};

use super::blocking;
use crate::broker::{now_ms, Broker, NOT_LEADER_OR_FOLLOWER};
use crate::partition::Partition;

const REQUEST_TIMED_OUT: i16 = 7;
const KAFKA_STORAGE_ERROR: i16 = 56;

/// A marker written to a partition's log, not yet known to be durable and replicated.
pub(crate) struct MarkerWrite {
    part: Arc<Partition>,
    /// One past the marker's offset.
    end: i64,
    epoch: i32,
    receipt: Option<tokio::sync::oneshot::Receiver<Result<(), crate::flusher::SyncError>>>,
}

/// Steps 1 to 3 (module docs): appends `marker` to `topic`-`index`; an error is a Kafka code.
pub(crate) fn append_marker(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    marker: &TxnMarker,
) -> Result<MarkerWrite, i16> {
    let part = broker.serving_partition(topic, index)?;
    let durability = if part.settings().acks_all_fsync {
        Durability::Fsync
    } else {
        Durability::PageCache
    };
    let epoch = part.leader_epoch();
    let now = now_ms();
    let appended = blocking(|| part.log().append_marker(marker, epoch, now, durability));
    let info = appended.map_err(|e| {
        tracing::warn!(topic, partition = index, producer_id = marker.producer_id, error = %e,
            "transaction marker refused");
        e.kafka_error_code()
    })?;
    part.refresh_high_watermark();
    part.wake_readers();
    let receipt = match info.sync_end {
        Some(end) => Some(broker.flusher.sync(Arc::clone(&part), end)),
        None => {
            if info.sealed_unsynced {
                broker
                    .flusher
                    .sync_detached(Arc::clone(&part), info.base_offset);
            }
            None
        }
    };
    let result = if marker.commit { "commit" } else { "abort" };
    metrics::counter!("strata_txn_markers_written_total", "result" => result).increment(1);
    Ok(MarkerWrite {
        part,
        end: info.last_offset + 1,
        epoch,
        receipt,
    })
}

impl MarkerWrite {
    /// Step 4 (module docs): `Ok` once the marker is durable and below the high watermark.
    pub(crate) async fn wait(self, timeout: Duration) -> Result<(), i16> {
        let deadline = tokio::time::Instant::now() + timeout;
        if let Some(receipt) = self.receipt {
            match tokio::time::timeout_at(deadline, receipt).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(why))) => {
                    tracing::error!(error = %why, "fsync of a transaction marker failed");
                    return Err(KAFKA_STORAGE_ERROR);
                }
                Ok(Err(_)) => return Err(KAFKA_STORAGE_ERROR),
                Err(_) => return Err(REQUEST_TIMED_OUT),
            }
        }
        loop {
            let woken = self.part.readers_woken();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.part.log().high_watermark() >= self.end {
                return Ok(());
            }
            if self.part.following().is_some() || self.part.leader_epoch() != self.epoch {
                return Err(NOT_LEADER_OR_FOLLOWER);
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return if self.part.log().high_watermark() >= self.end {
                        Ok(())
                    } else {
                        Err(REQUEST_TIMED_OUT)
                    };
                }
            }
        }
    }
}
