//! Segment bytes to Apache Arrow and Parquet: the queryable archive written beside each
//! tiered segment (see docs/tiering.md, "Parquet archive").
//!
//! [`segment_to_parquet`] turns the bytes of one log segment (concatenated v2 batches) into one
//! Parquet file with one row per record a read_committed consumer would see; `strata export`
//! writes the same rows from Fetch responses, to Parquet ([`ParquetSink`]) or JSON Lines
//! ([`JsonlSink`]). Every file has these columns ([`schema`]):
//!
//! | column | Arrow type | notes |
//! |---|---|---|
//! | `offset` | Int64 | absolute offset |
//! | `timestamp` | Timestamp(Millisecond, None) | the record's timestamp; for LogAppendTime batches the broker's (the batch max timestamp), as consumers see it |
//! | `timestamp_type` | Int8 | 0 CreateTime, 1 LogAppendTime |
//! | `key`, `value` | Binary, nullable | null stays null (a tombstone's value) |
//! | `headers` | List<Struct<key: Utf8, value: Binary nullable>> | wire order, duplicates kept; empty list when none |
//! | `partition` | Int32 | |
//! | `producer_id`, `producer_epoch` | Int64, Int16 | -1 for non-idempotent producers |
//!
//! What is left out, and how, is [`committed_rows`]'s job (module `rows`): compressed batches
//! are decompressed, control batches and aborted transactional data skipped.
//!
//! The Parquet file is zstd-compressed with row groups sized for scans (module `parquet_sink`).
//!
//! Invariants: the output holds rows in offset order; a malformed batch fails the whole
//! conversion (nothing partial is returned), so a caller never uploads a truncated archive.

mod jsonl;
mod parquet_sink;
mod rows;
mod schema;

pub use jsonl::{row_json, JsonlSink};
pub use parquet_sink::{ParquetSink, MAX_ROW_GROUP_BYTES, MAX_ROW_GROUP_ROWS};
pub use rows::{committed_rows, AbortedTxn, ArchiveStats, Row};
pub use schema::{schema, CREATE_TIME, LOG_APPEND_TIME};

/// Why rows could not be converted or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A batch could not be read or decoded.
    #[error("batch at byte {position}: {source}")]
    Records {
        /// Byte position of the batch in the bytes given.
        position: usize,
        /// What was wrong with it.
        source: strata_records::RecordsError,
    },
    /// Arrow or Parquet refused the data.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow refused the data.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A JSON row could not be encoded or written.
    #[error("json: {0}")]
    Json(serde_json::Error),
    /// Writing the output failed.
    #[error("writing: {0}")]
    Io(std::io::Error),
}

/// Converts the bytes of one segment of partition `partition` to a Parquet file; see the
/// module docs for the schema and what is skipped. `aborted` lists the aborted transactions
/// overlapping the segment, in any order.
pub fn segment_to_parquet(
    segment: &[u8],
    partition: i32,
    aborted: &[AbortedTxn],
) -> Result<(Vec<u8>, ArchiveStats), ArchiveError> {
    let mut sink = ParquetSink::new(Vec::new())?;
    let mut stats = ArchiveStats::default();
    committed_rows(segment, partition, aborted, &mut stats, |row| {
        sink.push(&row)
    })?;
    Ok((sink.finish()?, stats))
}

#[cfg(test)]
mod tests;
