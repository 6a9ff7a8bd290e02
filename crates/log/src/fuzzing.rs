//! Byte-level entry points into the partition directory's file parsers, for the fuzz targets in
//! `fuzz/` only. Hidden and unstable: not an API, nothing in the broker calls it.
//!
//! Each function takes the raw bytes of one persisted file, writes them into a private scratch
//! directory (the parsers read files), and runs the same parser the log uses on open, then the
//! lookups that are later served from what was parsed.
//!
//! Invariant: every function returns a value or a [`LogError`] for any bytes and arguments; a
//! panic is a bug in the parser, not in the harness.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use strata_records::BatchHeader;

use crate::checkpoint::{
    ensure_partition_metadata, read_leader_epochs, read_log_start, LEADER_EPOCH_CHECKPOINT,
    LOG_START_CHECKPOINT, PARTITION_METADATA,
};
use crate::identity::{read_identity, PartitionIdentity};
use crate::leader_epoch::LeaderEpochCache;
use crate::offset_index::OffsetIndex;
use crate::producer_snapshot::SNAPSHOT_FILE;
use crate::producer_state::{ProducerState, SequenceCheck};
use crate::time_index::TimeIndex;
use crate::LogError;

/// A scratch directory private to this process (created once, reused by every call).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("strata-log-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzzing scratch directory");
        dir
    })
}

fn put(name: &str, bytes: &[u8]) -> Result<&'static Path, LogError> {
    // A plain write, not `write_atomic`: an fsync per input would cap the fuzzer at disk speed.
    let dir = scratch();
    std::fs::write(dir.join(name), bytes)
        .map_err(|e| LogError::Corrupt(format!("fuzzing scratch write: {e}")))?;
    Ok(dir)
}

/// What an offset index gave back.
#[derive(Debug)]
pub struct OffsetIndexLookups {
    /// `lookup(o)` for each requested offset.
    pub positions: Vec<u64>,
    /// `last_position()`.
    pub last_position: u64,
}

/// Loads `bytes` as a `.index` file of a segment at `base_offset` over a log of `log_size`
/// bytes, then looks up each of `offsets`. `Ok(None)` when the index is rejected (rebuilt).
pub fn offset_index(
    bytes: &[u8],
    base_offset: i64,
    log_size: u64,
    max_relative: Option<u64>,
    offsets: &[i64],
) -> Result<Option<OffsetIndexLookups>, LogError> {
    let dir = put("00000000000000000000.index", bytes)?;
    let path = dir.join("00000000000000000000.index");
    let Some(index) = OffsetIndex::load(&path, base_offset, log_size, max_relative)? else {
        return Ok(None);
    };
    Ok(Some(OffsetIndexLookups {
        positions: offsets.iter().map(|&o| index.lookup(o)).collect(),
        last_position: index.last_position(),
    }))
}

/// What a time index gave back.
#[derive(Debug)]
pub struct TimeIndexLookups {
    /// `lookup(ts)` for each requested timestamp (absolute offsets).
    pub offsets: Vec<i64>,
    /// `last_entry()`.
    pub last_entry: Option<(i64, i64)>,
}

/// Loads `bytes` as a `.timeindex` file of a segment at `base_offset`, then looks up each of
/// `timestamps`. `Ok(None)` when the index is rejected (rebuilt).
pub fn time_index(
    bytes: &[u8],
    base_offset: i64,
    max_relative: Option<u64>,
    timestamps: &[i64],
) -> Result<Option<TimeIndexLookups>, LogError> {
    let dir = put("00000000000000000000.timeindex", bytes)?;
    let path = dir.join("00000000000000000000.timeindex");
    let Some(index) = TimeIndex::load(&path, base_offset, max_relative)? else {
        return Ok(None);
    };
    Ok(Some(TimeIndexLookups {
        offsets: timestamps.iter().map(|&t| index.lookup(t)).collect(),
        last_entry: index.last_entry(),
    }))
}

/// The epoch cache's entries and the `(epoch, end offset)` answers.
pub type EpochsAndAnswers = (Vec<(i32, i64)>, Vec<(i32, i64)>);

/// Parses `bytes` as a `leader-epoch-checkpoint`, builds the epoch cache from it and answers
/// OffsetForLeaderEpoch for each `(epoch, log_end)`; returns the cache's entries and answers.
pub fn leader_epoch_checkpoint(
    bytes: &[u8],
    queries: &[(i32, i64)],
) -> Result<EpochsAndAnswers, LogError> {
    let dir = put(LEADER_EPOCH_CHECKPOINT, bytes)?;
    let cache = LeaderEpochCache::new(read_leader_epochs(dir)?);
    let answers = queries
        .iter()
        .map(|&(epoch, log_end)| cache.end_offset_for(epoch, log_end))
        .collect();
    Ok((cache.entries().to_vec(), answers))
}

/// Parses `bytes` as a `log-start-offset-checkpoint`.
pub fn log_start_checkpoint(bytes: &[u8]) -> Result<Option<i64>, LogError> {
    read_log_start(put(LOG_START_CHECKPOINT, bytes)?)
}

/// The open-time check's verdict and the identity `read_identity` found.
pub type MetadataVerdicts = (Result<(), LogError>, Option<PartitionIdentity>);

/// Parses `bytes` as `partition.metadata`: the open-time check against `topic_id`, and the
/// identity read by `strata meta recover`.
pub fn partition_metadata(bytes: &[u8], topic_id: &str) -> Result<MetadataVerdicts, LogError> {
    let dir = put(PARTITION_METADATA, bytes)?;
    let checked = ensure_partition_metadata(dir, topic_id);
    Ok((checked, read_identity(dir)?))
}

/// One sequence check: `(-1, -1)` to append, the offsets of a duplicate, or the refusal.
pub type SequenceVerdict = Result<(i64, i64), LogError>;

/// Loads `bytes` as `producer-state.json` for a log ending at `end_offset`, then checks each
/// 61-byte batch header in `headers` against the loaded state (the first duplicate/sequence
/// decision made after a clean restart). `Ok(None)` when the snapshot is not used.
pub fn producer_state(
    bytes: &[u8],
    end_offset: i64,
    headers: &[u8],
) -> Result<Option<Vec<SequenceVerdict>>, LogError> {
    let dir = put(SNAPSHOT_FILE, bytes)?;
    let Some(mut state) = ProducerState::take_snapshot(dir, end_offset)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for chunk in headers.chunks_exact(strata_records::BATCH_HEADER_LEN) {
        let Ok(h) = BatchHeader::parse(chunk) else {
            continue;
        };
        out.push(state.check(&h).map(|c| match c {
            SequenceCheck::Append => (-1, -1),
            SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } => (base_offset, last_offset),
        }));
        state.record(&h, None);
    }
    Ok(Some(out))
}
