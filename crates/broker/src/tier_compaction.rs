//! Wiring of the remote compaction of tiered compacted topics (`strata_tier::remote_compaction`)
//! into the tiering loop, and its settings.
//!
//! Invariants:
//! - only a partition's leader compacts and sweeps it, after its tiering sync, at most once per
//!   `strata.tier.compaction.interval.ms` per partition; one run at a time per node, in a
//!   background task (the tier keeps the partition's remote retention waiting meanwhile, and
//!   its uploads only add segments after the run's chain);
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
use tokio::sync::Semaphore;

use crate::broker::Broker;
use crate::partition::TopicPartition;

/// When each partition was last compacted and swept by this node, and the slot that lets one
/// remote compaction run at a time on this node (in the background: a long run never holds up
/// the tiering loop's uploads of other partitions).
#[derive(Debug)]
pub struct Schedule {
    last: HashMap<TopicPartition, Instant>,
    slot: Arc<Semaphore>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            last: HashMap::new(),
            slot: Arc::new(Semaphore::new(1)),
        }
    }
}

/// A millisecond setting of the tiering loop (defaults in `tiering::DEFAULTS`).
fn millis(broker: &Broker, key: &str) -> Duration {
    Duration::from_millis(crate::tiering::millis(broker, key).unwrap_or(300_000))
}

/// After the leader's tiering sync of `part` (in leader epoch `epoch`): starts a remote
/// compaction in the background if its topic is compacted, a run is due and the node's slot is
/// free; then sweeps superseded uploads.
pub async fn after_sync(
    broker: &Arc<Broker>,
    tier: &Arc<Tier>,
    part: &Arc<Partition>,
    epoch: i32,
    schedule: &mut Schedule,
) {
    let interval = millis(broker, "strata.tier.compaction.interval.ms");
    let tp = (part.topic.clone(), part.index);
    if schedule
        .last
        .get(&tp)
        .is_some_and(|t| t.elapsed() < interval)
    {
        return;
    }
    let cleaner = crate::log_cleaner::CleanerSettings::from_config(&broker.config);
    let dedupe = cleaner.dedupe_buffer_size / cleaner.threads.max(1);
    let config = cleaner
        .enable
        .then(|| crate::log_cleaner::partition_config(broker, part, dedupe))
        .flatten();
    if let Some(config) = config {
        let Ok(permit) = schedule.slot.clone().try_acquire_owned() else {
            return; // another partition's run holds the slot: try again at the next pass
        };
        let cfg = RemoteCompactionConfig {
            cleaner: config,
            log: part.settings().log.clone(),
        };
        let (tier, part) = (Arc::clone(tier), Arc::clone(part));
        tokio::spawn(async move {
            let _permit = permit;
            compact(&tier, &part, epoch, &cfg).await;
        });
    }
    schedule.last.insert(tp, Instant::now());
    let grace = millis(broker, "strata.tier.compaction.grace.ms");
    if let Err(e) = tier
        .sweep_partition(partition_ref(part, epoch), grace)
        .await
    {
        tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "sweep of superseded uploads failed");
    }
}

/// One remote compaction run of `part`, with its metrics.
async fn compact(tier: &Tier, part: &Partition, epoch: i32, cfg: &RemoteCompactionConfig) {
    let started = Instant::now();
    match tier
        .compact_partition(partition_ref(part, epoch), cfg)
        .await
    {
        Ok(Some(r)) => {
            let labels = [
                ("topic", part.topic.clone()),
                ("partition", part.index.to_string()),
            ];
            metrics::gauge!("strata_tier_compaction_dirty_ratio", &labels).set(r.dirty_ratio);
            metrics::gauge!("strata_tier_compaction_map_fill_ratio", &labels).set(r.map_fill_ratio);
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

/// `part` as the tier sees it, in leader epoch `epoch`.
fn partition_ref(part: &Partition, epoch: i32) -> PartitionRef<'_> {
    PartitionRef {
        topic: &part.topic,
        topic_id: &part.topic_id,
        partition: part.index,
        log: part.log_mutex(),
        leader_epoch: epoch,
    }
}
