//! Resolving a topic's effective settings, once, from its overrides and the broker's settings
//! into the typed snapshot its partitions share ([`TopicSettings`], the replica layer's type).
//!
//! Invariants:
//! - built only from validated (normalized) values, so resolution cannot fail;
//! - the request path reads a partition's snapshot (`Partition::settings`), never the metadata
//!   store and never raw strings; an alter replaces every partition's snapshot after the change
//!   is journaled.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;
use crate::log_config::{deletes_by_retention, effective, log_config, min_insync_replicas, num};

pub use strata_replica::TopicSettings;

/// Resolves a topic's settings from its overrides and the broker's settings.
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
        parquet_enable: effective(config, overrides, "strata.parquet.enable")
            .eq_ignore_ascii_case("true"),
        parquet_max_lag_segments: num::<i32>(config, overrides, "strata.parquet.max.lag.segments")
            .max(0),
        log,
    }
}
