//! The leadership life cycle of one internal partition a coordinator may lead.
//!
//! The broker asks for a partition ([`Leadership::elect`], with the leader epoch and the
//! partition's [`InternalLog`]) when it becomes its leader, and gives it up
//! ([`Leadership::resign`]) when it stops. The partition's status is `NotLeader` (requests get
//! NOT_COORDINATOR) → `Loading` (replaying the log; COORDINATOR_LOAD_IN_PROGRESS) → `Ready`; a
//! replay failure leaves it `Failed` (COORDINATOR_NOT_AVAILABLE) until leadership changes again.
//!
//! Invariants:
//! - transitions run off the request path ([`Transitions`]), under the coordinator's write lock
//!   of the partition, and converge on the *latest* request: a partition turns `Ready` only if,
//!   once loaded, it is still wanted in the epoch it loaded;
//! - resigning takes effect for new requests at once (the status flips before the unload); a
//!   write in flight from the old term fails in the broker's log (wrong epoch or no longer
//!   leader) and is answered as not stored;
//! - the term a coordinator's state was loaded in is kept beside its log writer (the `loaded`
//!   argument of [`Leadership::converge`]), so a write always goes to the log of the term its
//!   state belongs to.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;

use crate::{InternalLog, StorageError};
use crate::{COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR};

/// A leader epoch and the log of the partition in that term.
pub type Term = (i32, Arc<dyn InternalLog>);

const NOT_LEADER: u8 = 0;
const LOADING: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;

/// The status of one internal partition and the leadership the broker last asked for.
pub struct Leadership {
    status: AtomicU8,
    /// The latest leadership the broker asked for (`None`: not leader).
    desired: Mutex<Option<Term>>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("status", &self.status.load(Ordering::Relaxed))
            .field("desired", &self.leads())
            .finish()
    }
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership {
            status: AtomicU8::new(NOT_LEADER),
            desired: Mutex::new(None),
        }
    }
}

impl Leadership {
    fn lock_desired(&self) -> MutexGuard<'_, Option<Term>> {
        self.desired.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The broker leads the partition in `epoch`: true when a transition must run (false if
    /// that epoch is already loaded or loading).
    pub fn elect(&self, epoch: i32, log: Arc<dyn InternalLog>) -> bool {
        let mut desired = self.lock_desired();
        if desired.as_ref().map(|(e, _)| *e) == Some(epoch) {
            return false;
        }
        *desired = Some((epoch, log));
        self.status.store(LOADING, Ordering::Release);
        true
    }

    /// The broker no longer leads the partition: true when a transition must run.
    pub fn resign(&self) -> bool {
        let mut desired = self.lock_desired();
        if desired.is_none() && self.status.load(Ordering::Acquire) == NOT_LEADER {
            return false;
        }
        *desired = None;
        self.status.store(NOT_LEADER, Ordering::Release);
        true
    }

    /// The epoch this broker leads (or is loading) the partition in.
    pub fn leads(&self) -> Option<i32> {
        self.lock_desired().as_ref().map(|(e, _)| *e)
    }

    /// The error code for requests of this partition; `None` when it serves them.
    pub fn unavailable(&self) -> Option<i16> {
        match self.status.load(Ordering::Acquire) {
            READY => None,
            LOADING => Some(COORDINATOR_LOAD_IN_PROGRESS),
            FAILED => Some(COORDINATOR_NOT_AVAILABLE),
            _ => Some(NOT_COORDINATOR),
        }
    }

    /// True when the partition is served, or neither led nor wanted.
    pub fn is_settled(&self) -> bool {
        let status = self.status.load(Ordering::Acquire);
        status == READY || (status == NOT_LEADER && self.lock_desired().is_none())
    }

    /// Shutdown: nothing is wanted any more; requests get NOT_COORDINATOR.
    pub fn close(&self) {
        self.lock_desired().take();
        self.status.store(NOT_LEADER, Ordering::Release);
    }

    /// Brings the partition to the desired leadership. `loaded` is the term the coordinator's
    /// state is loaded in (kept under the caller's write lock). If it differs from the desired
    /// one: `unload` drops the old state, `load` replays the new term's log and `install`
    /// makes the result the coordinator's state. `what` names the partition in logs.
    pub fn converge<S>(
        &self,
        what: &str,
        loaded: &mut Option<Term>,
        unload: impl FnOnce(),
        load: impl FnOnce(&dyn InternalLog) -> Result<S, StorageError>,
        install: impl FnOnce(S),
    ) {
        let want = self.lock_desired().clone();
        let loaded_epoch = loaded.as_ref().map(|(epoch, _)| *epoch);
        if want.as_ref().map(|(epoch, _)| *epoch) == loaded_epoch
            && self.status.load(Ordering::Acquire) == READY
        {
            return;
        }
        if loaded.take().is_some() {
            unload();
            tracing::info!(partition = what, "no longer coordinating");
        }
        let Some((epoch, log)) = want else {
            return;
        };
        let started = Instant::now();
        match load(log.as_ref()) {
            Ok(state) => {
                tracing::info!(
                    partition = what,
                    epoch,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "loaded; coordinating"
                );
                install(state);
                *loaded = Some((epoch, log));
                if self.leads() == Some(epoch) {
                    self.status.store(READY, Ordering::Release);
                }
            }
            Err(e) => {
                tracing::error!(partition = what, epoch, error = %e,
                    "loading failed; the partition's keys are unavailable");
                if self.leads() == Some(epoch) {
                    self.status.store(FAILED, Ordering::Release);
                }
            }
        }
    }
}

/// Leadership transitions in flight, run on blocking threads (inline without a runtime).
#[derive(Debug, Clone)]
pub struct Transitions {
    pending: Arc<watch::Sender<usize>>,
}

impl Default for Transitions {
    fn default() -> Self {
        let (pending, _) = watch::channel(0);
        Transitions {
            pending: Arc::new(pending),
        }
    }
}

impl Transitions {
    /// Runs `f` (a transition) on a blocking thread, or inline outside a runtime.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        self.pending.send_modify(|n| *n += 1);
        let pending = self.pending.clone();
        let run = move || {
            f();
            pending.send_modify(|n| *n = n.saturating_sub(1));
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(run)),
            Err(_) => run(),
        }
    }

    /// Waits until every transition started so far has finished.
    pub async fn wait_idle(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}
