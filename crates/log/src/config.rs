//! Per-partition log configuration, with Kafka's defaults.

/// Settings that govern segment rolling, retention, limits, indexing and flushing.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll when the active segment would exceed this many bytes (`segment.bytes`, 1 GiB).
    /// Values above `u32::MAX` are treated as `u32::MAX` (index positions are 32-bit).
    pub segment_bytes: u64,
    /// Roll when the active segment's first batch is this old (`segment.ms`, 7 days).
    pub segment_ms: i64,
    /// Delete sealed segments whose newest record is older than this (`retention.ms`); -1 = never.
    pub retention_ms: i64,
    /// Delete oldest sealed segments while the log exceeds this size (`retention.bytes`); -1 = never.
    pub retention_bytes: i64,
    /// Largest accepted batch in bytes (`max.message.bytes`, 1048588).
    pub max_message_bytes: usize,
    /// Bytes of log between sparse index entries (`index.interval.bytes`, 4096).
    pub index_interval_bytes: usize,
    /// Fsync after this many unflushed records (`flush.messages`); `u64::MAX` = never by count.
    pub flush_messages: u64,
    /// Fsync when this long has passed since the last fsync (`flush.ms`); `i64::MAX` = never.
    pub flush_ms: i64,
    /// Stamp batches with LogAppendTime (`message.timestamp.type=LogAppendTime`).
    pub message_timestamp_type_log_append: bool,
    /// How far in the past a CreateTime record timestamp may be
    /// (`message.timestamp.before.max.ms`, Long.MAX_VALUE). Checked by the produce path.
    pub message_timestamp_before_max_ms: i64,
    /// How far in the future a CreateTime record timestamp may be
    /// (`message.timestamp.after.max.ms`, one hour in Kafka 4). Checked by the produce path.
    pub message_timestamp_after_max_ms: i64,
    /// Sealed segments are tiered to object storage (`remote.storage.enable`). Then local
    /// segments are deleted by the local retention settings, and only once uploaded, and the log
    /// start offset covers remote data too.
    pub remote_storage_enable: bool,
    /// Local retention by time when tiering (`local.retention.ms`); -2 = `retention_ms`.
    pub local_retention_ms: i64,
    /// Local retention by size when tiering (`local.retention.bytes`); -2 = `retention_bytes`.
    pub local_retention_bytes: i64,
    /// `cleanup.policy` contains `compact`: the produce path refuses records without a key
    /// (Kafka's `LogValidator`), since compaction keeps records by key.
    pub compact: bool,
}

impl LogConfig {
    /// Effective local retention by time (-2 resolved to `retention_ms`).
    pub fn effective_local_retention_ms(&self) -> i64 {
        if self.local_retention_ms == -2 {
            self.retention_ms
        } else {
            self.local_retention_ms
        }
    }

    /// Effective local retention by size (-2 resolved to `retention_bytes`).
    pub fn effective_local_retention_bytes(&self) -> i64 {
        if self.local_retention_bytes == -2 {
            self.retention_bytes
        } else {
            self.local_retention_bytes
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: WEEK_MS,
            retention_ms: WEEK_MS,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            message_timestamp_type_log_append: false,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            remote_storage_enable: false,
            local_retention_ms: -2,
            local_retention_bytes: -2,
            compact: false,
        }
    }
}
