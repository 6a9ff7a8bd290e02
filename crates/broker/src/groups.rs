//! Wiring of the group coordinator: its settings from the broker config, and the
//! [`OffsetOracle`] through which it reads user partitions' high watermarks.
//!
//! Existence comes from the metadata image (a group may commit offsets of partitions hosted on
//! other brokers); high watermarks only of partitions hosted here. The oracle is created
//! before the `Broker` exists (the coordinator is opened inside
//! `Broker::open`) and attached to it right after, by a weak reference so that neither keeps
//! the other alive. Until it is attached every partition is reported missing.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};

use strata_group::{GroupConfig, OffsetOracle};

use crate::broker::Broker;

/// Reads a group setting, falling back to the default in `crate::config::DEFAULTS`.
fn setting<T: std::str::FromStr>(
    raw: &BTreeMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    match raw.get(key) {
        Some(v) => v.trim().parse().map_err(|e| format!("{key} = {v}: {e}")),
        None => Ok(default),
    }
}

/// The coordinator settings (Kafka names) from the merged broker settings.
pub fn group_config(raw: &BTreeMap<String, String>) -> Result<GroupConfig, String> {
    let d = GroupConfig::default();
    let retention_minutes: i64 = setting(
        raw,
        "offsets.retention.minutes",
        d.offsets_retention_ms / 60_000,
    )?;
    let cfg = GroupConfig {
        initial_rebalance_delay_ms: setting(
            raw,
            "group.initial.rebalance.delay.ms",
            d.initial_rebalance_delay_ms,
        )?,
        min_session_timeout_ms: setting(
            raw,
            "group.min.session.timeout.ms",
            d.min_session_timeout_ms,
        )?,
        max_session_timeout_ms: setting(
            raw,
            "group.max.session.timeout.ms",
            d.max_session_timeout_ms,
        )?,
        offsets_retention_ms: retention_minutes.saturating_mul(60_000),
        offsets_retention_check_interval_ms: setting(
            raw,
            "offsets.retention.check.interval.ms",
            d.offsets_retention_check_interval_ms,
        )?,
        offsets_topic_num_partitions: setting(
            raw,
            "offsets.topic.num.partitions",
            d.offsets_topic_num_partitions,
        )?,
        offset_metadata_max_bytes: setting(
            raw,
            "offset.metadata.max.bytes",
            d.offset_metadata_max_bytes,
        )?,
        lag_metrics_interval_ms: d.lag_metrics_interval_ms,
    };
    if cfg.initial_rebalance_delay_ms < 0 {
        return Err("group.initial.rebalance.delay.ms must not be negative".into());
    }
    if cfg.min_session_timeout_ms < 0 || cfg.min_session_timeout_ms > cfg.max_session_timeout_ms {
        return Err(
            "group.min.session.timeout.ms must be between 0 and group.max.session.timeout.ms"
                .into(),
        );
    }
    if cfg.offsets_topic_num_partitions < 1 {
        return Err("offsets.topic.num.partitions must be at least 1".into());
    }
    if retention_minutes < 1 || cfg.offsets_retention_check_interval_ms < 1 {
        return Err(
            "offsets.retention.minutes and offsets.retention.check.interval.ms must be positive"
                .into(),
        );
    }
    Ok(cfg)
}

/// High watermarks of this broker's partitions, for the coordinator.
#[derive(Debug, Default)]
pub(crate) struct BrokerOracle {
    broker: OnceLock<Weak<Broker>>,
}

impl BrokerOracle {
    /// Points the oracle at the broker (once).
    pub(crate) fn attach(&self, broker: &Arc<Broker>) {
        let _ = self.broker.set(Arc::downgrade(broker));
    }
}

impl OffsetOracle for BrokerOracle {
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let broker = self.broker.get()?.upgrade()?;
        let part = broker.partition(topic, partition)?;
        let hw = part.log().high_watermark();
        Some(hw)
    }

    fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        let Some(broker) = self.broker.get().and_then(Weak::upgrade) else {
            return false;
        };
        let image = broker.meta();
        image
            .topic(topic)
            .is_some_and(|t| (0..t.partitions).contains(&partition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_defaults_and_refuse_nonsense() {
        let mut raw = BTreeMap::new();
        assert_eq!(group_config(&raw).unwrap(), GroupConfig::default());
        raw.insert(
            "group.initial.rebalance.delay.ms".to_string(),
            "0".to_string(),
        );
        raw.insert("offsets.retention.minutes".to_string(), "2".to_string());
        let c = group_config(&raw).unwrap();
        assert_eq!(
            (c.initial_rebalance_delay_ms, c.offsets_retention_ms),
            (0, 120_000)
        );
        raw.insert(
            "group.min.session.timeout.ms".to_string(),
            "9999999".to_string(),
        );
        assert!(group_config(&raw).is_err());
    }
}
