//! Producer state of one partition (Kafka's `ProducerStateManager`): per producer id, the
//! latest epoch, the last 5 batches' `(first_seq, last_seq, base_offset, last_offset)` for
//! duplicate detection, and the transaction state — the first offset of its open transaction,
//! the epoch of the coordinator that last ended one, and its last batch timestamp.
//!
//! Invariants:
//! - batches of one entry all carry the entry's epoch and are in append order; an epoch bump
//!   clears them;
//! - `ongoing` holds exactly the entries with an open transaction, keyed by its first offset,
//!   so its first key is the partition's first unstable offset;
//! - a transactional data batch opens a transaction if its producer has none; a COMMIT/ABORT
//!   marker closes it (a marker without an open transaction still counts: it is an empty
//!   transaction starting at the marker); `unreplicated` keeps completed transactions until
//!   the high watermark passes their marker, so the LSO never passes a marker that a leader
//!   change could still cut (Kafka's `unreplicatedTxns`);
//! - the state is a pure function of the batches in the log, so it is rebuilt by replaying
//!   them after a crash (`replay.rs`), from the latest per-segment snapshot
//!   (`producer_snapshot.rs`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use strata_records::{increment_sequence, BatchHeader, EndTxnMarker};

use crate::LogError;

/// Batches remembered per producer for duplicate detection.
pub(crate) const BATCHES_TO_RETAIN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchMeta {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) base_offset: i64,
    pub(crate) last_offset: i64,
}

fn minus_one_i32() -> i32 {
    -1
}

fn minus_one_i64() -> i64 {
    -1
}

/// One producer's entry; its serde form is the snapshot's (`producer_snapshot.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProducerEntry {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMeta>,
    /// First offset of the open transaction (v2; absent in v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) txn_first_offset: Option<i64>,
    /// Coordinator epoch of the last marker, -1 if none (v2).
    #[serde(default = "minus_one_i32")]
    pub(crate) coordinator_epoch: i32,
    /// Max timestamp of the producer's last batch, -1 if unknown (v2).
    #[serde(default = "minus_one_i64")]
    pub(crate) last_timestamp: i64,
}

impl ProducerEntry {
    fn new(producer_id: i64, epoch: i16) -> ProducerEntry {
        ProducerEntry {
            producer_id,
            epoch,
            batches: VecDeque::new(),
            txn_first_offset: None,
            coordinator_epoch: -1,
            last_timestamp: -1,
        }
    }
}

/// Outcome of checking a batch against producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Write the batch.
    Append,
    /// Already written at these offsets; acknowledge without writing.
    Duplicate { base_offset: i64, last_offset: i64 },
}

/// A transaction ended by a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    /// The marker's offset.
    pub(crate) last_offset: i64,
    pub(crate) aborted: bool,
    /// The LSO right after it ended, ignoring the high watermark (Kafka's
    /// `lastStableOffset(completedTxn)`): the first offset of the oldest other open
    /// transaction, or the marker offset + 1.
    pub(crate) last_stable_offset: i64,
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// First offset of each open transaction → its producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker may still be above the high watermark.
    unreplicated: Vec<CompletedTxn>,
}

impl ProducerState {
    /// State holding `entries` (a loaded snapshot).
    pub(crate) fn from_entries(entries: Vec<ProducerEntry>) -> ProducerState {
        let mut state = ProducerState::default();
        for entry in entries {
            if let Some(first) = entry.txn_first_offset {
                state.ongoing.insert(first, entry.producer_id);
            }
            state.producers.insert(entry.producer_id, entry);
        }
        state
    }

    /// Every entry, by producer id.
    pub(crate) fn entries(&self) -> Vec<&ProducerEntry> {
        let mut entries: Vec<&ProducerEntry> = self.producers.values().collect();
        entries.sort_by_key(|p| p.producer_id);
        entries
    }

    /// Decides whether a client batch may be appended (Kafka `ProducerAppendInfo`): epoch,
    /// duplicate, sequence, then transaction state (a non-transactional batch from a producer
    /// with an open transaction is refused).
    pub(crate) fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
        if h.producer_id < 0 || h.is_control() {
            return Ok(SequenceCheck::Append);
        }
        if h.base_sequence < 0 {
            // Written by a coordinator for a producer (a transactional offset commit, as Kafka
            // writes it): no sequence to check, but the epoch may not go back.
            return match self.producers.get(&h.producer_id) {
                Some(entry) if h.producer_epoch < entry.epoch => {
                    Err(LogError::InvalidProducerEpoch {
                        producer_id: h.producer_id,
                        current: entry.epoch,
                        found: h.producer_epoch,
                    })
                }
                _ => Ok(SequenceCheck::Append),
            };
        }
        let out_of_order = |expected| LogError::OutOfOrderSequence {
            producer_id: h.producer_id,
            expected,
            found: h.base_sequence,
        };
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(out_of_order(0))
            };
        };
        if h.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                current: entry.epoch,
                found: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(out_of_order(0));
            }
            return Self::check_txn_state(entry, h);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: dup.base_offset,
                last_offset: dup.last_offset,
            });
        }
        let expected = match entry.batches.back() {
            Some(last) => increment_sequence(last.last_seq, 1),
            None => 0,
        };
        if h.base_sequence != expected {
            return Err(out_of_order(expected));
        }
        Self::check_txn_state(entry, h)
    }

    fn check_txn_state(entry: &ProducerEntry, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
        match entry.txn_first_offset {
            Some(first_offset) if !h.is_transactional() => Err(LogError::InvalidTxnState {
                producer_id: h.producer_id,
                txn_first_offset: first_offset,
            }),
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Decides whether a marker may be appended: its producer epoch may not go back
    /// (INVALID_PRODUCER_EPOCH) nor its coordinator epoch (TRANSACTION_COORDINATOR_FENCED).
    pub(crate) fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), LogError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id,
                current: entry.epoch,
                found: producer_epoch,
            });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(LogError::CoordinatorFenced {
                producer_id,
                current: entry.coordinator_epoch,
                found: coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records a batch that is now in the log (header with its assigned offsets). For a
    /// control batch `marker` is its COMMIT/ABORT content (`None`: another control type, which
    /// only advances the epoch); a marker's completed transaction is returned.
    pub(crate) fn record(
        &mut self,
        h: &BatchHeader,
        marker: Option<EndTxnMarker>,
    ) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry::new(h.producer_id, h.producer_epoch));
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = h.max_timestamp;
        if h.is_control() {
            let marker = marker?;
            entry.coordinator_epoch = marker.coordinator_epoch;
            let first_offset = entry.txn_first_offset.take().unwrap_or(h.base_offset);
            if self.ongoing.get(&first_offset) == Some(&h.producer_id) {
                self.ongoing.remove(&first_offset);
            }
            let completed = CompletedTxn {
                producer_id: h.producer_id,
                first_offset,
                last_offset: h.base_offset,
                aborted: !marker.commit,
                last_stable_offset: self.first_ongoing().unwrap_or(h.base_offset + 1),
            };
            self.unreplicated.push(completed);
            return Some(completed);
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
        }
        if h.base_sequence < 0 {
            return None;
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while entry.batches.len() > BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        None
    }

    /// First offset of the oldest open transaction.
    pub(crate) fn first_ongoing(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// First offset that read_committed may not pass given `high_watermark`: the oldest open
    /// transaction, or a completed one whose marker the high watermark does not cover yet.
    pub(crate) fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        let unreplicated = self
            .unreplicated
            .iter()
            .filter(|t| t.last_offset >= high_watermark)
            .map(|t| t.first_offset)
            .min();
        match (self.first_ongoing(), unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets completed transactions whose marker is below `high_watermark`.
    pub(crate) fn prune_unreplicated(&mut self, high_watermark: i64) {
        self.unreplicated
            .retain(|t| t.last_offset >= high_watermark);
    }

    /// Number of open transactions.
    pub(crate) fn open_transactions(&self) -> usize {
        self.ongoing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, base: i64, count: i32, attrs: i16) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: attrs,
            last_offset_delta: count - 1,
            base_timestamp: 100 + base,
            max_timestamp: 100 + base,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    const TXN: i16 = 0x10;
    const MARKER: i16 = 0x30;

    #[test]
    fn transactions_open_and_close_with_markers() {
        let mut s = ProducerState::default();
        assert!(s.record(&header(1, 0, 0, 5, 2, TXN), None).is_none());
        assert!(s.record(&header(2, 0, 0, 7, 1, TXN), None).is_none());
        assert!(s.record(&header(1, 0, 2, 8, 1, TXN), None).is_none());
        assert_eq!(s.first_ongoing(), Some(5));
        let commit = EndTxnMarker {
            commit: true,
            coordinator_epoch: 3,
        };
        let done = s
            .record(&header(1, 0, -1, 9, 1, MARKER), Some(commit))
            .unwrap();
        assert_eq!((done.first_offset, done.last_offset), (5, 9));
        assert!(!done.aborted);
        assert_eq!(done.last_stable_offset, 7);
        // The marker at 9 is not below a high watermark of 9: still unstable from 5.
        assert_eq!(s.first_unstable_offset(9), Some(5));
        assert_eq!(s.first_unstable_offset(10), Some(7));
        s.prune_unreplicated(10);
        let entry = s.producers.get(&1).unwrap();
        assert_eq!((entry.coordinator_epoch, entry.txn_first_offset), (3, None));
        assert_eq!(
            entry.batches.len(),
            2,
            "a marker keeps the producer's batches"
        );
    }

    #[test]
    fn non_transactional_batch_during_a_transaction_is_refused() {
        let mut s = ProducerState::default();
        s.record(&header(1, 0, 0, 0, 1, TXN), None);
        let err = s.check(&header(1, 0, 1, 0, 1, 0)).unwrap_err();
        assert!(matches!(
            err,
            LogError::InvalidTxnState {
                producer_id: 1,
                txn_first_offset: 0
            }
        ));
        assert_eq!(err.kafka_error_code(), 48);
        assert_eq!(
            s.check(&header(1, 0, 1, 0, 1, TXN)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn markers_with_old_epochs_are_refused() {
        let mut s = ProducerState::default();
        s.record(&header(1, 2, 0, 0, 1, TXN), None);
        assert!(matches!(
            s.check_marker(1, 1, 0),
            Err(LogError::InvalidProducerEpoch { .. })
        ));
        assert!(s.check_marker(1, 2, 0).is_ok());
        let abort = EndTxnMarker {
            commit: false,
            coordinator_epoch: 4,
        };
        s.record(&header(1, 2, -1, 1, 1, MARKER), Some(abort));
        assert!(matches!(
            s.check_marker(1, 2, 3),
            Err(LogError::CoordinatorFenced { .. })
        ));
    }
}
