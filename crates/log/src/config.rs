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
        }
    }
}
