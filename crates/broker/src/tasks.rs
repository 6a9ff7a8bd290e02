//! Background work: retention enforcement, the log cleaner (`log_cleaner.rs`), the periodic flusher (`flush.ms`) and the
//! recovery-point and high-watermark checkpoints, on timers.
//!
//! Invariants:
//! - background tasks take a partition's lock only for the duration of one `apply_retention`
//!   call, so produce and fetch are delayed by at most one segment deletion;
//! - the periodic flush fsyncs with no lock held: it takes a [`strata_log::SyncPlan`] under the
//!   lock, runs it without, and records the outcome under the lock again.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::broker::{now_ms, Broker};
use crate::error::BrokerError;

/// Starts the background tasks.
pub(crate) fn spawn_all(broker: &Arc<Broker>) -> Result<Vec<JoinHandle<()>>, BrokerError> {
    let mut tasks = vec![
        tokio::spawn(retention_loop(broker.clone())),
        tokio::spawn(flush_loop(broker.clone())),
        tokio::spawn(crate::reconcile::run(broker.clone())),
        tokio::spawn(crate::liveness::run(broker.clone())),
        tokio::spawn(crate::isr_manager::run(
            broker.clone(),
            broker.config.replica_lag_time_max_ms,
        )),
        if broker.config.read_replica {
            crate::read_replica::spawn(broker)?
        } else {
            crate::tiering::spawn(broker)?
        },
    ];
    tasks.extend(crate::log_cleaner::spawn(broker));
    Ok(tasks)
}

/// How often the flusher looks for partitions whose `flush.ms` has passed (Kafka's
/// `log.flush.scheduler.interval.ms`).
const FLUSH_CHECK_MS: u64 = 1000;

async fn flush_loop(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(FLUSH_CHECK_MS));
    let every = crate::recovery_points::INTERVAL_MS / FLUSH_CHECK_MS;
    let every_hw = crate::high_watermarks::INTERVAL_MS / FLUSH_CHECK_MS;
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        // The recovery point checkpoint: at start (what was just recovered), then every minute.
        if ticks.is_multiple_of(every) {
            let result = tokio::task::block_in_place(|| broker.checkpoint_recovery_points());
            if let Err(e) = result {
                tracing::warn!(error = %e, "recovery point checkpoint not written");
            }
        }
        if ticks.is_multiple_of(every_hw) {
            let result = tokio::task::block_in_place(|| broker.checkpoint_high_watermarks());
            if let Err(e) = result {
                tracing::warn!(error = %e, "high watermark checkpoint not written");
            }
        }
        ticks += 1;
        crate::txn_metrics::report(&broker);
        for part in broker.all_partitions() {
            let Some(plan) = part.log().due_sync_plan(now_ms()) else {
                continue;
            };
            let outcome = tokio::task::block_in_place(|| plan.execute());
            let result = part.log().complete_sync(&plan, outcome);
            match result {
                Ok(()) => part.wake_readers(),
                Err(e) => {
                    tracing::error!(topic = %part.topic, partition = part.index, error = %e, "periodic flush failed");
                }
            }
        }
    }
}

async fn retention_loop(broker: Arc<Broker>) {
    let period = Duration::from_millis(broker.config.retention_check_interval_ms.max(10));
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        for part in broker.all_partitions() {
            let result = tokio::task::block_in_place(|| {
                let mut log = part.log();
                let deleted = log.apply_retention(now_ms());
                // An aged segment rolled here was sealed without an fsync: the flusher syncs it.
                let sync_to = log.seal_pending().then(|| log.log_end_offset());
                drop(log);
                if let Some(end) = sync_to {
                    broker.flusher.sync_detached(Arc::clone(&part), end);
                }
                deleted
            });
            match result {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(topic = %part.topic, partition = part.index, segments = n, "retention deleted segments");
                    metrics::counter!("strata_retention_segments_deleted_total")
                        .increment(n as u64);
                }
                Err(e) => {
                    tracing::error!(topic = %part.topic, partition = part.index, error = %e, "retention failed");
                }
            }
        }
    }
}
