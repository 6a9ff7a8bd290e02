//! The client-facing transitions: InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn and EndTxn; and the coordinator's own: completing a transaction once its
//! markers are written, and aborting expired ones. Kafka's `TransactionCoordinator` rules:
//!
//! - a request naming another producer id gets INVALID_PRODUCER_ID_MAPPING, an older epoch
//!   the *fenced* code (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH for request versions that
//!   predate it);
//! - while markers are being written (`Prepare*`) everything but a matching EndTxn retry gets
//!   CONCURRENT_TRANSACTIONS, which clients retry;
//! - InitProducerId bumps the epoch (fencing every older producer of the id); if a
//!   transaction is open it is first aborted with the bumped epoch and the caller gets
//!   CONCURRENT_TRANSACTIONS until the abort is complete (KIP-360: a producer presenting its
//!   current id and epoch may bump it the same way, to recover without a new id);
//! - an open transaction older than its timeout is aborted by the coordinator with a bumped
//!   epoch, so its producer is fenced from continuing it.

use std::collections::BTreeSet;
use std::sync::Arc;

use strata_coordinator::now_ms;

use crate::codes;
use crate::coordinator::{Decision, TxnCoordinator};
use crate::state::{TxnMetadata, TxnState};

/// Longest a request waits for the previous transaction's markers before it is answered
/// CONCURRENT_TRANSACTIONS.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// How often it looks.
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// The fenced-producer code for a request version: PRODUCER_FENCED from the version that
/// introduced it, INVALID_PRODUCER_EPOCH before.
pub fn fenced_code(supports_producer_fenced: bool) -> i16 {
    if supports_producer_fenced {
        codes::PRODUCER_FENCED
    } else {
        codes::INVALID_PRODUCER_EPOCH
    }
}

/// Checks that `(pid, epoch)` is the id's current producer.
fn check_producer(m: &TxnMetadata, pid: i64, epoch: i16, fenced: i16) -> Result<(), i16> {
    if m.producer_id != pid {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if m.producer_epoch != epoch {
        return Err(fenced);
    }
    Ok(())
}

/// What InitProducerId must do after its change.
enum Init {
    Granted(i64, i16),
    /// An open transaction is being aborted (fenced): answer CONCURRENT_TRANSACTIONS, then
    /// write its markers.
    Fencing(TxnMetadata),
}

impl TxnCoordinator {
    /// InitProducerId for `transactional_id`: the producer id and epoch to use.
    /// `presented` is the producer id and epoch a v3+ client sends (-1, -1 for none).
    pub fn init_producer_id(
        self: &Arc<Self>,
        transactional_id: &str,
        timeout_ms: i32,
        presented: (i64, i16),
        fenced: i16,
    ) -> Result<(i64, i16), i16> {
        if transactional_id.is_empty() {
            return Err(codes::INVALID_REQUEST);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(codes::INVALID_TRANSACTION_TIMEOUT);
        }
        let now = now_ms();
        let p = self.partition_of(transactional_id);
        // A new id needs a producer id; allocating one is a quorum write, done before the
        // partition's write lock is taken (an unused id is only a gap).
        let fresh_needed = self
            .serving_partition(transactional_id)?
            .lock_txns()
            .get(transactional_id)
            .is_none_or(|m| m.producer_epoch >= i16::MAX - 1);
        let fresh = if fresh_needed {
            Some(self.host.allocate_producer_id()?)
        } else {
            None
        };
        let (outcome, epoch) = self.change(transactional_id, now, |current| {
            let Some(m) = current else {
                let pid = fresh.ok_or(codes::COORDINATOR_NOT_AVAILABLE)?;
                let m = TxnMetadata::new(transactional_id, pid, 0, timeout_ms, now);
                return Ok(Decision::Write(m, Init::Granted(pid, 0)));
            };
            if m.state.is_preparing() {
                return Err(codes::CONCURRENT_TRANSACTIONS);
            }
            let (pid, epoch) = presented;
            if pid >= 0 {
                if pid == m.producer_id && epoch == m.last_producer_epoch && epoch >= 0 {
                    // A retry of a bump that already happened.
                    return Ok(Decision::Reply(Init::Granted(
                        m.producer_id,
                        m.producer_epoch,
                    )));
                }
                if pid != m.producer_id || epoch != m.producer_epoch {
                    return Err(fenced);
                }
            }
            let mut next = m.clone();
            next.timeout_ms = timeout_ms;
            if m.state == TxnState::Ongoing {
                // Fence: abort the open transaction with a bumped epoch.
                next.last_producer_epoch = m.producer_epoch;
                next.producer_epoch = m.producer_epoch.saturating_add(1);
                next.state = TxnState::PrepareAbort;
                return Ok(Decision::Write(next.clone(), Init::Fencing(next)));
            }
            match fresh {
                Some(new_pid) if m.producer_epoch >= i16::MAX - 1 => {
                    next.producer_id = new_pid;
                    next.producer_epoch = 0;
                    next.last_producer_epoch = -1;
                }
                _ => {
                    next.last_producer_epoch = m.producer_epoch;
                    next.producer_epoch = m.producer_epoch + 1;
                }
            }
            next.state = TxnState::Empty;
            next.partitions = BTreeSet::new();
            next.start_ms = -1;
            let granted = Init::Granted(next.producer_id, next.producer_epoch);
            Ok(Decision::Write(next, granted))
        })?;
        match outcome {
            Init::Granted(pid, epoch) => Ok((pid, epoch)),
            Init::Fencing(m) => {
                tracing::info!(
                    transactional_id,
                    producer_id = m.producer_id,
                    epoch = m.producer_epoch,
                    "fencing the previous producer: aborting its open transaction"
                );
                self.spawn_completion(p, epoch, m);
                Err(codes::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// AddPartitionsToTxn: per partition, its error code (all the same unless some partition
    /// does not exist: that one UNKNOWN_TOPIC_OR_PARTITION, the rest OPERATION_NOT_ATTEMPTED).
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        fenced: i16,
    ) -> Vec<i16> {
        let missing: Vec<bool> = partitions
            .iter()
            .map(|(t, p)| !self.host.partition_exists(t, *p))
            .collect();
        if missing.iter().any(|&m| m) {
            return missing
                .into_iter()
                .map(|m| {
                    if m {
                        codes::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        codes::OPERATION_NOT_ATTEMPTED
                    }
                })
                .collect();
        }
        let code = match self.add(
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            fenced,
        ) {
            Ok(()) => codes::NONE,
            Err(code) => code,
        };
        vec![code; partitions.len()]
    }

    /// AddOffsetsToTxn: adds the `__consumer_offsets` partition of `group_id`.
    pub fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: (String, i32),
        fenced: i16,
    ) -> i16 {
        match self.add(
            transactional_id,
            producer_id,
            producer_epoch,
            &[offsets_partition],
            fenced,
        ) {
            Ok(()) => codes::NONE,
            Err(code) => code,
        }
    }

    /// Waits (at most [`SETTLE_WAIT`]) while `transactional_id`'s previous transaction is
    /// still writing its markers, so a producer that begins its next transaction right after a
    /// commit is usually served at once instead of answered CONCURRENT_TRANSACTIONS (which
    /// librdkafka retries only after 20 ms).
    fn wait_settled(&self, transactional_id: &str) {
        let deadline = std::time::Instant::now() + SETTLE_WAIT;
        while std::time::Instant::now() < deadline {
            let preparing = self
                .serving_partition(transactional_id)
                .ok()
                .and_then(|p| p.lock_txns().get(transactional_id).map(|m| m.state))
                .is_some_and(|s| s.is_preparing());
            if !preparing {
                return;
            }
            std::thread::sleep(SETTLE_POLL);
        }
    }

    fn add(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        fenced: i16,
    ) -> Result<(), i16> {
        self.wait_settled(transactional_id);
        let now = now_ms();
        self.change(transactional_id, now, |current| {
            let m = current.ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
            check_producer(m, producer_id, producer_epoch, fenced)?;
            if m.state.is_preparing() {
                return Err(codes::CONCURRENT_TRANSACTIONS);
            }
            if m.state == TxnState::Dead {
                return Err(codes::INVALID_TXN_STATE);
            }
            if m.state == TxnState::Ongoing && partitions.iter().all(|tp| m.partitions.contains(tp))
            {
                return Ok(Decision::Reply(()));
            }
            let mut next = m.clone();
            if m.state != TxnState::Ongoing {
                next.partitions.clear();
                next.start_ms = now;
                next.state = TxnState::Ongoing;
            }
            next.partitions.extend(partitions.iter().cloned());
            Ok(Decision::Write(next, ()))
        })
        .map(|_| ())
    }

    /// EndTxn: decides the transaction (stores PrepareCommit or PrepareAbort) and answers;
    /// its markers are written in the background.
    pub fn end_txn(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        fenced: i16,
    ) -> i16 {
        let now = now_ms();
        let p = self.partition_of(transactional_id);
        let result = self.change(transactional_id, now, |current| {
            let m = current.ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
            check_producer(m, producer_id, producer_epoch, fenced)?;
            match (m.state, commit) {
                (TxnState::Ongoing, _) => {
                    let mut next = m.clone();
                    next.state = if commit {
                        TxnState::PrepareCommit
                    } else {
                        TxnState::PrepareAbort
                    };
                    Ok(Decision::Write(next.clone(), Some(next)))
                }
                (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                    Ok(Decision::Reply(None))
                }
                (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                    Err(codes::CONCURRENT_TRANSACTIONS)
                }
                _ => Err(codes::INVALID_TXN_STATE),
            }
        });
        match result {
            Ok((Some(prepared), epoch)) => {
                self.spawn_completion(p, epoch, prepared);
                codes::NONE
            }
            Ok((None, _)) => codes::NONE,
            Err(code) => code,
        }
    }

    /// The markers of `prepared` are all written: stores its `Complete*` state (unless the
    /// id moved on meanwhile, which only a newer coordinator can do).
    pub(crate) fn complete(&self, prepared: &TxnMetadata, commit: bool) {
        let id = prepared.transactional_id.clone();
        let now = now_ms();
        let result = self.change(&id, now, |current| {
            let Some(m) = current else {
                return Ok(Decision::Reply(false));
            };
            if m.producer_id != prepared.producer_id
                || m.producer_epoch != prepared.producer_epoch
                || !m.state.is_preparing()
            {
                return Ok(Decision::Reply(false));
            }
            let mut next = m.clone();
            next.state = if commit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            };
            next.partitions.clear();
            next.start_ms = -1;
            Ok(Decision::Write(next, true))
        });
        match result {
            Ok((true, _)) => {
                if commit {
                    metrics::counter!("strata_txn_commits_total").increment(1);
                } else {
                    metrics::counter!("strata_txn_aborts_total").increment(1);
                }
                tracing::debug!(transactional_id = %id, commit, "transaction complete");
            }
            Ok((false, _)) => {}
            Err(code) => {
                tracing::warn!(transactional_id = %id, code,
                    "could not store the completed transaction; its next coordinator finishes it");
            }
        }
    }

    /// Aborts every open transaction of a served partition that outlived its timeout, with a
    /// bumped epoch (the producer is fenced from it).
    pub(crate) fn abort_expired(self: &Arc<Self>) {
        let now = now_ms();
        for part in self.partitions.iter() {
            if !part.serving() {
                continue;
            }
            let expired: Vec<String> = part
                .lock_txns()
                .values()
                .filter(|m| m.expired(now))
                .map(|m| m.transactional_id.clone())
                .collect();
            for id in expired {
                let result = self.change(&id, now, |current| {
                    let Some(m) = current.filter(|m| m.expired(now)) else {
                        return Ok(Decision::Reply(None));
                    };
                    let mut next = m.clone();
                    next.last_producer_epoch = m.producer_epoch;
                    next.producer_epoch = m.producer_epoch.saturating_add(1);
                    next.state = TxnState::PrepareAbort;
                    Ok(Decision::Write(next.clone(), Some(next)))
                });
                if let Ok((Some(m), epoch)) = result {
                    tracing::info!(transactional_id = %id, timeout_ms = m.timeout_ms,
                        "aborting a transaction that outlived transaction.timeout.ms");
                    metrics::counter!("strata_txn_expired_total").increment(1);
                    self.spawn_completion(part.index, epoch, m);
                }
            }
        }
    }
}
