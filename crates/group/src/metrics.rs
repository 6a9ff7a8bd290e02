//! Coordinator metrics (prefix `strata_group_`).
//!
//! - `strata_group_lag{group,topic,partition}` (gauge): high watermark minus committed offset,
//!   floored at 0, recomputed every 5 s for every committed offset (as kafka-consumer-groups.sh
//!   computes LAG). Partitions that no longer exist are skipped.
//! - `strata_group_members{group}` (gauge), `strata_groups` (gauge).
//! - `strata_group_rebalances_total{group}` and `strata_group_session_expirations_total{group}`
//!   (counters).

use crate::coordinator::Shard;
use crate::OffsetOracle;

/// Recomputes the per-group gauges of one partition's groups (the caller sets `strata_groups`).
pub(crate) fn publish(shard: &Shard, oracle: &dyn OffsetOracle) {
    for group in shard.groups.values() {
        metrics::gauge!("strata_group_members", "group" => group.id.clone())
            .set(group.members.len() as f64);
        for ((topic, partition), committed) in &group.offsets {
            let Some(end) = oracle.log_end_offset(topic, *partition) else {
                continue;
            };
            let lag = (end - committed.offset).max(0);
            metrics::gauge!(
                "strata_group_lag",
                "group" => group.id.clone(),
                "topic" => topic.clone(),
                "partition" => partition.to_string()
            )
            .set(lag as f64);
        }
    }
}

pub(crate) fn rebalance_started(group: &str) {
    metrics::counter!("strata_group_rebalances_total", "group" => group.to_string()).increment(1);
}

pub(crate) fn session_expired(group: &str) {
    metrics::counter!("strata_group_session_expirations_total", "group" => group.to_string())
        .increment(1);
}
