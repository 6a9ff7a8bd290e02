//! Coordinator settings, with Kafka's names and defaults.

/// Settings of the group coordinator (Kafka's `group.*` and `offsets.*` broker configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms` (3000): how long the first rebalance of an empty
    /// group waits for more members, extended per new member up to the rebalance timeout.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes` (10080 = 7 days), in ms: how long offsets of an empty group
    /// (or of a standalone committer, counted from the commit) are kept.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms` (600000): how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.topic.num.partitions` (50): partitions of `__consumer_offsets`. Changing it
    /// after groups exist moves groups to other partitions; don't (Kafka forbids it too).
    pub offsets_topic_num_partitions: i32,
    /// `offset.metadata.max.bytes` (4096): longest accepted commit metadata string.
    pub offset_metadata_max_bytes: usize,
    /// How often the `strata_group_lag` gauges are recomputed (5000).
    pub lag_metrics_interval_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 10_080 * 60_000,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_num_partitions: 50,
            offset_metadata_max_bytes: 4096,
            lag_metrics_interval_ms: 5_000,
        }
    }
}
