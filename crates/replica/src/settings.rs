//! A topic's effective settings as typed values, shared by its partitions as a snapshot.
//!
//! Invariants: built by the broker from validated (normalized) configs, so every field is
//! already typed and in range; the request path reads a partition's snapshot
//! (`Partition::settings`), never the metadata store and never raw strings; an alter replaces
//! every partition's snapshot after the change is journaled.

use strata_log::LogConfig;

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
    /// `strata.parquet.enable`: the tiering worker writes a Parquet archive of every uploaded
    /// segment.
    pub parquet_enable: bool,
    /// `strata.parquet.max.lag.segments`: uploaded segments that may lack their Parquet archive
    /// while local retention still waits for it.
    pub parquet_max_lag_segments: i32,
}
