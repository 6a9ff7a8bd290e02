//! Group commit: one flusher per log directory batches the fsyncs of every partition whose
//! appends wait to be durable.
//!
//! Invariants:
//! - a waiter names a partition and the durable end it needs ([`strata_log::AppendInfo::sync_end`]);
//!   it is answered `Ok` once the partition's log is durable to at least that end, or with the
//!   storage error that took the log offline (never `Ok` early);
//! - a cycle takes every queued waiter, makes one [`SyncPlan`] per partition under that
//!   partition's lock (in-memory work only), runs the fdatasyncs with no lock held (in parallel
//!   across partitions), then records each outcome under the lock and answers the waiters.
//!   Waiters that arrive during a cycle are covered by the next one: that is the group commit;
//!   nobody blocks in fsync while holding a lock that produce, fetch or heartbeats need;
//! - the flusher runs on its own thread, so fsyncs never occupy the async workers;
//! - after a cycle, the long polls of every partition it made more durable are woken (their
//!   high watermark may have moved).
//!
//! Metrics: `strata_flush_cycles_total`, `strata_flush_fsyncs_total` (fdatasync calls),
//! `strata_flush_waiters_total` (waiters answered), `strata_flush_cycle_seconds` (histogram),
//! `strata_flush_partitions_per_cycle` (histogram).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use strata_log::{LogError, SyncPlan};
use tokio::sync::oneshot;

use crate::partition::Partition;

/// Why a wait for durability failed.
pub type SyncError = String;

struct Waiter {
    part: Arc<Partition>,
    end: i64,
    done: Option<oneshot::Sender<Result<(), SyncError>>>,
}

#[derive(Default)]
struct Queue {
    waiters: Vec<Waiter>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// The group-commit flusher of one log directory.
pub struct Flusher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts the flusher thread.
    pub fn start(name: &str) -> std::io::Result<Flusher> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("strata-flusher-{name}"))
            .spawn(move || run(&worker))?;
        Ok(Flusher { shared })
    }

    /// Asks for `part` to be durable up to `end`; the receiver answers once it is.
    pub fn sync(&self, part: Arc<Partition>, end: i64) -> oneshot::Receiver<Result<(), SyncError>> {
        let (tx, rx) = oneshot::channel();
        self.push(Waiter {
            part,
            end,
            done: Some(tx),
        });
        rx
    }

    /// Asks for `part` to be durable up to `end` without waiting (acks=0).
    pub fn sync_detached(&self, part: Arc<Partition>, end: i64) {
        self.push(Waiter {
            part,
            end,
            done: None,
        });
    }

    fn push(&self, waiter: Waiter) {
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.waiters.push(waiter);
        drop(queue);
        self.shared.ready.notify_one();
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.closed = true;
        drop(queue);
        self.shared.ready.notify_one();
    }
}

fn run(shared: &Shared) {
    loop {
        let waiters = {
            let mut queue = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            while queue.waiters.is_empty() && !queue.closed {
                queue = shared.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
            if queue.waiters.is_empty() {
                return;
            }
            std::mem::take(&mut queue.waiters)
        };
        for part in cycle(waiters) {
            // A replicated leader's high watermark may move with its own durable end.
            if !part.refresh_high_watermark() {
                part.wake_readers();
            }
        }
    }
}

/// One group commit over `waiters`; returns the partitions that became more durable.
fn cycle(waiters: Vec<Waiter>) -> Vec<Arc<Partition>> {
    let started = Instant::now();
    let mut by_partition: HashMap<*const Partition, Vec<Waiter>> = HashMap::new();
    for w in waiters {
        by_partition
            .entry(Arc::as_ptr(&w.part))
            .or_default()
            .push(w);
    }
    let groups: Vec<Vec<Waiter>> = by_partition.into_values().collect();
    let plans: Vec<Option<SyncPlan>> = groups
        .iter()
        .map(|g| {
            let need = g.iter().map(|w| w.end).max().unwrap_or(0);
            let mut log = g[0].part.log();
            log.needs_sync(need).then(|| log.sync_plan()).flatten()
        })
        .collect();
    let results = execute_all(&plans);
    let mut progressed = Vec::new();
    let mut fsyncs = 0;
    for ((group, plan), result) in groups.into_iter().zip(&plans).zip(results) {
        let part = Arc::clone(&group[0].part);
        let mut log = part.log();
        if let (Some(plan), Some(result)) = (plan, result) {
            fsyncs += plan.file_count();
            if let Err(e) = log.complete_sync(plan, result) {
                tracing::error!(topic = %part.topic, partition = part.index, error = %e,
                    "group-commit fsync failed: partition offline");
            }
            progressed.push(Arc::clone(&part));
        }
        let durable = log.durable_end();
        let offline = log.offline_reason().map(str::to_string);
        drop(log);
        let answered = group.len();
        for mut w in group {
            let outcome = if w.end <= durable {
                Ok(())
            } else {
                Err(offline.clone().unwrap_or_else(|| {
                    format!("{}-{} could not be made durable", part.topic, part.index)
                }))
            };
            if let Some(done) = w.done.take() {
                let _ = done.send(outcome);
            }
        }
        metrics::counter!("strata_flush_waiters_total").increment(answered as u64);
    }
    metrics::counter!("strata_flush_cycles_total").increment(1);
    metrics::counter!("strata_flush_fsyncs_total").increment(fsyncs as u64);
    metrics::histogram!("strata_flush_partitions_per_cycle").record(plans.len() as f64);
    metrics::histogram!("strata_flush_cycle_seconds").record(started.elapsed().as_secs_f64());
    progressed
}

/// Most fdatasyncs one cycle runs at once.
const PARALLEL_FSYNCS: usize = 8;

/// Runs every plan, up to [`PARALLEL_FSYNCS`] at once; `None` where there was no plan.
fn execute_all(plans: &[Option<SyncPlan>]) -> Vec<Option<Result<(), LogError>>> {
    let mut results: Vec<Option<Result<(), LogError>>> = plans.iter().map(|_| None).collect();
    let work: Vec<(usize, &SyncPlan)> = plans
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
        .collect();
    if let [(i, plan)] = work.as_slice() {
        results[*i] = Some(plan.execute());
        return results;
    }
    for chunk in work.chunks(PARALLEL_FSYNCS) {
        let outcomes: Vec<Result<(), LogError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(_, plan)| scope.spawn(|| plan.execute()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogError::Io {
                            context: "fsync thread panicked".into(),
                            source: std::io::Error::other("panic"),
                        })
                    })
                })
                .collect()
        });
        for ((i, _), outcome) in chunk.iter().zip(outcomes) {
            results[*i] = Some(outcome);
        }
    }
    results
}
