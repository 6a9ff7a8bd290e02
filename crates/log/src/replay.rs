//! Replaying batches into producer state and the aborted-transaction indexes: after a crash
//! (`recovery.rs`) and after a tail cut (`truncate.rs`).
//!
//! Steps of [`rebuild`]:
//! 1. Seed from the latest usable per-segment snapshot at an offset `S` between the first
//!    local segment's base and the log end (`producer_snapshot.rs`); without one, start empty at
//!    the first segment.
//! 2. In every segment holding offsets at or after `S`, drop the `.txnindex` entries whose
//!    marker is at or after `S` (they are re-derived next).
//! 3. Scan the batch headers from `S` to the log end; read each control batch whole (one small
//!    record) for its COMMIT/ABORT type; record every batch in the state, and append an entry
//!    to the segment's `.txnindex` for every ABORT.
//!
//! Because the state machine is deterministic, the result equals what the live appends built,
//! including each entry's last stable offset.

use std::sync::Arc;

use strata_records::{parse_end_txn_marker, BatchHeader, EndTxnMarker};

use crate::producer_snapshot::latest_segment_snapshot;
use crate::producer_state::{CompletedTxn, ProducerState};
use crate::scan::{read_batch, HeaderScanner};
use crate::segment::Segment;
use crate::txn_index::AbortedTxnEntry;
use crate::LogError;

/// Rebuilds producer state and the txn indexes of `segments` (steps in the module docs).
pub(crate) fn rebuild(
    dir: &std::path::Path,
    segments: &mut [Segment],
) -> Result<ProducerState, LogError> {
    let first_base = segments.first().map_or(0, |s| s.base_offset);
    let log_end = segments.last().map_or(first_base, |s| s.next_offset);
    let (mut state, from, from_snapshot) = match latest_segment_snapshot(dir, first_base, log_end)?
    {
        Some((offset, state)) => (state, offset, true),
        None => (ProducerState::default(), first_base, false),
    };
    let start = segments
        .partition_point(|s| s.base_offset <= from)
        .saturating_sub(1);
    for segment in &mut segments[start..] {
        segment.txn_index.truncate_from(from)?;
        let file = Arc::clone(segment.file());
        let scan_from = if segment.base_offset < from {
            segment.index_position(from)
        } else {
            0
        };
        for item in HeaderScanner::new(&file, scan_from, segment.size) {
            let (pos, header) = item?;
            if header.last_offset() < from {
                continue;
            }
            let marker = read_marker(&file, pos, &header)?;
            if let Some(done) = state.record(&header, marker) {
                if done.aborted {
                    segment.txn_index.append(index_entry(&done))?;
                }
            }
        }
    }
    tracing::debug!(dir = %dir.display(), from, from_snapshot, log_end, "replayed producer state");
    Ok(state)
}

/// The COMMIT/ABORT content of a control batch at `pos` (`None` for data batches).
pub(crate) fn read_marker(
    file: &std::fs::File,
    pos: u64,
    header: &BatchHeader,
) -> Result<Option<EndTxnMarker>, LogError> {
    if !header.is_control() {
        return Ok(None);
    }
    let batch = read_batch(file, pos, header)?;
    Ok(parse_end_txn_marker(&batch)?)
}

/// The `.txnindex` entry of an aborted transaction.
pub(crate) fn index_entry(done: &CompletedTxn) -> AbortedTxnEntry {
    AbortedTxnEntry {
        producer_id: done.producer_id,
        first_offset: done.first_offset,
        last_offset: done.last_offset,
        last_stable_offset: done.last_stable_offset,
    }
}
