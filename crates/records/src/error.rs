//! Errors for batch parsing, validation and decoding. Each error maps to exactly one Kafka
//! error code via [`RecordsError::kafka_error_code`]; codes are declared here and nowhere else.

/// Kafka `CORRUPT_MESSAGE`.
const CORRUPT_MESSAGE: i16 = 2;
/// Kafka `UNSUPPORTED_COMPRESSION_TYPE`.
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
/// Kafka `INVALID_RECORD`.
const INVALID_RECORD: i16 = 87;

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
            _ => INVALID_RECORD,
        }
    }
}
