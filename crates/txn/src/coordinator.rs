//! `TxnCoordinator`: transactional ids sharded by `__transaction_state` partition, on the
//! shared coordinator runtime (`strata_coordinator`): this broker coordinates the ids of the
//! partitions it leads, each loaded by replay when it is elected.
//!
//! Locking (as the group coordinator): per partition a **write lock** over its log, held for a
//! whole change (validate, append the new state durably, then make it visible), and a **state
//! lock** over its ids, held only for in-memory work. So changes to one partition are
//! serialized and reach the log in the order they were decided; reads (ListTransactions,
//! DescribeTransactions) take only the state lock.
//!
//! Invariants:
//! - a state is visible (and the client answered) only after its record is durable and
//!   committed in `__transaction_state`;
//! - markers are written only for a `Prepare*` state that is stored, so a coordinator that
//!   fails over resumes them from the log (`resume` after a load);
//! - a transaction is `Complete*` only after every one of its markers is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Duration;

use strata_coordinator::{
    blocking, build_records, partition_for, CoordinatedPartition, InternalLog, Leadership, Shards,
    StorageError, Term, NOT_COORDINATOR,
};
use tokio::task::JoinHandle;

use crate::codes;
use crate::format::{encode_key, encode_value};
use crate::host::{MarkerJob, TxnHost};
use crate::state::{TxnMetadata, TxnState};
use crate::TxnConfig;

/// Name of the internal topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// Fixed topic id of the internal topic.
pub const TRANSACTION_STATE_TOPIC_ID: &str = "00000000-0000-4000-8000-0000000074c5";

/// How often the timer looks at the open transactions (expiry and gauges).
const TICK: Duration = Duration::from_millis(500);

/// The ids of one partition.
pub(crate) type Txns = HashMap<String, TxnMetadata>;

pub(crate) struct Partition {
    pub(crate) index: i32,
    txns: Mutex<Txns>,
    writer: Mutex<Option<Term>>,
    leadership: Leadership,
}

impl Partition {
    pub(crate) fn lock_txns(&self) -> MutexGuard<'_, Txns> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_writer(&self) -> MutexGuard<'_, Option<Term>> {
        match self.writer.try_lock() {
            Ok(w) => w,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                blocking(|| self.writer.lock().unwrap_or_else(|p| p.into_inner()))
            }
        }
    }

    pub(crate) fn serving(&self) -> bool {
        self.leadership.unavailable().is_none()
    }
}

impl CoordinatedPartition for Partition {
    fn leadership(&self) -> &Leadership {
        &self.leadership
    }
}

/// What a change decided.
pub(crate) enum Decision<T> {
    /// Answer without writing.
    Reply(T),
    /// Store this state, then answer.
    Write(TxnMetadata, T),
}

/// The transaction coordinator of this broker.
pub struct TxnCoordinator {
    pub(crate) config: TxnConfig,
    pub(crate) host: Arc<dyn TxnHost>,
    pub(crate) partitions: Shards<Partition>,
    runtime: Option<tokio::runtime::Handle>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for TxnCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnCoordinator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TxnCoordinator {
    /// A coordinator of `config.num_partitions` partitions, leading none yet. Inside a tokio
    /// runtime its timer task is spawned.
    pub fn new(config: TxnConfig, host: Arc<dyn TxnHost>) -> Arc<TxnCoordinator> {
        let count = config.num_partitions;
        let runtime = tokio::runtime::Handle::try_current().ok();
        let coordinator = Arc::new(TxnCoordinator {
            config,
            host,
            partitions: Shards::new(count, |index| Partition {
                index,
                txns: Mutex::new(HashMap::new()),
                writer: Mutex::new(None),
                leadership: Leadership::default(),
            }),
            runtime: runtime.clone(),
            tasks: Mutex::new(Vec::new()),
        });
        if let Some(handle) = runtime {
            let ticker = handle.spawn(tick_loop(Arc::downgrade(&coordinator)));
            coordinator
                .tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ticker);
        }
        coordinator
    }

    /// Number of `__transaction_state` partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.count()
    }

    /// The partition of `transactional_id`.
    pub fn partition_of(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.partition_count())
    }

    /// This broker leads partition `p` in `leader_epoch`: its ids are loaded from `log` (in
    /// the background), then served; unfinished commits and aborts are resumed.
    pub fn elect(self: &Arc<Self>, p: i32, leader_epoch: i32, log: Arc<dyn InternalLog>) {
        if self.partitions.elect(p, leader_epoch, log) {
            self.schedule(p);
        }
    }

    /// This broker no longer leads partition `p`.
    pub fn resign(self: &Arc<Self>, p: i32) {
        if self.partitions.resign(p) {
            self.schedule(p);
        }
    }

    /// The epoch this broker leads partition `p` in, if it does.
    pub fn leads(&self, p: i32) -> Option<i32> {
        self.partitions.leads(p)
    }

    /// Waits until every leadership transition asked for so far has finished.
    pub async fn wait_loaded(&self) {
        self.partitions.wait_idle().await;
    }

    fn schedule(self: &Arc<Self>, p: i32) {
        let c = self.clone();
        self.partitions.spawn(move || {
            let Some(part) = c.partitions.get(p) else {
                return;
            };
            let mut writer = part.lock_writer();
            let what = format!("{TRANSACTION_STATE_TOPIC}-{p}");
            let mut loaded = None;
            part.leadership.converge(
                &what,
                &mut writer,
                || part.lock_txns().clear(),
                crate::loader::replay,
                |txns| {
                    loaded = Some(txns.len());
                    *part.lock_txns() = txns;
                },
            );
            let epoch = writer.as_ref().map(|(e, _)| *e);
            drop(writer);
            if let (Some(count), Some(epoch)) = (loaded, epoch) {
                tracing::info!(
                    partition = p,
                    epoch,
                    transactional_ids = count,
                    "transactions loaded"
                );
                c.resume(p, epoch);
            }
        });
    }

    /// After a load: finishes every transaction whose markers were decided but not written.
    fn resume(self: &Arc<Self>, p: i32, epoch: i32) {
        let Some(part) = self.partitions.get(p) else {
            return;
        };
        let preparing: Vec<TxnMetadata> = part
            .lock_txns()
            .values()
            .filter(|m| m.state.is_preparing())
            .cloned()
            .collect();
        for m in preparing {
            self.spawn_completion(p, epoch, m);
        }
    }

    /// Stops the timer, answers NOT_COORDINATOR from now on, closes owned logs.
    pub fn close(&self) -> Result<(), StorageError> {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.partitions.close();
        let mut first = None;
        for p in self.partitions.iter() {
            let mut writer = p.lock_writer();
            if let Some((_, log)) = writer.take() {
                if let Err(e) = blocking(|| log.close()) {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The partition serving `transactional_id`, or the error code to answer.
    pub(crate) fn serving_partition(&self, transactional_id: &str) -> Result<&Partition, i16> {
        self.partitions.serving(self.partition_of(transactional_id))
    }

    /// A change to `transactional_id` (see the module docs): `decide` sees its current state
    /// (under the partition's write lock) and returns what to store and answer. Returns the
    /// answer and the leader epoch of the term it was stored in.
    pub(crate) fn change<T>(
        &self,
        transactional_id: &str,
        now_ms: i64,
        decide: impl FnOnce(Option<&TxnMetadata>) -> Result<Decision<T>, i16>,
    ) -> Result<(T, i32), i16> {
        let part = self.serving_partition(transactional_id)?;
        let writer = part.lock_writer();
        if self.partitions.is_closed() {
            return Err(NOT_COORDINATOR);
        }
        if let Some(code) = part.leadership.unavailable() {
            return Err(code);
        }
        let Some((epoch, log)) = writer.as_ref() else {
            return Err(NOT_COORDINATOR);
        };
        let decision = {
            let txns = part.lock_txns();
            decide(txns.get(transactional_id))?
        };
        match decision {
            Decision::Reply(answer) => Ok((answer, *epoch)),
            Decision::Write(mut next, answer) => {
                next.update_ms = now_ms;
                store(log.as_ref(), &next, now_ms).map_err(|e| {
                    tracing::warn!(transactional_id, error = %e, "storing transaction state failed");
                    if part.leadership.leads() == Some(*epoch) {
                        codes::COORDINATOR_NOT_AVAILABLE
                    } else {
                        NOT_COORDINATOR
                    }
                })?;
                part.lock_txns().insert(transactional_id.to_string(), next);
                Ok((answer, *epoch))
            }
        }
    }

    /// Writes the markers of a stored `Prepare*` state in the background, then stores its
    /// `Complete*` state.
    pub(crate) fn spawn_completion(
        self: &Arc<Self>,
        p: i32,
        coordinator_epoch: i32,
        m: TxnMetadata,
    ) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let commit = m.state == TxnState::PrepareCommit;
        let job = MarkerJob {
            transactional_id: m.transactional_id.clone(),
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit,
            coordinator_epoch,
            partitions: m.partitions.iter().cloned().collect(),
        };
        let host = self.host.clone();
        let weak = Arc::downgrade(self);
        tracing::debug!(partition = p, transactional_id = %m.transactional_id, commit, "writing markers");
        runtime.spawn(async move {
            if !host.write_markers(job).await {
                return;
            }
            let Some(c) = weak.upgrade() else {
                return;
            };
            tokio::task::spawn_blocking(move || c.complete(&m, commit))
                .await
                .ok();
        });
    }
}

/// Appends `m`'s record to `log`, durably.
fn store(log: &dyn InternalLog, m: &TxnMetadata, now_ms: i64) -> Result<(), StorageError> {
    let key = encode_key(&m.transactional_id).map_err(|e| StorageError::Format(e.0))?;
    let value = encode_value(m).map_err(|e| StorageError::Format(e.0))?;
    let batch = build_records(&[(key, Some(value))], now_ms, None)?;
    blocking(|| log.append(&mut [batch], now_ms))
}

async fn tick_loop(coordinator: Weak<TxnCoordinator>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_abort_check = std::time::Instant::now();
    loop {
        interval.tick().await;
        let Some(c) = coordinator.upgrade() else {
            return;
        };
        if c.partitions.is_closed() {
            return;
        }
        let due = last_abort_check.elapsed()
            >= Duration::from_millis(c.config.abort_check_interval_ms.max(1) as u64);
        if due {
            last_abort_check = std::time::Instant::now();
            let c2 = c.clone();
            let _ = tokio::task::spawn_blocking(move || c2.abort_expired()).await;
        }
        let open: usize = c
            .partitions
            .served()
            .map(|p| {
                p.lock_txns()
                    .values()
                    .filter(|m| m.state == TxnState::Ongoing)
                    .count()
            })
            .sum();
        metrics::gauge!("strata_txn_open").set(open as f64);
    }
}
