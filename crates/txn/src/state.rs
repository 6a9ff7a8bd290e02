//! One transactional id's state, as the coordinator keeps it in memory and in
//! `__transaction_state` (Kafka's `TransactionMetadata`).
//!
//! Transitions (Kafka's): `Empty` → `Ongoing` (AddPartitionsToTxn / AddOffsetsToTxn) →
//! `PrepareCommit` | `PrepareAbort` (EndTxn, or the coordinator aborting an expired or fenced
//! transaction) → `CompleteCommit` | `CompleteAbort` (all markers written) → `Ongoing` again
//! with the next AddPartitionsToTxn. InitProducerId leaves a completed or empty transaction
//! `Empty` with a bumped epoch. While a transaction is `Prepare*` its markers are in flight,
//! and requests for it get CONCURRENT_TRANSACTIONS.

use std::collections::{BTreeMap, BTreeSet};

/// Kafka's `TransactionState`, with its stored codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// Partitions added; records may be produced.
    Ongoing,
    /// Commit decided; markers being written.
    PrepareCommit,
    /// Abort decided; markers being written.
    PrepareAbort,
    /// Committed; markers written.
    CompleteCommit,
    /// Aborted; markers written.
    CompleteAbort,
    /// Expired transactional id.
    Dead,
    /// A fence is aborting the open transaction (stored by Kafka; read as PrepareAbort).
    PrepareEpochFence,
}

impl TxnState {
    /// The stored status code.
    pub fn code(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state of a stored status code.
    pub fn from_code(code: i8) -> Option<TxnState> {
        Some(match code {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name the admin APIs report (Kafka's `TransactionState.name`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Markers are being written.
    pub fn is_preparing(self) -> bool {
        matches!(
            self,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        )
    }
}

/// One transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// The current producer epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump (not stored; -1 after a load): an InitProducerId retry
    /// that presents it gets the current epoch again instead of PRODUCER_FENCED.
    pub last_producer_epoch: i16,
    /// `transaction.timeout.ms` of the producer.
    pub timeout_ms: i32,
    /// The state.
    pub state: TxnState,
    /// Partitions in the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Last change, ms since the epoch.
    pub update_ms: i64,
    /// When the current transaction started (first partition added), -1 if none.
    pub start_ms: i64,
}

impl TxnMetadata {
    /// A new transactional id, `Empty`.
    pub fn new(id: &str, producer_id: i64, epoch: i16, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: id.to_string(),
            producer_id,
            producer_epoch: epoch,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            update_ms: now_ms,
            start_ms: -1,
        }
    }

    /// Partitions grouped by topic.
    pub fn topics(&self) -> BTreeMap<String, Vec<i32>> {
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in &self.partitions {
            out.entry(t.clone()).or_default().push(*p);
        }
        out
    }

    /// The open transaction has outlived its timeout at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.start_ms >= 0
            && now_ms > self.start_ms.saturating_add(i64::from(self.timeout_ms))
    }
}
