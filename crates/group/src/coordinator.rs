//! `GroupCoordinator`: the groups behind one mutex, the load phase, the timer task, shutdown.
//!
//! Phases: `Loading` (replaying `__consumer_offsets`; requests get COORDINATOR_LOAD_IN_PROGRESS)
//! → `Ready` → `Closed` (after [`GroupCoordinator::close`]; requests get NOT_COORDINATOR).
//! A replay failure leaves the coordinator `Failed`: groups answer COORDINATOR_NOT_AVAILABLE and
//! the error is logged, while the rest of the broker keeps serving.
//!
//! Invariant: the mutex is never held across an `.await`; parked JoinGroup/SyncGroup replies
//! are awaited after it is released.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::codes;
use crate::group::Group;
use crate::storage::{StorageError, Store};
use crate::GroupConfig;

/// What the coordinator needs to know about user partitions: their log end offsets (high
/// watermarks), for lag and for refusing commits to partitions that don't exist.
pub trait OffsetOracle: Send + Sync {
    /// The high watermark of `topic`-`partition`, or `None` if the partition does not exist.
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64>;
}

/// The loaded state: every group and the internal log.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) groups: HashMap<String, Group>,
    pub(crate) store: Store,
}

#[derive(Debug)]
enum Phase {
    Loading,
    Ready(State),
    Failed,
    Closed,
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
    data_dir: PathBuf,
    phase: Mutex<Phase>,
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
            phase: Mutex::new(Phase::Loading),
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
                let mut phase = self.lock_phase();
                if matches!(*phase, Phase::Loading) {
                    *phase = Phase::Ready(State { groups, store });
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "loading __consumer_offsets failed; groups are unavailable");
                *self.lock_phase() = Phase::Failed;
            }
        }
        self.loaded.send_replace(true);
    }

    fn lock_phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the replay has finished (successfully or not).
    pub async fn wait_loaded(&self) {
        let mut rx = self.loaded.subscribe();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// True once the state is loaded and requests are served.
    pub fn is_ready(&self) -> bool {
        matches!(*self.lock_phase(), Phase::Ready(_))
    }

    /// Runs `f` on the loaded state, or returns the error code the phase calls for.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State, Clock) -> R) -> Result<R, i16> {
        let mut phase = self.lock_phase();
        match &mut *phase {
            Phase::Ready(state) => Ok(f(state, Clock::now())),
            Phase::Loading => Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
            Phase::Failed => Err(codes::COORDINATOR_NOT_AVAILABLE),
            Phase::Closed => Err(codes::NOT_COORDINATOR),
        }
    }

    /// Starts shutdown: every parked JoinGroup and SyncGroup is answered NOT_COORDINATOR so
    /// connections can finish; later requests are still served until [`GroupCoordinator::close`].
    pub fn begin_shutdown(&self) {
        let _ = self.with_state(|state, _| {
            for group in state.groups.values_mut() {
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

    /// Stops the timer task and closes the internal logs cleanly. Requests afterwards get
    /// NOT_COORDINATOR.
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
        let previous = std::mem::replace(&mut *self.lock_phase(), Phase::Closed);
        match previous {
            Phase::Ready(state) => crate::blocking(|| state.store.close()),
            _ => Ok(()),
        }
    }

    /// Group ids and states (for tests and tools).
    pub fn group_states(&self) -> Vec<(String, crate::GroupState)> {
        self.with_state(|state, _| {
            let mut v: Vec<_> = state
                .groups
                .values()
                .map(|g| (g.id.clone(), g.state))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        })
        .unwrap_or_default()
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
        let _ = c.with_state(|state, _| {
            crate::timers::tick(state, &c.config, clock);
            if retention_due {
                crate::timers::expire_offsets(state, &c.config, clock);
            }
            if lag_due {
                crate::metrics::publish(state, c.oracle.as_ref());
            }
        });
    }
}
