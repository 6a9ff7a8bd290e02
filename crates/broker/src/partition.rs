//! Hosted partitions as the broker names them, and the placeholders of partitions that could
//! not be opened. The hosted partition itself (log, replica state, settings, wake-up) is the
//! replica layer's [`strata_replica::Partition`].
//!
//! Invariant: a partition that cannot be opened at startup is only a name in
//! [`OfflinePartitions`] (KAFKA_STORAGE_ERROR for Produce, Fetch, ListOffsets and in Metadata),
//! its directory left as it is, while the rest of the broker serves; it stays so until a
//! restart.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

pub use strata_replica::{Partition, KAFKA_STORAGE_ERROR};

/// `(topic, partition)`.
pub type TopicPartition = (String, i32);

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

    /// Forgets one placeholder (a partition reassigned away from this broker).
    pub fn remove(&self, topic: &str, index: i32) {
        let mut map = self.reasons.write().unwrap_or_else(|p| p.into_inner());
        if map.remove(&(topic.to_string(), index)).is_some() {
            metrics::gauge!("strata_offline_partitions").decrement(1.0);
        }
    }

    /// Every placeholder.
    pub fn list(&self) -> Vec<TopicPartition> {
        self.reasons
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
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
