//! Errors of the partition log. Each carries its kind plus the context needed to act on it, and
//! maps to one Kafka error code via [`LogError::kafka_error_code`] (declared only here).

use strata_records::RecordsError;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const MESSAGE_TOO_LARGE: i16 = 10;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
const KAFKA_STORAGE_ERROR: i16 = 56;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A filesystem operation failed; `context` names the operation and path.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and to which file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The requested offset is outside `[log_start, log_end]` (or above the high watermark).
    #[error("offset {offset} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// Requested offset.
        offset: i64,
        /// Current log start offset.
        log_start: i64,
        /// Current log end offset (or high watermark, for DeleteRecords).
        log_end: i64,
    },
    /// The offset is in the log (at or above the log start) but below the first local segment:
    /// its data lives in remote storage only.
    #[error("offset {offset} is below the local log start {local_start}")]
    NotLocal {
        /// Requested offset.
        offset: i64,
        /// First offset held locally.
        local_start: i64,
    },
    /// The batch exceeds `max_message_bytes`.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// Batch size in bytes.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// An idempotent batch's sequence is not the next one expected.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {found}")]
    OutOfOrderSequence {
        /// Producer id of the batch.
        producer_id: i64,
        /// Sequence the log expected.
        expected: i32,
        /// The batch's base sequence.
        found: i32,
    },
    /// An idempotent batch carries an epoch older than the producer's latest.
    #[error("producer {producer_id} epoch {found} is older than current epoch {current}")]
    InvalidProducerEpoch {
        /// Producer id of the batch.
        producer_id: i64,
        /// Latest epoch seen for this producer.
        current: i16,
        /// The batch's epoch.
        found: i16,
    },
    /// A non-transactional batch from a producer whose transaction is open (Kafka
    /// `InvalidTxnStateException`).
    #[error("producer {producer_id} has a transaction open since offset {txn_first_offset}; a non-transactional batch is refused")]
    InvalidTxnState {
        /// Producer id of the batch.
        producer_id: i64,
        /// First offset of the open transaction.
        txn_first_offset: i64,
    },
    /// A transaction marker from a coordinator older than the last one that wrote a marker for
    /// this producer.
    #[error(
        "marker for producer {producer_id} from coordinator epoch {found}, older than {current}"
    )]
    CoordinatorFenced {
        /// Producer id of the marker.
        producer_id: i64,
        /// Coordinator epoch of the producer's last marker.
        current: i32,
        /// The marker's coordinator epoch.
        found: i32,
    },
    /// A batch failed parsing or validation.
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// On-disk state is inconsistent in a way recovery cannot repair.
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// The log was taken offline by an earlier failed write or fsync (Kafka's log-dir failure):
    /// nothing is appended, read or acknowledged for it until the broker restarts and recovers.
    #[error("partition log {dir} is offline after a storage error: {reason}")]
    Offline {
        /// The partition directory.
        dir: String,
        /// The error that took it offline.
        reason: String,
    },
}

impl LogError {
    /// The Kafka error code a broker should return for this error.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } | LogError::NotLocal { .. } => OFFSET_OUT_OF_RANGE,
            LogError::MessageTooLarge { .. } => MESSAGE_TOO_LARGE,
            LogError::OutOfOrderSequence { .. } => OUT_OF_ORDER_SEQUENCE_NUMBER,
            LogError::InvalidProducerEpoch { .. } => INVALID_PRODUCER_EPOCH,
            LogError::InvalidTxnState { .. } => INVALID_TXN_STATE,
            LogError::CoordinatorFenced { .. } => TRANSACTION_COORDINATOR_FENCED,
            LogError::Records(err) => err.kafka_error_code(),
            LogError::Io { .. } | LogError::Corrupt(_) | LogError::Offline { .. } => {
                KAFKA_STORAGE_ERROR
            }
        }
    }
}

/// Attaches context to an I/O result: `io_ctx(result, || format!("open {path}"))`.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, LogError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, LogError> {
        self.map_err(|source| LogError::Io {
            context: context(),
            source,
        })
    }
}
