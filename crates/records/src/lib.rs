//! Record batch v2 (magic 2) as bytes: a zero-copy header view, client-batch validation
//! (header, then every record in one pass: [`validate_records`]),
//! in-place patching, CRC-32C, record decoding, and the one batch encoder ([`build_batch`]).
//!
//! Invariants this crate keeps:
//! - Batches are never re-encoded. The only bytes ever rewritten are the base offset (0..8) and
//!   partition leader epoch (12..16), which the CRC does not cover, and — for LogAppendTime —
//!   the attributes and max timestamp, after which the CRC is recomputed; for CreateTime, a
//!   max timestamp that disagrees with the records is set to theirs ([`set_max_timestamp`],
//!   as Kafka does), again with a new CRC.
//! - The CRC is CRC-32C over `batch[21..total_len]` (Kafka `DefaultRecordBatch`).
//! - Nothing here panics on hostile input: every length is checked before it is used, and
//!   decompression is bounded by [`MAX_DECOMPRESSED_BYTES`]. Validation streams compressed
//!   records through a fixed window and never holds them.

mod builder;
mod codec;
mod control;
mod crc;
mod decode;
mod error;
mod filter;
mod header;
mod iter;
mod patch;
mod record_stream;
pub mod testing;
mod timestamps;
mod validate;
mod validate_records;
mod varint;

pub use builder::{build_batch, BatchSpec, NewRecord};
pub use codec::MAX_DECOMPRESSED_BYTES;
pub use control::{build_end_txn_marker, parse_end_txn_marker, EndTxnMarker};
pub use crc::compute_crc;
pub use decode::{decode_records, DecodedRecord};
pub use error::RecordsError;
pub use filter::{filter_batch, raw_records, records_section, RawRecord};
pub use header::{increment_sequence, BatchHeader, Compression, BATCH_HEADER_LEN, MAGIC_V2};
pub use iter::{batches, BatchIter};
pub use patch::{
    patch_base_offset, patch_leader_epoch, set_log_append_time, set_log_append_time_parts,
    set_max_timestamp,
};
pub use timestamps::record_timestamps;
pub use validate::validate_client_batch;
pub use validate_records::{validate_records, RecordRules, RecordsSummary, MAX_RECORD_ERRORS};
