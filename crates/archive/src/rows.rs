//! From v2 record batches to the rows a read_committed consumer would see.
//!
//! [`committed_rows`] walks concatenated batches (a segment, or the records of one Fetch
//! response) and calls back once per row:
//! - compressed batches (gzip, snappy, lz4, zstd) are decompressed by `strata_records`;
//! - control batches (transaction markers) are skipped;
//! - aborted transactional data is skipped with Kafka's read_committed algorithm: the caller
//!   passes the aborted transactions overlapping the bytes (producer id and first offset: from
//!   the `.txnindex` for a segment, or the Fetch response's `aborted_transactions`); from the
//!   batch whose last offset reaches an aborted transaction's first offset, that producer's
//!   transactional batches are dropped until its ABORT marker.
//!
//! Invariants: rows come in the bytes' order (offset order for a log); a malformed batch is an
//! error before any row of it is reported; the bytes must lie below the last stable offset,
//! where every transaction is decided (a Fetch at read_committed returns only such bytes).

use std::collections::HashSet;

use strata_records::{batches, decode_records, parse_end_txn_marker, DecodedRecord};

use crate::schema::{CREATE_TIME, LOG_APPEND_TIME};
use crate::ArchiveError;

/// An aborted transaction overlapping the bytes (Kafka's `AbortedTransaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// Its first offset in this partition.
    pub first_offset: i64,
}

/// What one conversion did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Rows written.
    pub rows: u64,
    /// Batches read (control and aborted ones included).
    pub batches: u64,
    /// Control batches skipped.
    pub control_batches: u64,
    /// Records of aborted transactions skipped.
    pub aborted_records: u64,
}

/// One row: a record and what its batch says about it.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The record (absolute offset, timestamp as consumers see it, key, value, headers).
    pub record: &'a DecodedRecord,
    /// [`CREATE_TIME`] or [`LOG_APPEND_TIME`].
    pub timestamp_type: i8,
    /// The partition.
    pub partition: i32,
    /// The batch's producer id (-1 for non-idempotent producers).
    pub producer_id: i64,
    /// The batch's producer epoch.
    pub producer_epoch: i16,
}

/// Calls `row` for every record of `bytes` (concatenated v2 batches of `partition`) that a
/// read_committed consumer would see, in order; see the module docs. `aborted` lists the
/// aborted transactions overlapping the bytes, in any order. Returns the last offset of the
/// last batch read (control and aborted batches included), `None` for no batch.
pub fn committed_rows(
    bytes: &[u8],
    partition: i32,
    aborted: &[AbortedTxn],
    stats: &mut ArchiveStats,
    mut row: impl FnMut(Row<'_>) -> Result<(), ArchiveError>,
) -> Result<Option<i64>, ArchiveError> {
    let mut aborted: Vec<AbortedTxn> = aborted.to_vec();
    aborted.sort_by_key(|a| a.first_offset);
    let mut next_aborted = 0;
    let mut ongoing: HashSet<i64> = HashSet::new();
    let mut last = None;
    for item in batches(bytes) {
        let (position, header) = item.map_err(|source| ArchiveError::Records {
            position: bytes.len(),
            source,
        })?;
        let fail = |source| ArchiveError::Records { position, source };
        stats.batches += 1;
        last = Some(header.last_offset());
        let batch = &bytes[position..position + header.total_len()];
        while next_aborted < aborted.len()
            && aborted[next_aborted].first_offset <= header.last_offset()
        {
            ongoing.insert(aborted[next_aborted].producer_id);
            next_aborted += 1;
        }
        if header.is_control() {
            stats.control_batches += 1;
            if let Some(marker) = parse_end_txn_marker(batch).map_err(fail)? {
                if !marker.commit {
                    ongoing.remove(&header.producer_id);
                }
            }
            continue;
        }
        let records = decode_records(batch).map_err(fail)?;
        if header.is_transactional() && ongoing.contains(&header.producer_id) {
            stats.aborted_records += records.len() as u64;
            continue;
        }
        let timestamp_type = if header.is_log_append_time() {
            LOG_APPEND_TIME
        } else {
            CREATE_TIME
        };
        for record in &records {
            row(Row {
                record,
                timestamp_type,
                partition,
                producer_id: header.producer_id,
                producer_epoch: header.producer_epoch,
            })?;
            stats.rows += 1;
        }
    }
    Ok(last)
}
