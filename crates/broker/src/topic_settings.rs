//! A topic's effective settings, resolved once from its overrides and the broker's settings
//! into typed values, and shared by its partitions as a snapshot.
//!
//! Invariants:
//! - built only from validated (normalized) values, so resolution cannot fail;
//! - the request path reads a partition's snapshot (`Partition::settings`), never the metadata
//!   store and never raw strings; an alter replaces every partition's snapshot after the change
//!   is journaled.

use std::collections::BTreeMap;

use strata_log::LogConfig;

use crate::config::BrokerConfig;
use crate::log_config::{deletes_by_retention, effective, log_config, min_insync_replicas};

/// Typed effective settings of one topic.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// What the log enforces (segments, retention, flush, timestamps).
    pub log: LogConfig,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `remote.storage.enable`.
    pub remote_storage_enable: bool,
    /// `retention.ms` across both tiers (-1 when `cleanup.policy` has no `delete`).
    pub retention_ms: i64,
    /// `retention.bytes` across both tiers (-1 when `cleanup.policy` has no `delete`).
    pub retention_bytes: i64,
    /// `cleanup.policy` contains `delete`.
    pub deletes_by_retention: bool,
    /// `strata.acks.all.fsync`: acks=all is acknowledged only once fsynced (group commit).
    pub acks_all_fsync: bool,
}

impl TopicSettings {
    /// Resolves a topic's settings from its overrides.
    pub fn resolve(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicSettings {
        let log = log_config(config, overrides);
        TopicSettings {
            min_insync_replicas: min_insync_replicas(config, overrides),
            remote_storage_enable: effective(config, overrides, "remote.storage.enable")
                .eq_ignore_ascii_case("true"),
            retention_ms: log.retention_ms,
            retention_bytes: log.retention_bytes,
            deletes_by_retention: deletes_by_retention(config, overrides),
            acks_all_fsync: effective(config, overrides, "strata.acks.all.fsync")
                .eq_ignore_ascii_case("true"),
            log,
        }
    }
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings::resolve(
            &BrokerConfig::from_map(BTreeMap::new()).expect("defaults are valid"),
            &BTreeMap::new(),
        )
    }
}
