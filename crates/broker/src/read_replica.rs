//! A read replica (`strata serve --read-replica`): a broker with no local log of its own that
//! serves the tiered topics of a bucket, read-only, from the manifests the writer cluster
//! uploads. Metadata, ListOffsets and Fetch work as on any broker: each mirrored partition is
//! an empty local log that starts where the bucket's segments end, so every read below that
//! point is a cold read (`handlers/fetch.rs`).
//!
//! Every `strata.read.replica.refresh.interval.ms` the mirror loop:
//! 1. lists the topic ids in the bucket (one delimited LIST) and, per topic, its partitions
//!    (one delimited LIST each); a new topic id is created locally under the same id and name
//!    (the name comes from its manifests) once one of its segments has a manifest; a topic
//!    with more partitions in the bucket grows;
//! 2. refreshes the catalog of the partitions that are due (one LIST of the partition's keys,
//!    one GET per new manifest, `Tier::refresh_partition`), least recently refreshed first,
//!    at most `strata.read.replica.max.lists.per.second` × interval LISTs per pass in all;
//! 3. moves each refreshed partition's empty local log to the bucket's end: log start = the
//!    first remote offset, log end = high watermark = the end of the last remote segment, the
//!    producer state seeded from the remote snapshot there (open transactions hold the last
//!    stable offset back, as on the writer), the leader-epoch cache raised to the newest epoch
//!    in the manifests (so OffsetForLeaderEpoch of a consumer's committed epoch answers).
//!
//! Invariants:
//! - the replica never writes to or deletes from the bucket: its store is opened read-only
//!   (`StoreOptions::read_only`, every write refused before a request is sent), the tiering
//!   loop does not run, and a rebuild never deletes orphans;
//! - a mirrored partition's local log is always empty: Produce and every admin write are
//!   refused (`handlers/read_only.rs`), and the log only ever moves forward to a larger
//!   remote end (or a later remote start, when the writers' retention deleted segments);
//! - consumer-group offsets are this replica's own (`__consumer_offsets` in its data dir):
//!   they need no writer and survive a restart; consumers of one group use one replica;
//! - the LIST cost is bounded: per pass, 1 + topics + at most the LIST budget;
//! - a store outage stops the loop's progress only: what is mirrored stays served, cold
//!   reads answer the retriable KAFKA_STORAGE_ERROR, and the next pass catches up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use strata_tier::Tier;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Partition;
use crate::tiering::{millis, setting};

/// Partitions refreshed at once within a pass.
const REFRESH_WIDTH: usize = 8;

/// A partition's key in the pass bookkeeping: (topic id, partition).
type RemotePartition = (String, i32);

/// Starts the mirror loop (instead of the tiering loop).
pub(crate) fn spawn(broker: &Arc<Broker>) -> Result<JoinHandle<()>, BrokerError> {
    let interval =
        Duration::from_millis(millis(broker, "strata.read.replica.refresh.interval.ms")?.max(10));
    let per_second: f64 = setting(broker, "strata.read.replica.max.lists.per.second")?;
    if per_second.is_nan() || per_second <= 0.0 {
        return Err(BrokerError::Config(format!(
            "strata.read.replica.max.lists.per.second = {per_second}: must be > 0"
        )));
    }
    let budget = ((per_second * interval.as_secs_f64()).floor() as usize).max(1);
    let broker = broker.clone();
    Ok(tokio::spawn(async move {
        let Some(tier) = broker.tier().cloned() else {
            return;
        };
        crate::tiering::reconcile(&tier).await;
        let mut mirror = Mirror {
            refreshed: HashMap::new(),
            budget,
            interval,
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            mirror.pass(&broker, &tier).await;
        }
    }))
}

/// The mirror loop's state between passes.
struct Mirror {
    /// When each partition was last refreshed from the bucket.
    refreshed: HashMap<RemotePartition, Instant>,
    /// LISTs per pass, in all.
    budget: usize,
    interval: Duration,
}

impl Mirror {
    async fn pass(&mut self, broker: &Arc<Broker>, tier: &Arc<Tier>) {
        let started = Instant::now();
        let mut lists = 0usize;
        match self.discover(broker, tier, &mut lists).await {
            Ok(()) => {}
            Err(e) => {
                metrics::counter!("strata_read_replica_refresh_errors_total").increment(1);
                tracing::warn!(error = %e, "read replica: listing the bucket's topics failed; serving what is mirrored");
                return;
            }
        }
        let left = self.budget.saturating_sub(lists).max(1);
        let due = self.due(broker, left);
        let jobs = due.into_iter().map(|part| {
            let tier = tier.clone();
            async move {
                let outcome = refresh(&tier, &part).await;
                (part, outcome)
            }
        });
        let outcomes: Vec<(Arc<Partition>, Result<bool, String>)> = futures::stream::iter(jobs)
            .buffer_unordered(REFRESH_WIDTH)
            .collect()
            .await;
        let mut advanced = 0usize;
        for (part, outcome) in outcomes {
            match outcome {
                Ok(moved) => {
                    advanced += usize::from(moved);
                    self.refreshed
                        .insert((part.topic_id.clone(), part.index), Instant::now());
                }
                Err(e) => {
                    metrics::counter!("strata_read_replica_refresh_errors_total").increment(1);
                    tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "read replica: partition refresh failed; retried next pass");
                }
            }
        }
        metrics::histogram!("strata_read_replica_pass_seconds")
            .record(started.elapsed().as_secs_f64());
        if advanced > 0 {
            tracing::debug!(
                advanced,
                "read replica: partitions moved to the bucket's end"
            );
        }
    }

    /// Lists the bucket's topics and their partitions; creates the new ones here and grows
    /// those with more partitions. Counts its LISTs in `lists`.
    async fn discover(
        &mut self,
        broker: &Arc<Broker>,
        tier: &Arc<Tier>,
        lists: &mut usize,
    ) -> Result<(), String> {
        let store = tier.store();
        *lists += 1;
        let ids = store
            .list_dirs(strata_tier::keys::LAYOUT_VERSION)
            .await
            .map_err(|e| e.to_string())?;
        for topic_id in ids {
            *lists += 1;
            let partitions = match store
                .list_dirs(&format!("{}/{topic_id}", strata_tier::keys::LAYOUT_VERSION))
                .await
            {
                Ok(names) => names
                    .iter()
                    .filter_map(|n| n.parse::<i32>().ok())
                    .filter(|p| *p >= 0)
                    .max()
                    .map_or(0, |p| p + 1),
                Err(e) => {
                    tracing::warn!(topic_id, error = %e, "read replica: listing a topic's partitions failed");
                    continue;
                }
            };
            if partitions == 0 {
                continue;
            }
            let image = broker.meta();
            let local = image.topics.values().find(|t| t.topic_id == topic_id);
            match local {
                Some(t) if t.partitions >= partitions => {}
                Some(t) => {
                    let name = t.name.clone();
                    let grown = crate::handlers::blocking(|| {
                        broker.increase_partitions(&name, partitions, false)
                    });
                    match grown {
                        Ok(_) => {
                            tracing::info!(topic = %name, partitions, "read replica: topic grew in the bucket")
                        }
                        Err(e) => {
                            tracing::warn!(topic = %name, error = %e, "read replica: adding partitions failed")
                        }
                    }
                }
                None => {
                    *lists += self.create(broker, tier, &topic_id, partitions).await;
                }
            }
        }
        Ok(())
    }

    /// Creates a topic found in the bucket, named by its manifests. Returns the LISTs used.
    async fn create(
        &mut self,
        broker: &Arc<Broker>,
        tier: &Arc<Tier>,
        topic_id: &str,
        partitions: i32,
    ) -> usize {
        let mut name = None;
        let mut lists = 0;
        for p in 0..partitions {
            lists += 1;
            if let Err(e) = tier.refresh_partition(topic_id, p).await {
                tracing::warn!(topic_id, partition = p, error = %e, "read replica: reading a new topic's manifests failed");
                return lists;
            }
            if name.is_none() {
                name = tier
                    .catalog()
                    .finished(topic_id, p)
                    .ok()
                    .and_then(|m| m.last().map(|m| m.topic.clone()));
            }
        }
        // Uploads without a manifest yet: the topic appears once one is complete.
        let Some(name) = name else {
            return lists;
        };
        if let Some(other) = broker.meta().topic(&name) {
            // The writers deleted and re-created the topic: the newest id is served.
            let newest = |id: &str| {
                tier.catalog()
                    .all_entries()
                    .ok()
                    .into_iter()
                    .flatten()
                    .filter(|e| e.manifest.topic_id == id)
                    .map(|e| e.manifest.uploaded_at_ms)
                    .max()
                    .unwrap_or(i64::MIN)
            };
            if newest(&other.topic_id) >= newest(topic_id) {
                return lists;
            }
            let old = other.topic_id.clone();
            match crate::handlers::blocking(|| broker.delete_topic(&name)) {
                Ok(_) => {
                    tracing::info!(topic = %name, old_id = %old, new_id = topic_id, "read replica: the topic was re-created in the bucket; serving the new one")
                }
                Err(e) => {
                    tracing::warn!(topic = %name, error = %e, "read replica: dropping the old topic failed");
                    return lists;
                }
            }
        }
        let configs = [
            ("remote.storage.enable", "true"),
            ("retention.ms", "-1"),
            ("retention.bytes", "-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let created = crate::handlers::blocking(|| {
            broker.create_topic_with_id(&name, topic_id, partitions, 1, configs, false)
        });
        match created {
            Ok(_) => {
                metrics::counter!("strata_read_replica_topics_created_total").increment(1);
                tracing::info!(topic = %name, topic_id, partitions, "read replica: serving a topic found in the bucket");
                // Its partitions were just refreshed: move them to the bucket's end now.
                for p in 0..partitions {
                    if let Some(part) = broker.partition(&name, p) {
                        match advance(tier, &part).await {
                            Ok(_) => {
                                self.refreshed
                                    .insert((topic_id.to_string(), p), Instant::now());
                            }
                            Err(e) => {
                                tracing::warn!(topic = %name, partition = p, error = %e, "read replica: moving a new partition to the bucket's end failed")
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(topic = %name, error = %e, "read replica: creating a topic found in the bucket failed")
            }
        }
        lists
    }

    /// The mirrored partitions to refresh this pass: those not refreshed for an interval,
    /// least recently refreshed first, at most `limit`.
    fn due(&mut self, broker: &Broker, limit: usize) -> Vec<Arc<Partition>> {
        let now = Instant::now();
        let parts: Vec<Arc<Partition>> = broker
            .all_partitions()
            .into_iter()
            .filter(|p| {
                p.settings().remote_storage_enable && !strata_meta::is_internal_topic(&p.topic)
            })
            .collect();
        self.refreshed
            .retain(|(id, p), _| parts.iter().any(|x| &x.topic_id == id && x.index == *p));
        // Slightly less than the interval, so a pass that starts a little early still counts.
        let fresh = self.interval.mul_f64(0.9);
        let mut due: Vec<(Option<Instant>, Arc<Partition>)> = parts
            .into_iter()
            .map(|part| {
                let at = self
                    .refreshed
                    .get(&(part.topic_id.clone(), part.index))
                    .copied();
                (at, part)
            })
            .filter(|(at, _)| at.is_none_or(|at| now.duration_since(at) >= fresh))
            .collect();
        due.sort_by_key(|(at, part)| (*at, part.topic.clone(), part.index));
        let waiting = due.len().saturating_sub(limit);
        metrics::gauge!("strata_read_replica_partitions_behind_budget").set(waiting as f64);
        due.into_iter().take(limit).map(|(_, p)| p).collect()
    }
}

/// Refreshes one partition's catalog from the bucket and moves its local log to the bucket's
/// end. `Ok(true)` if the log moved.
async fn refresh(tier: &Arc<Tier>, part: &Arc<Partition>) -> Result<bool, String> {
    tier.refresh_partition(&part.topic_id, part.index)
        .await
        .map_err(|e| e.to_string())?;
    advance(tier, part).await
}

/// Moves the partition's (empty) local log to the end of its remote segments, as the catalog
/// now has them. `Ok(true)` if it moved.
async fn advance(tier: &Arc<Tier>, part: &Arc<Partition>) -> Result<bool, String> {
    let manifests = tier
        .catalog()
        .finished(&part.topic_id, part.index)
        .map_err(|e| e.to_string())?;
    let (Some(first), Some(last)) = (manifests.first(), manifests.last()) else {
        return Ok(false);
    };
    let (start, end) = (first.base_offset, last.end_offset.max(first.base_offset));
    let epoch = manifests.iter().map(|m| m.leader_epoch).max().unwrap_or(0);
    let (log_start, log_end) = {
        let log = part.log();
        (log.log_start_offset(), log.log_end_offset())
    };
    // Only forward: a larger end, or the same end with a later start (the writers'
    // retention deleted segments).
    if end < log_end || (end == log_end && start <= log_start) {
        return Ok(false);
    }
    let seed = strata_tier::producer_seed::producer_seed(tier.store(), &manifests, end)
        .await
        .map_err(|e| e.to_string())?;
    {
        let mut log = part.log();
        if log.log_end_offset() > end {
            return Ok(false); // another pass moved it further meanwhile
        }
        log.restart_from_tier(start, end, seed.as_seed())
            .map_err(|e| e.to_string())?;
        log.assign_leader_epoch(epoch).map_err(|e| e.to_string())?;
    }
    part.wake_readers();
    metrics::counter!("strata_read_replica_segments_seen_total").increment(1);
    tracing::debug!(topic = %part.topic, partition = part.index, start, end, "read replica: moved to the bucket's end");
    Ok(true)
}
