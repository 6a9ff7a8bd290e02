//! Errors for batch parsing, validation and decoding. Each error maps to exactly one Kafka
//! error code via [`RecordsError::kafka_error_code`]; codes are declared here and nowhere else.

/// Kafka `CORRUPT_MESSAGE`.
const CORRUPT_MESSAGE: i16 = 2;
/// Kafka `UNSUPPORTED_COMPRESSION_TYPE`.
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
/// Kafka `INVALID_RECORD`.
const INVALID_RECORD: i16 = 87;
/// Kafka `INVALID_TIMESTAMP`.
const INVALID_TIMESTAMP: i16 = 32;

/// Why a batch (or a run of batches) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// Fewer bytes are present than the structure being read requires.
    #[error("truncated record data: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The magic byte is not 2.
    #[error("unsupported record batch magic {0} (only v2 is supported)")]
    BadMagic(i8),
    /// The batch length field is impossible (smaller than an empty batch).
    #[error("invalid record batch length {0}")]
    BadLength(i32),
    /// The stored CRC does not match the CRC-32C of the batch contents.
    #[error("record batch CRC mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    CorruptMessage {
        /// CRC stored in the batch header.
        expected: u32,
        /// CRC computed over the batch bytes.
        actual: u32,
    },
    /// The batch is well formed but violates a broker rule; the text says which.
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
    /// A record inside the batch is malformed or disagrees with the batch header.
    #[error("invalid record at index {index} of the batch: {reason}")]
    BadRecord {
        /// Position of the record in its batch (0-based; `records_count` for trailing data).
        index: i32,
        /// What is wrong.
        reason: &'static str,
    },
    /// One or more record timestamps are out of the topic's allowed range (or the client set
    /// LogAppendTime where Kafka refuses it). Kafka's message, word for word.
    #[error("One or more records have been rejected due to invalid timestamp")]
    InvalidTimestamp {
        /// `(batch index, message)` per rejected record, as Produce v8+ `record_errors`.
        record_errors: Vec<(i32, String)>,
    },
    /// One or more records failed a per-record rule other than the timestamp (a keyless record
    /// on a compacted topic). Kafka's `processRecordErrors` message, word for word.
    #[error(
        "One or more records have been rejected due to {total} record errors in total, and only \
         showing the first three errors at most: {}",
        first_three(record_errors)
    )]
    RecordErrors {
        /// How many records failed (`record_errors` holds at most
        /// [`crate::MAX_RECORD_ERRORS`] of them).
        total: usize,
        /// `(batch index, message)` per rejected record, as Produce v8+ `record_errors`.
        record_errors: Vec<(i32, String)>,
    },
    /// The attributes name a codec that does not exist (5..=7).
    #[error("unsupported compression type {0}")]
    UnsupportedCompression(i16),
    /// The compressed records could not be decompressed (or exceed the size bound).
    #[error("decompression failed: {0}")]
    Decompress(String),
}

impl RecordsError {
    /// The Kafka error code a broker should return for this error.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            RecordsError::CorruptMessage { .. } => CORRUPT_MESSAGE,
            RecordsError::UnsupportedCompression(_) => UNSUPPORTED_COMPRESSION_TYPE,
            RecordsError::InvalidTimestamp { .. } => INVALID_TIMESTAMP,
            _ => INVALID_RECORD,
        }
    }
}

impl RecordsError {
    /// Per-record errors for Produce v8+ `record_errors` (`(batch index, message)`); empty
    /// for errors that concern the whole batch.
    pub fn record_errors(&self) -> &[(i32, String)] {
        match self {
            RecordsError::InvalidTimestamp { record_errors }
            | RecordsError::RecordErrors { record_errors, .. } => record_errors,
            _ => &[],
        }
    }
}

/// The first three record errors as Java prints a `List<RecordError>`:
/// `[RecordError(batchIndex=0, message='…'), …]`.
fn first_three(errors: &[(i32, String)]) -> String {
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|(index, message)| format!("RecordError(batchIndex={index}, message='{message}')"))
        .collect();
    format!("[{}]", shown.join(", "))
}
