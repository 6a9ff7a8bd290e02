//! The leader's ISR upkeep (Kafka's `Partition.maybeShrinkIsr` / `maybeExpandIsr`): every tick,
//! each partition this broker leads drops followers that have not caught up within
//! `replica.lag.time.max.ms` and takes back followers whose log reached the high watermark.
//! Both changes are proposed to the metadata quorum (AlterIsr), which refuses a stale one; the
//! new ISR reaches the partition through the reconciler, like any other metadata change.
//!
//! Invariants:
//! - at most one ISR change per partition per tick, always based on the partition epoch this
//!   broker last saw;
//! - the leader never removes itself;
//! - metrics: `strata_isr_shrinks_total`, `strata_isr_expands_total`, and the gauges
//!   `strata_under_replicated_partitions` (led partitions whose ISR is smaller than their
//!   replica set) and `strata_replica_max_lag_records` (the largest lag, in records behind the
//!   leader's high watermark, of this broker's follower copies — Kafka's MaxLag).

use std::sync::Arc;
use std::time::Duration;

use strata_meta::Operation;

use crate::broker::{now_ms, Broker};

/// How often the ISR is checked.
const TICK: Duration = Duration::from_millis(250);

/// Runs until the broker shuts down.
pub(crate) async fn run(broker: Arc<Broker>, lag_max_ms: i64) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut under_replicated = 0u64;
        let mut max_lag = 0i64;
        for part in broker.all_partitions() {
            if part.following().is_some() {
                max_lag = max_lag.max(part.replica_lag_records());
                continue;
            }
            let state = part.replica_state();
            if !state.is_leader() || state.replicas.len() < 2 {
                continue;
            }
            if state.isr.len() < state.replicas.len() {
                under_replicated += 1;
            }
            let hw = part.log().high_watermark();
            let lagging = state.lagging_in_sync(now_ms(), lag_max_ms, state.node);
            let joining = state.caught_up_out_of_sync(hw, 0);
            if lagging.is_empty() && joining.is_empty() {
                continue;
            }
            let isr: Vec<i32> = state
                .replicas
                .iter()
                .copied()
                .filter(|r| (state.isr.contains(r) && !lagging.contains(r)) || joining.contains(r))
                .collect();
            let op = Operation::AlterIsr {
                topic_id: part.topic_id.clone(),
                partition: part.index,
                leader: state.node,
                leader_epoch: state.leader_epoch,
                partition_epoch: state.partition_epoch,
                isr: isr.clone(),
            };
            match broker.quorum().execute(op).await {
                Ok(_) => {
                    tracing::info!(topic = %part.topic, partition = part.index,
                        from = ?state.isr, to = ?isr, "ISR changed");
                    if !lagging.is_empty() {
                        metrics::counter!("strata_isr_shrinks_total").increment(1);
                    }
                    if !joining.is_empty() {
                        metrics::counter!("strata_isr_expands_total").increment(1);
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %part.topic, partition = part.index, error = %e,
                        "ISR change not committed");
                }
            }
        }
        metrics::gauge!("strata_under_replicated_partitions").set(under_replicated as f64);
        metrics::gauge!("strata_replica_max_lag_records").set(max_lag as f64);
    }
}
