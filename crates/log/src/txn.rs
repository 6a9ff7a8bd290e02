//! The partition side of transactions: COMMIT/ABORT markers, the last stable offset, aborted
//! transactions for read_committed fetches, and the producer view DescribeProducers needs.
//!
//! Invariants:
//! - [`PartitionLog::append_marker`] is the only way a control batch enters a leader's log:
//!   the client paths refuse the control bit (`append_parts` takes a control batch only with
//!   its marker). A follower copies the leader's markers verbatim (`replica_append.rs`).
//! - A transactional batch opens a transaction for its producer at its base offset if none is
//!   open; the producer's marker closes it. While it is open the producer's non-transactional
//!   batches are refused (INVALID_TXN_STATE). A marker whose producer epoch or coordinator
//!   epoch is older than the producer's is refused (INVALID_PRODUCER_EPOCH,
//!   TRANSACTION_COORDINATOR_FENCED), before anything is written.
//! - `last_stable_offset = min(high watermark, first offset of the oldest open transaction,
//!   first offset of a completed one whose marker is not yet below the high watermark)`.
//! - Every ABORT marker adds `(producer, first offset, marker offset, LSO after it)` to the
//!   `.txnindex` of the segment it lands in, in the same step that records it in the producer
//!   state; the index follows the segment through recovery (rebuilt by replay), truncation,
//!   retention and tiering.

use strata_records::{build_end_txn_marker, BatchHeader, EndTxnMarker, BATCH_HEADER_LEN};

use crate::partition::SyncMode;
use crate::replay::index_entry;
use crate::txn_index::{collect_aborted, AbortedTxn};
use crate::{AppendInfo, Durability, LogError, PartitionLog};

/// A COMMIT or ABORT marker to write for one producer (WriteTxnMarkers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The producer epoch the transaction ends with.
    pub producer_epoch: i16,
    /// COMMIT (true) or ABORT (false).
    pub commit: bool,
    /// Epoch of the transaction coordinator writing it.
    pub coordinator_epoch: i32,
}

/// One producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerInfo {
    /// Producer id.
    pub producer_id: i64,
    /// Latest producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the last record of its last batch, -1 if none.
    pub last_sequence: i32,
    /// Max timestamp of its last batch, -1 if unknown.
    pub last_timestamp: i64,
    /// Coordinator epoch of its last marker, -1 if none.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction, -1 if none.
    pub current_txn_start_offset: i64,
}

impl PartitionLog {
    /// Appends a COMMIT/ABORT control batch for `marker` (see the module docs). Like
    /// [`PartitionLog::append_deferred`] it never fsyncs: with [`Durability::Fsync`] the marker
    /// is held back until a group-commit fsync reaches [`AppendInfo::sync_end`].
    pub fn append_marker(
        &mut self,
        marker: &TxnMarker,
        leader_epoch: i32,
        now_ms: i64,
        durability: Durability,
    ) -> Result<AppendInfo, LogError> {
        self.ensure_online()?;
        self.producers.check_marker(
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
        )?;
        let content = EndTxnMarker {
            commit: marker.commit,
            coordinator_epoch: marker.coordinator_epoch,
        };
        let batch =
            build_end_txn_marker(marker.producer_id, marker.producer_epoch, now_ms, content);
        let (head, body) = batch.split_at(BATCH_HEADER_LEN);
        let mut patched: [u8; BATCH_HEADER_LEN] = head.try_into().expect("split at header length");
        let mode = SyncMode::Deferred(durability);
        self.append_parts(
            &mut patched,
            body,
            leader_epoch,
            now_ms,
            mode,
            Some(content),
        )
    }

    /// Records a batch now in the log (`header` with its offsets) in the producer state; an
    /// ABORT marker also goes to the active segment's `.txnindex`.
    pub(crate) fn record_in_producer_state(
        &mut self,
        header: &BatchHeader,
        marker: Option<EndTxnMarker>,
    ) -> Result<(), LogError> {
        let Some(done) = self.producers.record(header, marker) else {
            return Ok(());
        };
        self.producers.prune_unreplicated(self.high_watermark);
        if done.aborted {
            let active = self
                .segments
                .last_mut()
                .expect("a log always has a segment");
            active.txn_index.append(index_entry(&done))?;
        }
        Ok(())
    }

    /// Last stable offset: the high watermark, or the first offset of the oldest transaction
    /// not yet decided below it (see the module docs).
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark;
        self.producers
            .first_unstable_offset(hw)
            .map_or(hw, |first| first.min(hw))
            .max(self.log_start_offset)
    }

    /// Aborted transactions overlapping `[fetch_offset, upper)` (Kafka
    /// `collectAbortedTransactions`): last offset at or above `fetch_offset`, first offset
    /// below `upper`, from the local segments' `.txnindex` files, in marker order.
    pub fn aborted_transactions(&self, fetch_offset: i64, upper: i64) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        for segment in &self.segments[self.segment_index(fetch_offset)..] {
            if collect_aborted(segment.txn_index.entries(), fetch_offset, upper, &mut out) {
                break;
            }
        }
        out
    }

    /// Every producer with state in this partition, by producer id (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerInfo> {
        self.producers
            .entries()
            .into_iter()
            .map(|p| ProducerInfo {
                producer_id: p.producer_id,
                producer_epoch: p.epoch,
                last_sequence: p.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: p.last_timestamp,
                coordinator_epoch: p.coordinator_epoch,
                current_txn_start_offset: p.txn_first_offset.unwrap_or(-1),
            })
            .collect()
    }

    /// Number of transactions open in this partition.
    pub fn open_transactions(&self) -> usize {
        self.producers.open_transactions()
    }
}
