//! `GroupCoordinator`: the groups sharded by `__consumer_offsets` partition, which partitions
//! this broker coordinates, the load on election, the timer task, shutdown.
//!
//! Leadership. The coordinator of a group is the leader of the group's internal partition, as
//! in Kafka. The broker tells the coordinator when it becomes leader of internal partition `p`
//! in some leader epoch ([`GroupCoordinator::elect`], with the partition's [`OffsetsLog`]) and
//! when it stops leading it ([`GroupCoordinator::resign`]); the life cycle (NotLeader →
//! Loading → Ready, or Failed) is the shared one of `strata_coordinator::Leadership`, with
//! `loader.rs` as the replay. After [`GroupCoordinator::close`] everything answers
//! NOT_COORDINATOR.
//!
//! Locking. Each internal partition `p` (a group lives in `partition_for(group id)`) has two
//! locks:
//! - the **state lock** (`Partition::state`) over the groups of `p`. It is held only for
//!   in-memory work — never across an fsync or an `.await`. Heartbeats and reads (OffsetFetch,
//!   DescribeGroups, ListGroups) take only this lock.
//! - the **write lock** (`Partition::writer`) over the partition's log. Every request that may
//!   change a group takes it first and keeps it for the whole change: (1) under the state lock
//!   it validates, changes the in-memory state and collects its records in a `Journal`;
//!   (2) with the state lock released it appends them and waits until they are stored;
//!   (3) under the state lock again it *settles*: applies what must only become visible once
//!   stored (committed offsets, deletions, a group turning Stable) or reverts/answers an error
//!   when the write failed. The client is answered after (3).
//!
//! Consequences: changes to one partition are serialized, so records reach the log in the
//! order they were applied, and nothing but heartbeats (which only push a session deadline)
//! touches a group between (1) and (3); a slow write delays changes to groups of its own
//! partition only, and no heartbeat or read anywhere. Lock order is write lock, then state
//! lock, then `desired`; the timer task only *tries* a busy write lock and otherwise hands
//! that partition's tick to a blocking thread. Parked JoinGroup/SyncGroup replies are awaited
//! with no lock held.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

use strata_coordinator::{Leadership, Shards};
use tokio::task::JoinHandle;

use crate::codes;
use crate::group::Group;
use crate::rebalance::Ctx;
use crate::storage::{Journal, OffsetsLog, StorageError, Writer};
use crate::GroupConfig;
use strata_coordinator::partition_for;

/// What the coordinator needs to know about user partitions: whether they exist (commits to
/// others are refused) and their log end offsets (high watermarks), for lag.
pub trait OffsetOracle: Send + Sync {
    /// The high watermark of `topic`-`partition`, or `None` if this broker does not know it
    /// (the partition does not exist, or is hosted elsewhere).
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64>;
    /// Whether `topic`-`partition` exists anywhere in the cluster.
    fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        self.log_end_offset(topic, partition).is_some()
    }
}

/// The groups of one internal partition.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    pub(crate) groups: HashMap<String, Group>,
}

/// One internal partition: its groups and its log, each behind its own lock, and whether this
/// broker coordinates it.
pub(crate) struct Partition {
    index: i32,
    state: Mutex<Shard>,
    writer: Mutex<Writer>,
    leadership: Leadership,
    /// A blocking thread is already waiting to run this partition's timers.
    timer_waiting: AtomicBool,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("index", &self.index)
            .field("leadership", &self.leadership)
            .finish_non_exhaustive()
    }
}

impl strata_coordinator::CoordinatedPartition for Partition {
    fn leadership(&self) -> &Leadership {
        &self.leadership
    }
}

impl Partition {
    fn new(index: i32) -> Partition {
        Partition {
            index,
            state: Mutex::new(Shard::default()),
            writer: Mutex::new(Writer::idle(index)),
            leadership: Leadership::default(),
            timer_waiting: AtomicBool::new(false),
        }
    }

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

    /// The error code for requests of this partition, `None` when it serves them.
    fn unavailable(&self) -> Option<i16> {
        self.leadership.unavailable()
    }

    /// Answers every parked JoinGroup and SyncGroup with `code`.
    fn answer_parked(&self, code: i16) {
        let mut shard = self.lock_state();
        for group in shard.groups.values_mut() {
            for m in &mut group.members {
                let id = m.id.clone();
                m.answer_join(crate::member::JoinOutcome::error(code, &id));
                m.answer_sync(crate::member::SyncOutcome::error(code));
            }
        }
    }

    /// Brings the partition to the latest desired leadership (see the module docs). Runs on a
    /// blocking thread (or inline without a runtime).
    fn converge(&self, clock: Clock) {
        let mut writer = self.lock_writer();
        let what = format!("{}-{}", crate::OFFSETS_TOPIC, self.index);
        self.leadership.converge(
            &what,
            &mut writer.log,
            || {
                self.answer_parked(codes::NOT_COORDINATOR);
                self.lock_state().groups.clear();
            },
            |log| crate::loader::replay(log, clock),
            |groups| {
                tracing::info!(
                    partition = self.index,
                    groups = groups.len(),
                    "groups loaded"
                );
                self.lock_state().groups = groups;
            },
        );
    }
}

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
    /// The internal partitions, their leadership and transitions.
    partitions: Shards<Partition>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GroupCoordinator {
    /// A coordinator of `config.offsets_topic_num_partitions` internal partitions, leading
    /// none of them yet. Inside a tokio runtime the timer task is spawned.
    pub fn new(config: GroupConfig, oracle: Arc<dyn OffsetOracle>) -> Arc<GroupCoordinator> {
        let count = config.offsets_topic_num_partitions.max(1);
        let coordinator = Arc::new(GroupCoordinator {
            config,
            oracle,
            partitions: Shards::new(count, Partition::new),
            tasks: Mutex::new(Vec::new()),
        });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let ticker = handle.spawn(tick_loop(Arc::downgrade(&coordinator)));
            coordinator
                .tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ticker);
        }
        coordinator
    }

    /// A coordinator over unreplicated local logs under `data_dir` (opened with crash recovery)
    /// that leads every partition: for tools and tests. [`GroupCoordinator::close`] closes the
    /// logs.
    pub fn open(
        data_dir: &Path,
        config: GroupConfig,
        oracle: Arc<dyn OffsetOracle>,
    ) -> Result<Arc<GroupCoordinator>, StorageError> {
        let mut logs = Vec::new();
        for p in 0..config.offsets_topic_num_partitions.max(1) {
            logs.push(Arc::new(crate::open_local_log(
                data_dir,
                p,
                crate::now_ms(),
            )?));
        }
        let coordinator = GroupCoordinator::new(config, oracle);
        for (p, log) in logs.into_iter().enumerate() {
            coordinator.elect(p as i32, 0, log);
        }
        Ok(coordinator)
    }

    /// Number of internal partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.count()
    }

    /// This broker now leads internal partition `p` in `leader_epoch`: its groups are loaded
    /// from `log` (in the background) and then served. Repeating a call for the epoch already
    /// loaded or loading does nothing.
    pub fn elect(self: &Arc<Self>, p: i32, leader_epoch: i32, log: Arc<dyn OffsetsLog>) {
        if self.partitions.elect(p, leader_epoch, log) {
            self.schedule(p);
        }
    }

    /// This broker no longer leads internal partition `p`: its groups answer NOT_COORDINATOR
    /// at once and are dropped (parked requests answered) in the background.
    pub fn resign(self: &Arc<Self>, p: i32) {
        if self.partitions.resign(p) {
            self.schedule(p);
        }
    }

    /// Whether this broker coordinates (leads) internal partition `p`, in the epoch it
    /// loaded, or is loading it.
    pub fn leads(&self, p: i32) -> Option<i32> {
        self.partitions.leads(p)
    }

    /// Runs partition `p`'s transition on a blocking thread (inline without a runtime).
    fn schedule(self: &Arc<Self>, p: i32) {
        let c = self.clone();
        self.partitions.spawn(move || {
            if let Some(part) = c.partitions.get(p) {
                part.converge(Clock::now());
            }
        });
    }

    /// Waits until every leadership transition asked for so far has finished (loads done,
    /// successfully or not).
    pub async fn wait_loaded(&self) {
        self.partitions.wait_idle().await;
    }

    /// True when every partition this coordinator was asked to lead is loaded and served.
    pub fn is_ready(&self) -> bool {
        self.partitions.is_ready()
    }

    fn partition_of(&self, group_id: &str) -> Result<&Partition, i16> {
        self.partitions
            .serving(partition_for(group_id, self.partitions.count()))
    }

    /// The partitions this broker serves groups of now.
    fn serving(&self) -> impl Iterator<Item = &Partition> {
        self.partitions.served()
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

    /// Runs `f` under the write lock and then the state lock of internal partition `p`. The
    /// write lock orders it after a load in progress (which holds it while it replays), so `f`
    /// sees the state that load installs.
    pub(crate) fn with_partition_state<R>(
        &self,
        p: i32,
        f: impl FnOnce(&mut Shard) -> R,
    ) -> Result<R, i16> {
        let part = self.partitions.get(p).ok_or(codes::NOT_COORDINATOR)?;
        let _writer = part.lock_writer();
        let mut shard = part.lock_state();
        Ok(f(&mut shard))
    }

    /// Runs `f` on every partition's groups in turn (one state lock at a time).
    pub(crate) fn each_shard(&self, mut f: impl FnMut(&mut Shard)) -> Result<(), i16> {
        if self.partitions.is_closed() {
            return Err(codes::NOT_COORDINATOR);
        }
        for p in self.serving() {
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
        // Closed or resigned while waiting: the log may be gone.
        if self.partitions.is_closed() {
            return Err(codes::NOT_COORDINATOR);
        }
        if let Some(code) = p.unavailable() {
            return Err(code);
        }
        if writer.log.is_none() {
            return Err(codes::NOT_COORDINATOR);
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
        for p in self.partitions.iter() {
            p.answer_parked(codes::NOT_COORDINATOR);
        }
    }

    /// Stops the timer task, waits for writes in flight and closes the logs the coordinator
    /// owns. Requests afterwards get NOT_COORDINATOR.
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
        self.partitions.close();
        let mut first = None;
        for p in self.partitions.iter() {
            let mut writer = p.lock_writer();
            if let Some((_, log)) = writer.log.take() {
                if let Err(e) = crate::blocking(|| log.close()) {
                    first.get_or_insert(e);
                }
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
        for p in self.partitions.iter() {
            p.lock_writer().hook = hook.clone();
        }
    }

    /// One timer pass over partition `p`, which the caller holds the write lock of (nothing
    /// unless it is coordinated here and loaded).
    fn tick_partition(&self, p: &Partition, writer: &mut Writer, retention_due: bool) {
        if self.partitions.is_closed() || p.unavailable().is_some() || writer.log.is_none() {
            return;
        }
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
        if c.partitions.is_closed() {
            return;
        }
        for (index, p) in c.partitions.iter().enumerate() {
            if p.unavailable().is_some() {
                continue;
            }
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
                        if let Some(p) = c.partitions.get(index as i32) {
                            let mut writer = p.lock_writer();
                            c.tick_partition(p, &mut writer, retention_due);
                            p.timer_waiting.store(false, Ordering::Release);
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
