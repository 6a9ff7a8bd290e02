//! Wiring of tiered storage into the broker: opening the object store and catalog, the
//! tiering loop, and the settings (Kafka names where Kafka has them).
//!
//! Invariants:
//! - startup never waits on the bucket: [`open`] reads only local state, and the tiering loop
//!   first reconciles the catalog with the bucket ([`Tier::reconcile`]), retrying with backoff
//!   (1 s doubling to 30 s) until the store answers; only then does it upload or delete;
//! - the tiering loop syncs up to `remote.log.manager.copier.thread.pool.size` partitions at
//!   once per tick (uploads are bounded by the tier's semaphore of that size and its rate limit;
//!   one partition's segments upload in offset order); it takes a partition's log mutex only for
//!   short bookkeeping, never across an upload, so produce and hot fetch never wait on the
//!   bucket;
//! - only a partition's leader uploads and deletes remote segments; in a cluster of several
//!   voters a new leader first refreshes its catalog from the bucket
//!   (`Tier::refresh_partition`), so it goes on after the last uploaded segment instead of
//!   uploading again (a one-node cluster's catalog already knows every upload: it made them); object keys carry the uploader's
//!   leader epoch; a follower refreshes every pass and lets its local retention delete what is
//!   uploaded, as the leader does (all nodes share one bucket);
//! - a fetch waits at most `remote.fetch.max.wait.ms` for a cold read, then that partition
//!   answers the retriable KAFKA_STORAGE_ERROR (see handlers/fetch.rs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use strata_tier::store::{RemoteStore, StoreOptions};
use strata_tier::{ParquetPolicy, PartitionRef, Tier, TierConfig};
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::{Partition, TopicPartition};

/// Defaults of the tiering settings.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("strata.object.store", ""),
    ("remote.log.manager.task.interval.ms", "30000"),
    ("remote.log.manager.copier.thread.pool.size", "2"),
    (
        "remote.log.manager.copy.max.bytes.per.second",
        "9223372036854775807",
    ),
    ("remote.log.reader.threads", "4"),
    ("strata.cold.cache.bytes", "1073741824"),
    ("strata.cold.cache.chunk.bytes", "16777216"),
    ("strata.cold.read.ahead.bytes", "134217728"),
    ("strata.tier.multipart.threshold.bytes", "8388608"),
    ("strata.tier.multipart.part.bytes", "8388608"),
    ("strata.tier.multipart.concurrency", "4"),
    ("strata.tier.max.lag.bytes", "-1"),
    ("remote.fetch.max.wait.ms", "500"),
    ("strata.tier.orphan.min.age.ms", "3600000"),
    ("strata.tier.compaction.interval.ms", "300000"),
    ("strata.tier.compaction.grace.ms", "300000"),
    ("strata.read.replica.refresh.interval.ms", "10000"),
    ("strata.read.replica.max.lists.per.second", "20"),
];

/// Longest pause between two reconciliation attempts while the bucket is unreachable.
const RECONCILE_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `strata.tier.max.lag.bytes`: when a tiered partition has more than this many bytes of sealed
/// segments waiting for upload (the bucket is down or slow), produce to it is refused with a
/// retriable KAFKA_STORAGE_ERROR, bounding local disk use. -1 = no bound.
pub fn max_lag_bytes(broker: &Broker) -> i64 {
    setting(broker, "strata.tier.max.lag.bytes").unwrap_or(-1)
}

pub(crate) fn setting<T: std::str::FromStr>(broker: &Broker, key: &str) -> Result<T, BrokerError> {
    let raw = broker
        .config
        .raw
        .get(key)
        .map(String::as_str)
        .or_else(|| DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
        .unwrap_or("");
    raw.trim()
        .parse()
        .map_err(|_| BrokerError::Config(format!("{key} = {raw}: not a valid value")))
}

/// The object store URL: `strata.object.store`, or `file://<data dir>/remote` by default.
pub fn store_url(broker: &Broker) -> String {
    match broker.config.raw.get("strata.object.store") {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => {
            let dir = std::path::absolute(broker.config.data_dir.join("remote"))
                .unwrap_or_else(|_| broker.config.data_dir.join("remote"));
            format!("file://{}", dir.display())
        }
    }
}

/// Opens the object store and the tiering service and attaches it to the broker.
pub async fn open(broker: &Arc<Broker>) -> Result<(), BrokerError> {
    let url = store_url(broker);
    let options = StoreOptions {
        multipart_threshold: setting(broker, "strata.tier.multipart.threshold.bytes")?,
        multipart_part_size: setting(broker, "strata.tier.multipart.part.bytes")?,
        multipart_concurrency: setting::<usize>(broker, "strata.tier.multipart.concurrency")?
            .max(1),
        // A read replica never writes to or deletes from the bucket it serves.
        read_only: broker.config.read_replica,
        ..StoreOptions::default()
    };
    let store = RemoteStore::from_url(&url, options)
        .await
        .map_err(|e| BrokerError::Config(format!("object store {url}: {e}")))?;
    let data = &broker.config.data_dir;
    let config = TierConfig {
        catalog_dir: data.join("__tier").join("catalog"),
        cache_dir: data.join("__tier").join("cache"),
        cache_bytes: setting(broker, "strata.cold.cache.bytes")?,
        chunk_bytes: setting(broker, "strata.cold.cache.chunk.bytes")?,
        upload_concurrency: setting(broker, "remote.log.manager.copier.thread.pool.size")?,
        upload_bytes_per_sec: setting(broker, "remote.log.manager.copy.max.bytes.per.second")?,
        cold_read_concurrency: setting(broker, "remote.log.reader.threads")?,
        cold_read_timeout: Duration::from_millis(millis(broker, "remote.fetch.max.wait.ms")?),
        // Nodes of a cluster share the bucket: an upload this node's catalog does not know may
        // be another leader's, so a rebuild never deletes unreferenced objects there.
        orphan_min_age: if broker.config.read_replica
            || broker.config.voters.as_ref().is_some_and(|v| v.len() > 1)
        {
            Duration::MAX
        } else {
            Duration::from_millis(millis(broker, "strata.tier.orphan.min.age.ms")?)
        },
    };
    let tier = Tier::open(store, config)
        .await
        .map_err(|e| BrokerError::Config(format!("tiered storage at {url}: {e}")))?;
    tier.set_read_ahead_bytes(setting(broker, "strata.cold.read.ahead.bytes")?);
    metrics::gauge!("strata_tier_reconciled").set(0.0);
    tracing::info!(store = %url, "tiered storage opened; reconciling with the bucket in the background");
    broker.set_tier(tier);
    Ok(())
}

/// A non-negative millisecond setting.
pub(crate) fn millis(broker: &Broker, key: &str) -> Result<u64, BrokerError> {
    let v: i64 = setting(broker, key)?;
    u64::try_from(v).map_err(|_| BrokerError::Config(format!("{key} = {v}: must be >= 0")))
}

/// Reconciles the catalog with the bucket, retrying with backoff until it succeeds.
pub(crate) async fn reconcile(tier: &Tier) {
    let mut pause = Duration::from_secs(1);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match tier.reconcile().await {
            Ok(()) => {
                metrics::gauge!("strata_tier_reconciled").set(1.0);
                tracing::info!(attempts, "tiered storage reconciled with the bucket");
                return;
            }
            Err(e) => {
                metrics::counter!("strata_tier_reconcile_errors_total").increment(1);
                tracing::warn!(attempts, retry_in_ms = pause.as_millis() as u64, error = %e, "tiered storage: reconciliation with the bucket failed; hot data is served meanwhile, cold reads answer a retriable error");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECONCILE_MAX_BACKOFF);
            }
        }
    }
}

/// Starts the tiering loop: reconciliation with the bucket, then a sync every period.
pub fn spawn(broker: &Arc<Broker>) -> Result<JoinHandle<()>, BrokerError> {
    let period: u64 = setting(broker, "remote.log.manager.task.interval.ms")?;
    let broker = broker.clone();
    Ok(tokio::spawn(async move {
        if let Some(tier) = broker.tier().cloned() {
            reconcile(&tier).await;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(period.max(10)));
        let mut refreshed = Refreshed::new();
        let mut compacted = crate::tier_compaction::Schedule::default();
        loop {
            tick.tick().await;
            sync_all(&broker, &mut refreshed, &mut compacted).await;
        }
    }))
}

/// Per partition, the leader epoch in which this broker last refreshed its catalog entries
/// from the bucket as leader.
type Refreshed = HashMap<TopicPartition, i32>;

/// One pass over every tiered partition: the leader uploads and applies remote retention
/// (after learning, once per leader epoch, what earlier leaders uploaded); a follower refreshes
/// what is remote, so that its local retention deletes the same uploaded segments the
/// leader's does. Up to `remote.log.manager.copier.thread.pool.size` partitions sync at once
/// (their uploads share the tier's semaphore of that size); a partition's own segments upload
/// one after another, in offset order.
pub async fn sync_all(
    broker: &Arc<Broker>,
    refreshed: &mut Refreshed,
    compacted: &mut crate::tier_compaction::Schedule,
) {
    let Some(tier) = broker.tier().cloned() else {
        return;
    };
    refreshed.retain(|(t, p), _| broker.partition(t, *p).is_some());
    let width: usize = setting(broker, "remote.log.manager.copier.thread.pool.size").unwrap_or(1);
    let parts: Vec<Arc<Partition>> = broker
        .all_partitions()
        .into_iter()
        .filter(|part| {
            part.settings().remote_storage_enable && !strata_meta::is_internal_topic(&part.topic)
        })
        .collect();
    let jobs = parts.into_iter().map(|part| {
        let known = refreshed.get(&(part.topic.clone(), part.index)).copied();
        let tier = tier.clone();
        async move {
            let outcome = sync_one(broker, &tier, &part, known).await;
            (part, outcome)
        }
    });
    let outcomes: Vec<(Arc<Partition>, Synced)> = futures::stream::iter(jobs)
        .buffer_unordered(width.max(1))
        .collect()
        .await;
    for (part, outcome) in outcomes {
        let tp = (part.topic.clone(), part.index);
        match outcome {
            Synced::Follower => {
                refreshed.remove(&tp);
            }
            Synced::RefreshFailed => {}
            Synced::Leader { epoch, synced } => {
                refreshed.insert(tp, epoch);
                if synced {
                    crate::tier_compaction::after_sync(broker, &tier, &part, epoch, compacted)
                        .await;
                }
            }
        }
    }
}

/// What [`sync_one`] did with a partition.
enum Synced {
    /// A follower: refreshed what is remote.
    Follower,
    /// A leader whose catalog refresh for a new term failed: nothing uploaded.
    RefreshFailed,
    /// A leader in `epoch` (its catalog refreshed for it); `synced` unless the sync failed.
    Leader { epoch: i32, synced: bool },
}

/// One partition's share of [`sync_all`]; `refreshed_epoch` is the leader epoch of this
/// broker's last catalog refresh as its leader.
async fn sync_one(
    broker: &Arc<Broker>,
    tier: &Arc<Tier>,
    part: &Arc<Partition>,
    refreshed_epoch: Option<i32>,
) -> Synced {
    // The partition's typed settings snapshot (compact-only topics carry -1 retention).
    let settings = part.settings();
    if part.following().is_some() {
        match tier.refresh_partition(&part.topic_id, part.index).await {
            Ok(Some(end)) => part.log().set_remote_upload_end(end),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(topic = %part.topic, partition = part.index, error = %e, "follower tier refresh failed");
            }
        }
        return Synced::Follower;
    }
    let epoch = part.leader_epoch();
    // A one-node cluster has had no other leader: its catalog (rebuilt from the bucket when it
    // was lost, reconciled at start) already holds every upload, so a new term costs no LIST.
    let single_node = broker.config.voters.as_ref().is_none_or(|v| v.len() <= 1);
    if refreshed_epoch != Some(epoch) && !single_node {
        // A new term: learn what earlier leaders uploaded before uploading anything.
        if let Err(e) = tier.refresh_partition(&part.topic_id, part.index).await {
            tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "tier refresh failed; uploads wait");
            return Synced::RefreshFailed;
        }
    }
    let (retention_ms, retention_bytes) = (settings.retention_ms, settings.retention_bytes);
    let p = PartitionRef {
        topic: &part.topic,
        topic_id: &part.topic_id,
        partition: part.index,
        log: part.log_mutex(),
        leader_epoch: epoch,
    };
    // Compacted topics get no Parquet archive: remote compaction replaces their segments,
    // and an archive of superseded values would disagree with the log.
    let parquet = ParquetPolicy {
        enable: settings.parquet_enable && !settings.log.compact,
        max_lag_segments: settings.parquet_max_lag_segments.max(0) as usize,
    };
    match tier
        .sync_partition_with(p, retention_ms, retention_bytes, parquet)
        .await
    {
        Ok(r) => {
            if r.uploaded > 0 || r.deleted > 0 {
                tracing::debug!(topic = %part.topic, partition = part.index, ?r, "tiering sync");
            }
            let limit = max_lag_bytes(broker);
            if limit >= 0 && r.lag_bytes as i64 > limit && part.tier_lag_bytes() as i64 <= limit {
                tracing::warn!(topic = %part.topic, partition = part.index, lag_bytes = r.lag_bytes, limit, "tiering lags past strata.tier.max.lag.bytes: produce to this partition is refused until uploads catch up");
            }
            part.set_tier_lag_bytes(r.lag_bytes);
            Synced::Leader {
                epoch,
                synced: true,
            }
        }
        Err(e) => {
            tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "tiering sync failed");
            Synced::Leader {
                epoch,
                synced: false,
            }
        }
    }
}
