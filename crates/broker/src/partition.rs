//! A partition hosted by this broker: its log behind a mutex, plus identity.
//!
//! Invariants:
//! - the mutex is held only for in-memory work and page-cache writes (and an fsync when the
//!   topic's flush policy demands one); record bytes are sent to sockets *after* it is released,
//!   from the `Arc<File>` in a [`strata_log::ReadSlice`];
//! - the leader epoch is 0 on a single node; it is stamped into every appended batch;
//! - readers waiting for data (long-polling fetches) wait on the partition's own wake-up, woken
//!   when its high watermark may have moved (an append, a group-commit flush) or on shutdown
//!   (through the shutdown signal, not here), never by other partitions' appends;
//! - a partition is offline (KAFKA_STORAGE_ERROR for Produce, Fetch, ListOffsets and in
//!   Metadata) when its log failed a write or fsync (the log's own flag, see
//!   `strata_log::PartitionLog::offline_flag`), or when it could not be opened at startup: then
//!   it is only a name in [`OfflinePartitions`], its directory is left as it is, and the rest of
//!   the broker serves. Either state lasts until a restart.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strata_log::PartitionLog;

use crate::topic_settings::TopicSettings;

/// Leader epoch of every partition while Strata runs as a single node.
pub const LEADER_EPOCH: i32 = 0;

/// `(topic, partition)`.
pub type TopicPartition = (String, i32);

/// Kafka's error for a partition whose storage failed.
pub const KAFKA_STORAGE_ERROR: i16 = 56;

/// A hosted partition.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Topic id.
    pub topic_id: String,
    /// Partition index.
    pub index: i32,
    log: Mutex<PartitionLog>,
    /// The log's offline flag, readable without its lock.
    offline: Arc<AtomicBool>,
    /// Bytes of sealed segments not yet uploaded, as of the last tiering sync.
    tier_lag_bytes: std::sync::atomic::AtomicU64,
    /// The topic's effective settings (a snapshot replaced on alter).
    settings: RwLock<Arc<TopicSettings>>,
    /// Wakes this partition's long-polling readers.
    wake: tokio::sync::Notify,
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(topic: String, topic_id: String, index: i32, log: PartitionLog) -> Self {
        Partition {
            topic,
            topic_id,
            index,
            offline: log.offline_flag(),
            log: Mutex::new(log),
            tier_lag_bytes: std::sync::atomic::AtomicU64::new(0),
            settings: RwLock::new(Arc::new(TopicSettings::default())),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Wakes the readers waiting on this partition (its high watermark may have moved).
    pub fn wake_readers(&self) {
        self.wake.notify_waiters();
    }

    /// A future that completes at the next [`Partition::wake_readers`]; `enable` it before
    /// checking for data so that a wake-up in between is not missed.
    pub fn readers_woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The topic's settings snapshot (no metadata lock, no string parsing).
    pub fn settings(&self) -> Arc<TopicSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings snapshot and applies the log part to the log.
    pub fn set_settings(&self, settings: Arc<TopicSettings>) {
        self.log().set_config(settings.log.clone());
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    /// Locks the log. A poisoned lock (a panic while appending) is recovered: the log's own
    /// invariants are re-established by the next append or by recovery at restart.
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once a failed write or fsync took the log offline.
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Bytes waiting for upload, as of the last tiering sync.
    pub fn tier_lag_bytes(&self) -> u64 {
        self.tier_lag_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the tiering lag.
    pub fn set_tier_lag_bytes(&self, bytes: u64) {
        self.tier_lag_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The log's mutex, for services that lock it briefly themselves (tiering).
    pub fn log_mutex(&self) -> &Mutex<PartitionLog> {
        &self.log
    }

    /// Takes the log out for closing or deletion.
    pub fn into_log(self) -> PartitionLog {
        self.log.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Partitions that could not be opened at startup: placeholders that answer
/// KAFKA_STORAGE_ERROR. Counted in the `strata_offline_partitions` gauge.
#[derive(Debug, Default)]
pub struct OfflinePartitions {
    reasons: RwLock<HashMap<TopicPartition, String>>,
}

impl OfflinePartitions {
    /// Records a partition that failed to open, with why.
    pub fn insert(&self, tp: TopicPartition, reason: String) {
        let mut map = self.reasons.write().unwrap_or_else(|p| p.into_inner());
        if map.insert(tp, reason).is_none() {
            metrics::gauge!("strata_offline_partitions").increment(1.0);
        }
    }

    /// Why the partition is offline, if it is a placeholder.
    pub fn reason(&self, topic: &str, index: i32) -> Option<String> {
        self.reasons
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.to_string(), index))
            .cloned()
    }

    /// Forgets every placeholder of a deleted topic.
    pub fn remove_topic(&self, topic: &str) {
        let mut map = self.reasons.write().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|(t, _), _| t != topic);
        metrics::gauge!("strata_offline_partitions").decrement((before - map.len()) as f64);
    }

    /// Directory names (`<topic>-<p>`) of the placeholders: owned, never removed as orphans.
    pub fn dir_names(&self) -> HashSet<String> {
        self.reasons
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .map(|(t, p)| format!("{t}-{p}"))
            .collect()
    }
}
