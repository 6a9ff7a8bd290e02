//! The fixed 61-byte v2 batch header, parsed by value from big-endian bytes.
//!
//! Invariants of a parsed [`BatchHeader`]: `magic == 2` and `batch_length >= 49`, so
//! `total_len() >= 61`. Parsing does not check the CRC or that the whole batch is present.

use crate::RecordsError;

/// Size of the v2 batch header (base offset through records count).
pub const BATCH_HEADER_LEN: usize = 61;
/// The only supported record batch magic.
pub const MAGIC_V2: i8 = 2;

/// Bytes before the length field's coverage starts (base offset + length).
pub(crate) const LOG_OVERHEAD: usize = 12;
const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;

const CODEC_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_MASK: i16 = 0x10;
const CONTROL_MASK: i16 = 0x20;

/// Compression codec named by attribute bits 0..=2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Codec 0.
    None,
    /// Codec 1.
    Gzip,
    /// Codec 2 (xerial-framed or raw snappy).
    Snappy,
    /// Codec 3 (LZ4 frame).
    Lz4,
    /// Codec 4.
    Zstd,
}

/// The v2 batch header fields, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (bytes 0..8).
    pub base_offset: i64,
    /// Bytes following the length field (bytes 8..12).
    pub batch_length: i32,
    /// Leader epoch stamped by the broker (bytes 12..16).
    pub partition_leader_epoch: i32,
    /// Always 2 once parsed (byte 16).
    pub magic: i8,
    /// Stored CRC-32C (bytes 17..21).
    pub crc: u32,
    /// Attribute bits (bytes 21..23).
    pub attributes: i16,
    /// Offset delta of the last record (bytes 23..27).
    pub last_offset_delta: i32,
    /// Timestamp of the first record (bytes 27..35).
    pub base_timestamp: i64,
    /// Largest record timestamp, or the append time (bytes 35..43).
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 if none (bytes 43..51).
    pub producer_id: i64,
    /// Producer epoch, -1 if none (bytes 51..53).
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none (bytes 53..57).
    pub base_sequence: i32,
    /// Number of records (bytes 57..61).
    pub records_count: i32,
}

pub(crate) fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

pub(crate) fn be_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

pub(crate) fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Needs at least 61 bytes, magic 2 and
    /// `batch_length >= 49`; the rest of the batch need not be present.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, RecordsError> {
        if buf.len() < BATCH_HEADER_LEN {
            return Err(RecordsError::Truncated {
                need: BATCH_HEADER_LEN,
                have: buf.len(),
            });
        }
        let magic = buf[16] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordsError::BadMagic(magic));
        }
        let batch_length = be_i32(buf, 8);
        if batch_length < MIN_BATCH_LENGTH {
            return Err(RecordsError::BadLength(batch_length));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length,
            partition_leader_epoch: be_i32(buf, 12),
            magic,
            crc: be_i32(buf, 17) as u32,
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total bytes of the batch including the offset and length fields.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The codec in attribute bits 0..=2; 5..=7 are [`RecordsError::UnsupportedCompression`].
    pub fn compression(&self) -> Result<Compression, RecordsError> {
        match self.attributes & CODEC_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordsError::UnsupportedCompression(other)),
        }
    }

    /// Attribute bit 4.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    /// Attribute bit 5.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }

    /// Attribute bit 3 (timestamp type LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_MASK != 0
    }

    /// Sequence of the last record: `base_sequence + last_offset_delta`, wrapping past
    /// `i32::MAX` to 0 as Kafka does; -1 when the batch carries no sequence.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// Kafka `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if increment < 0 || sequence < 0 {
        return sequence.wrapping_add(increment);
    }
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}
