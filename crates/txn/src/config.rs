//! The transaction coordinator's settings (Kafka's names in the broker's config).

/// Transaction coordinator settings.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions` (50).
    pub num_partitions: i32,
    /// `transaction.max.timeout.ms` (15 minutes): a producer asking for more gets
    /// INVALID_TRANSACTION_TIMEOUT.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s): how often expired
    /// transactions are looked for and aborted.
    pub abort_check_interval_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            num_partitions: 50,
            max_timeout_ms: 900_000,
            abort_check_interval_ms: 10_000,
        }
    }
}
