//! `GroupCoordinator`: the groups sharded by `__consumer_offsets` partition, the load phase,
//! the timer task, shutdown.
//!
//! Phases: `Loading` (replaying `__consumer_offsets`; requests get COORDINATOR_LOAD_IN_PROGRESS)
//! → `Ready` → `Closed` (after [`GroupCoordinator::close`]; requests get NOT_COORDINATOR).
//! A replay failure leaves the coordinator `Failed`: groups answer COORDINATOR_NOT_AVAILABLE and
//! the error is logged, while the rest of the broker keeps serving.
//!
//! Locking. Each internal partition `p` (a group lives in `partition_for(group id)`) has two
//! locks:
//! - the **state lock** (`Partition::state`) over the groups of `p`. It is held only for
//!   in-memory work — never across an fsync or an `.await`. Heartbeats and reads (OffsetFetch,
//!   DescribeGroups, ListGroups) take only this lock.
//! - the **write lock** (`Partition::writer`) over the partition's log. Every request that may
//!   change a group takes it first and keeps it for the whole change: (1) under the state lock
//!   it validates, changes the in-memory state and collects its records in a `Journal`;
//!   (2) with the state lock released it appends and fsyncs them; (3) under the state lock
//!   again it *settles*: applies what must only become visible once durable (committed
//!   offsets, deletions, a group turning Stable) or reverts/answers an error when the write
//!   failed. The client is answered after (3).
//!
//! Consequences: changes to one partition are serialized, so records reach the log in the
//! order they were applied, and nothing but heartbeats (which only push a session deadline)
//! touches a group between (1) and (3); a slow fsync delays changes to groups of its own
//! partition only, and no heartbeat or read anywhere. Lock order is write lock, then state
//! lock; the timer task only *tries* a busy write lock and otherwise hands that partition's
//! tick to a blocking thread. Parked JoinGroup/SyncGroup replies are awaited with no lock held.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::codes;
use crate::group::Group;
use crate::rebalance::Ctx;
use crate::storage::{partition_for, Journal, StorageError, Store, Writer};
use crate::GroupConfig;

/// What the coordinator needs to know about user partitions: their log end offsets (high
/// watermarks), for lag and for refusing commits to partitions that don't exist.
pub trait OffsetOracle: Send + Sync {
    /// The high watermark of `topic`-`partition`, or `None` if the partition does not exist.
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64>;
}

/// The groups of one internal partition.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    pub(crate) groups: HashMap<String, Group>,
}

/// One internal partition: its groups and its log, each behind its own lock.
#[derive(Debug)]
pub(crate) struct Partition {
    state: Mutex<Shard>,
    writer: Mutex<Writer>,
    /// A blocking thread is already waiting to run this partition's timers.
    timer_waiting: AtomicBool,
}

impl Partition {
    fn lock_state(&self) -> MutexGuard<'_, Shard> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The write lock; waits off the async workers when it is busy.
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        match self.writer.try_lock() {
            Ok(w) => w,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                crate::blocking(|| self.writer.lock().unwrap_or_else(|p| p.into_inner()))
            }
        }
    }
}

const LOADING: u8 = 0;
const READY: u8 = 1;
const FAILED: u8 = 2;
const CLOSED: u8 = 3;

/// A point in time, both monotonic (deadlines) and wall-clock (stored timestamps).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: Instant,
    pub(crate) ms: i64,
}

impl Clock {
    pub(crate) fn now() -> Clock {
        Clock {
            now: Instant::now(),
            ms: crate::now_ms(),
        }
    }

    pub(crate) fn after_ms(&self, ms: i64) -> Instant {
        self.now + Duration::from_millis(ms.max(0) as u64)
    }
}

/// How often the timer task runs.
const TICK: Duration = Duration::from_millis(100);

/// The group coordinator of this broker.
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) oracle: Arc<dyn OffsetOracle>,
    data_dir: PathBuf,
    phase: AtomicU8,
    partitions: OnceLock<Vec<Partition>>,
    loaded: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GroupCoordinator {
    /// Opens the internal partitions under `data_dir` (with crash recovery) and starts
    /// replaying them. Inside a tokio runtime the replay runs on a blocking thread and the timer
    /// task is spawned; outside one, the replay runs inline and no timers run.
    pub fn open(
        data_dir: &Path,
        config: GroupConfig,
        oracle: Arc<dyn OffsetOracle>,
    ) -> Result<Arc<GroupCoordinator>, StorageError> {
        let store = Store::open(
            data_dir,
            config.offsets_topic_num_partitions,
            crate::now_ms(),
        )?;
        let (loaded, _) = watch::channel(false);
        let coordinator = Arc::new(GroupCoordinator {
            config,
            oracle,
            data_dir: data_dir.to_path_buf(),
            phase: AtomicU8::new(LOADING),
            partitions: OnceLock::new(),
            loaded,
            tasks: Mutex::new(Vec::new()),
        });
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let c = coordinator.clone();
                let loader = handle.spawn_blocking(move || c.finish_load(store));
                let ticker = handle.spawn(tick_loop(Arc::downgrade(&coordinator)));
                let mut tasks = coordinator.tasks.lock().unwrap_or_else(|p| p.into_inner());
                tasks.push(ticker);
                drop(loader);
            }
            Err(_) => coordinator.finish_load(store),
        }
        Ok(coordinator)
    }

    fn finish_load(&self, store: Store) {
        let started = Instant::now();
        let clock = Clock::now();
        match crate::loader::replay(&store, &self.config, clock) {
            Ok(groups) => {
                tracing::info!(
                    groups = groups.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "group coordinator loaded __consumer_offsets"
                );
                let writers = store.into_writers();
                let count = writers.len() as i32;
                let mut shards: Vec<Shard> = (0..count).map(|_| Shard::default()).collect();
                for (id, group) in groups {
                    let p = partition_for(&id, count) as usize;
                    shards[p].groups.insert(id, group);
                }
                let partitions = shards
                    .into_iter()
                    .zip(writers)
                    .map(|(shard, writer)| Partition {
                        state: Mutex::new(shard),
                        writer: Mutex::new(writer),
                        timer_waiting: AtomicBool::new(false),
                    })
                    .collect();
                let _ = self.partitions.set(partitions);
                if self
                    .phase
                    .compare_exchange(LOADING, READY, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // Closed while loading: close the logs here, nobody else will.
                    if let Err(e) = self.close_writers() {
                        tracing::warn!(error = %e, "closing __consumer_offsets failed");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "loading __consumer_offsets failed; groups are unavailable");
                let _ = self.phase.compare_exchange(
                    LOADING,
                    FAILED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if let Err(e) = store.close() {
                    tracing::warn!(error = %e, "closing __consumer_offsets failed");
                }
            }
        }
        self.loaded.send_replace(true);
    }

    /// Waits until the replay has finished (successfully or not).
    pub async fn wait_loaded(&self) {
        let mut rx = self.loaded.subscribe();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// True once the state is loaded and requests are served.
    pub fn is_ready(&self) -> bool {
        self.phase.load(Ordering::Acquire) == READY
    }

    /// The error code the phase calls for, `None` when serving.
    fn unavailable(&self) -> Option<i16> {
        match self.phase.load(Ordering::Acquire) {
            READY => None,
            LOADING => Some(codes::COORDINATOR_LOAD_IN_PROGRESS),
            FAILED => Some(codes::COORDINATOR_NOT_AVAILABLE),
            _ => Some(codes::NOT_COORDINATOR),
        }
    }

    fn partitions(&self) -> Result<&[Partition], i16> {
        if let Some(code) = self.unavailable() {
            return Err(code);
        }
        self.partitions
            .get()
            .map(Vec::as_slice)
            .ok_or(codes::COORDINATOR_LOAD_IN_PROGRESS)
    }

    fn partition_of(&self, group_id: &str) -> Result<&Partition, i16> {
        let all = self.partitions()?;
        all.get(partition_for(group_id, all.len() as i32) as usize)
            .ok_or(codes::COORDINATOR_NOT_AVAILABLE)
    }

    /// Runs `f` under the state lock of `group_id`'s partition: for reads and for heartbeats,
    /// which change nothing that is stored. Never waits for a write.
    pub(crate) fn with_shard<R>(
        &self,
        group_id: &str,
        f: impl FnOnce(&mut Shard, Clock) -> R,
    ) -> Result<R, i16> {
        let p = self.partition_of(group_id)?;
        let mut shard = p.lock_state();
        Ok(f(&mut shard, Clock::now()))
    }

    /// Runs `f` on every partition's groups in turn (one state lock at a time).
    pub(crate) fn each_shard(&self, mut f: impl FnMut(&mut Shard)) -> Result<(), i16> {
        for p in self.partitions()? {
            f(&mut p.lock_state());
        }
        Ok(())
    }

    /// A change to `group_id`'s partition (see the module docs): `apply` runs under the state
    /// lock and queues records in `ctx.journal`; they are appended and fsynced with no state
    /// lock held; `settle` runs under the state lock with `stored` = whether that write is
    /// durable. All of it under the partition's write lock.
    pub(crate) fn change<T, R>(
        &self,
        group_id: &str,
        apply: impl FnOnce(&mut Shard, &mut Ctx<'_>) -> T,
        settle: impl FnOnce(&mut Shard, &mut Ctx<'_>, T, bool) -> R,
    ) -> Result<R, i16> {
        let p = self.partition_of(group_id)?;
        let mut writer = p.lock_writer();
        // Closed while waiting: the log may be gone.
        if let Some(code) = self.unavailable() {
            return Err(code);
        }
        Ok(self.transact(p, &mut writer, apply, settle))
    }

    fn transact<T, R>(
        &self,
        p: &Partition,
        writer: &mut Writer,
        apply: impl FnOnce(&mut Shard, &mut Ctx<'_>) -> T,
        settle: impl FnOnce(&mut Shard, &mut Ctx<'_>, T, bool) -> R,
    ) -> R {
        let mut journal = Journal::default();
        let clock = Clock::now();
        let applied = {
            let mut shard = p.lock_state();
            let mut ctx = Ctx {
                journal: &mut journal,
                config: &self.config,
                clock,
            };
            apply(&mut shard, &mut ctx)
        };
        let stored = store(writer, &mut journal, clock.ms);
        let clock = Clock::now();
        let settled = {
            let mut shard = p.lock_state();
            let mut ctx = Ctx {
                journal: &mut journal,
                config: &self.config,
                clock,
            };
            settle(&mut shard, &mut ctx, applied, stored)
        };
        // Records the settling queued (a rebalance after a failed write, say): best effort.
        store(writer, &mut journal, clock.ms);
        settled
    }

    /// Starts shutdown: every parked JoinGroup and SyncGroup is answered NOT_COORDINATOR so
    /// connections can finish; later requests are still served until [`GroupCoordinator::close`].
    pub fn begin_shutdown(&self) {
        let _ = self.each_shard(|shard| {
            for group in shard.groups.values_mut() {
                for m in &mut group.members {
                    let id = m.id.clone();
                    m.answer_join(crate::member::JoinOutcome::error(
                        codes::NOT_COORDINATOR,
                        &id,
                    ));
                    m.answer_sync(crate::member::SyncOutcome::error(codes::NOT_COORDINATOR));
                }
            }
        });
    }

    /// Stops the timer task and closes the internal logs cleanly (after any write in flight).
    /// Requests afterwards get NOT_COORDINATOR.
    pub fn close(&self) -> Result<(), StorageError> {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.begin_shutdown();
        match self.phase.swap(CLOSED, Ordering::AcqRel) {
            READY => self.close_writers(),
            // Loading: `finish_load` sees Closed and closes the logs itself.
            _ => Ok(()),
        }
    }

    fn close_writers(&self) -> Result<(), StorageError> {
        let mut first = None;
        for p in self.partitions.get().map(Vec::as_slice).unwrap_or_default() {
            let mut writer = p.lock_writer();
            if let Err(e) = crate::blocking(|| writer.close()) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Group ids and states (for tests and tools).
    pub fn group_states(&self) -> Vec<(String, crate::GroupState)> {
        let mut v = Vec::new();
        let _ = self.each_shard(|shard| {
            v.extend(shard.groups.values().map(|g| (g.id.clone(), g.state)));
        });
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Test seam: `hook(partition)` runs before every write of the coordinator; an error
    /// fails the write, blocking in it holds the write like a stuck fsync.
    #[cfg(test)]
    pub(crate) fn set_write_hook(&self, hook: Option<crate::storage::WriteHook>) {
        for p in self.partitions.get().map(Vec::as_slice).unwrap_or_default() {
            p.lock_writer().hook = hook.clone();
        }
    }

    /// One timer pass over partition `p`, which the caller holds the write lock of.
    fn tick_partition(&self, p: &Partition, writer: &mut Writer, retention_due: bool) {
        self.transact(
            p,
            writer,
            |shard, ctx| {
                crate::timers::tick(shard, ctx);
                if retention_due {
                    crate::timers::expire_offsets(shard, ctx)
                } else {
                    Vec::new()
                }
            },
            |shard, ctx, expired, stored| {
                crate::timers::settle_expired(shard, ctx, expired, stored)
            },
        );
    }
}

/// Appends and fsyncs `journal`; logs a failure. True if durable.
fn store(writer: &mut Writer, journal: &mut Journal, now_ms: i64) -> bool {
    if journal.is_empty() {
        return true;
    }
    match writer.write(journal, now_ms) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "writing __consumer_offsets failed");
            false
        }
    }
}

async fn tick_loop(coordinator: Weak<GroupCoordinator>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_retention = Instant::now();
    let mut last_lag = Instant::now();
    loop {
        interval.tick().await;
        let Some(c) = coordinator.upgrade() else {
            return;
        };
        let clock = Clock::now();
        let retention_due = clock.now.duration_since(last_retention)
            >= Duration::from_millis(c.config.offsets_retention_check_interval_ms.max(1) as u64);
        if retention_due {
            last_retention = clock.now;
        }
        let lag_due = clock.now.duration_since(last_lag)
            >= Duration::from_millis(c.config.lag_metrics_interval_ms.max(1) as u64);
        if lag_due {
            last_lag = clock.now;
        }
        let Ok(partitions) = c.partitions() else {
            continue;
        };
        for (index, p) in partitions.iter().enumerate() {
            match p.writer.try_lock() {
                Ok(mut writer) => c.tick_partition(p, &mut writer, retention_due),
                Err(TryLockError::Poisoned(e)) => {
                    c.tick_partition(p, &mut e.into_inner(), retention_due)
                }
                Err(TryLockError::WouldBlock) => {
                    // A write is in flight (maybe a slow fsync): tick this partition when it
                    // ends, on a blocking thread, without holding up the others.
                    if p.timer_waiting.swap(true, Ordering::AcqRel) {
                        continue;
                    }
                    let c = c.clone();
                    tokio::task::spawn_blocking(move || {
                        if let Ok(all) = c.partitions() {
                            if let Some(p) = all.get(index) {
                                let mut writer = p.lock_writer();
                                if c.unavailable().is_none() {
                                    c.tick_partition(p, &mut writer, retention_due);
                                }
                                p.timer_waiting.store(false, Ordering::Release);
                            }
                        }
                    });
                }
            }
        }
        if lag_due {
            let mut total = 0usize;
            let _ = c.each_shard(|shard| {
                total += shard.groups.len();
                crate::metrics::publish(shard, c.oracle.as_ref());
            });
            metrics::gauge!("strata_groups").set(total as f64);
        }
    }
}
