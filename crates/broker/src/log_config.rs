//! Maps a topic's effective Kafka configs onto the log's settings.

use std::collections::BTreeMap;

use strata_log::LogConfig;
use strata_meta::topic_config;

use crate::config::BrokerConfig;

/// The effective value of topic config `name` (override, broker synonym, Kafka default).
pub(crate) fn effective(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    name: &str,
) -> String {
    let def = topic_config::lookup(name).expect("known topic config");
    config.topic_value(def, overrides).0
}

pub(crate) fn num<T: std::str::FromStr + Default>(
    config: &BrokerConfig,
    o: &BTreeMap<String, String>,
    name: &str,
) -> T {
    // Values were validated when stored, so parse failures cannot happen; Default is a guard.
    effective(config, o, name)
        .trim()
        .parse()
        .unwrap_or_default()
}

/// True when `cleanup.policy` has `delete`. A `compact`-only topic is never trimmed by time or
/// size (Kafka's rule): the log cleaner (`log_cleaner.rs`) keeps its latest value per key.
pub(crate) fn deletes_by_retention(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> bool {
    effective(config, overrides, "cleanup.policy")
        .split(',')
        .any(|p| p.trim() == "delete")
}

/// True when `cleanup.policy` has `compact`: records need keys (checked at produce) and the
/// log cleaner keeps the latest value per key.
pub(crate) fn compacts(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> bool {
    effective(config, overrides, "cleanup.policy")
        .split(',')
        .any(|p| p.trim() == "compact")
}

/// Builds the log settings of a topic.
pub(crate) fn log_config(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let flush_messages: i64 = num(config, overrides, "flush.messages");
    let retained = deletes_by_retention(config, overrides);
    LogConfig {
        segment_bytes: num::<i64>(config, overrides, "segment.bytes").max(14) as u64,
        segment_ms: num(config, overrides, "segment.ms"),
        retention_ms: if retained {
            num(config, overrides, "retention.ms")
        } else {
            -1
        },
        retention_bytes: if retained {
            num(config, overrides, "retention.bytes")
        } else {
            -1
        },
        max_message_bytes: num::<i64>(config, overrides, "max.message.bytes").max(0) as usize,
        index_interval_bytes: num::<i64>(config, overrides, "index.interval.bytes").max(0) as usize,
        flush_messages: flush_messages.max(1) as u64,
        flush_ms: num(config, overrides, "flush.ms"),
        message_timestamp_type_log_append: effective(config, overrides, "message.timestamp.type")
            == "LogAppendTime",
        message_timestamp_before_max_ms: num(config, overrides, "message.timestamp.before.max.ms"),
        message_timestamp_after_max_ms: num(config, overrides, "message.timestamp.after.max.ms"),
        remote_storage_enable: effective(config, overrides, "remote.storage.enable")
            .eq_ignore_ascii_case("true"),
        local_retention_ms: num(config, overrides, "local.retention.ms"),
        local_retention_bytes: num(config, overrides, "local.retention.bytes"),
        compact: compacts(config, overrides),
    }
}

/// `min.insync.replicas` of a topic.
pub(crate) fn min_insync_replicas(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> i32 {
    num(config, overrides, "min.insync.replicas")
}
