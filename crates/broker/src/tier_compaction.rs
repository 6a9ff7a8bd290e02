//! Wiring of the remote compaction of tiered compacted topics (`strata_tier::remote_compaction`)
//! into the tiering loop, and its settings.
//!
//! Invariants:
//! - only a partition's leader compacts and sweeps it, after its tiering sync, in the tiering
//!   loop (so never concurrently with its own uploads), at most once per
//!   `strata.tier.compaction.interval.ms` per partition;
//! - the sweep of superseded uploads runs on the same schedule for every tiered partition the
//!   node leads, compacted or not (a deposed leader's re-uploads are superseded too), deleting
//!   only what is older than `strata.tier.compaction.grace.ms`;
//! - `log.cleaner.enable=false` turns remote compaction off as it does the local cleaner (the
//!   sweep still runs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_replica::Partition;
use strata_tier::remote_compaction::RemoteCompactionConfig;
use strata_tier::{PartitionRef, Tier};

use crate::broker::Broker;
use crate::partition::TopicPartition;

/// Defaults of the remote compaction settings.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("strata.tier.compaction.interval.ms", "300000"),
    ("strata.tier.compaction.grace.ms", "300000"),
];

/// When each partition was last compacted and swept by this node.
pub type LastRuns = HashMap<TopicPartition, Instant>;

fn millis(broker: &Broker, key: &str) -> Duration {
    let raw = broker
        .config
        .raw
        .get(key)
        .map(String::as_str)
        .or_else(|| DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
        .unwrap_or("0");
    Duration::from_millis(raw.trim().parse::<u64>().unwrap_or(300_000))
}

/// After the leader's tiering sync of `part`: compacts it in the bucket if its topic is
/// compacted and a run is due, then sweeps superseded uploads.
pub async fn after_sync(
    broker: &Arc<Broker>,
    tier: &Tier,
    part: &Arc<Partition>,
    p: PartitionRef<'_>,
    last: &mut LastRuns,
) {
    let interval = millis(broker, "strata.tier.compaction.interval.ms");
    let tp = (part.topic.clone(), part.index);
    if last.get(&tp).is_some_and(|t| t.elapsed() < interval) {
        return;
    }
    last.insert(tp, Instant::now());
    let cleaner = crate::log_cleaner::CleanerSettings::from_config(&broker.config);
    let dedupe = cleaner.dedupe_buffer_size / cleaner.threads.max(1);
    if cleaner.enable {
        if let Some(config) = crate::log_cleaner::partition_config(broker, part, dedupe) {
            let cfg = RemoteCompactionConfig {
                cleaner: config,
                log: part.settings().log.clone(),
            };
            let started = Instant::now();
            match tier.compact_partition(p, &cfg).await {
                Ok(Some(r)) => {
                    let labels = [
                        ("topic", part.topic.clone()),
                        ("partition", part.index.to_string()),
                    ];
                    metrics::gauge!("strata_tier_compaction_dirty_ratio", &labels)
                        .set(r.dirty_ratio);
                    metrics::gauge!("strata_tier_compaction_map_fill_ratio", &labels)
                        .set(r.map_fill_ratio);
                    metrics::histogram!("strata_tier_compaction_seconds")
                        .record(started.elapsed().as_secs_f64());
                }
                Ok(None) => {}
                Err(e) => {
                    metrics::counter!("strata_tier_compaction_errors_total").increment(1);
                    tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "remote compaction failed; retried at the next interval");
                }
            }
        }
    }
    let grace = millis(broker, "strata.tier.compaction.grace.ms");
    if let Err(e) = tier.sweep_partition(p, grace).await {
        tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "sweep of superseded uploads failed");
    }
}
