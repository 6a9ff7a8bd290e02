//! Producer state snapshots: `producer-state.json` (written at close) and the per-segment
//! `<offset>.snapshot` files (written at every roll, named by the new segment's base offset =
//! the end of the sealed one, as Kafka's `<offset>.snapshot`).
//!
//! Both hold the same JSON document, version 2:
//! `{"version":2,"end_offset":N,"producers":[{"producer_id","epoch","batches":[..],
//! "txn_first_offset"?, "coordinator_epoch", "last_timestamp"}]}` — the state after every batch
//! below `end_offset`. Version 1 (no transaction fields) is still read; its producers have no
//! open transaction, coordinator epoch -1 and last timestamp -1. A newer version, a document
//! that does not parse, or one for another offset is ignored (the state is rebuilt by replay:
//! snapshots are derived data).
//!
//! Crash safety: a roll's snapshot is written (tmp + rename) fsynced when the roll fsyncs the
//! sealed segment, and without fsync under group commit; a torn or empty file fails to parse
//! and an older snapshot (or a full replay) is used instead. Snapshots above the log end after
//! recovery or truncation are stale and deleted; those below the first local segment are
//! deleted with it (retention), while the one at the first local segment's base is kept: it
//! seeds a replay when older segments are gone (tiered or deleted).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{read_optional, remove_optional, sync_dir, write_atomic};
use crate::error::IoContext;
use crate::producer_state::{ProducerEntry, ProducerState};
use crate::segment::file_name;
use crate::LogError;

pub(crate) const SNAPSHOT_FILE: &str = "producer-state.json";
/// Version written; every version up to it is read.
pub(crate) const SNAPSHOT_VERSION: u32 = 2;
const SEGMENT_SNAPSHOT_EXT: &str = "snapshot";

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    end_offset: i64,
    producers: Vec<ProducerEntry>,
}

fn encode(state: &ProducerState, end_offset: i64) -> Result<Vec<u8>, LogError> {
    let snapshot = Snapshot {
        version: SNAPSHOT_VERSION,
        end_offset,
        producers: state.entries().into_iter().cloned().collect(),
    };
    serde_json::to_vec(&snapshot)
        .map_err(|e| LogError::Corrupt(format!("encode producer snapshot: {e}")))
}

/// Decodes a snapshot taken at `end_offset`; `None` if unusable (see the module docs).
pub(crate) fn decode(text: &str, end_offset: i64) -> Option<ProducerState> {
    let snapshot = serde_json::from_str::<Snapshot>(text).ok()?;
    if snapshot.version == 0
        || snapshot.version > SNAPSHOT_VERSION
        || snapshot.end_offset != end_offset
    {
        return None;
    }
    Some(ProducerState::from_entries(snapshot.producers))
}

impl ProducerState {
    /// Writes `producer-state.json` for a log ending at `end_offset`.
    pub(crate) fn write_snapshot(&self, dir: &Path, end_offset: i64) -> Result<(), LogError> {
        write_atomic(dir, SNAPSHOT_FILE, &encode(self, end_offset)?)
    }

    /// Loads and removes `producer-state.json`; `None` if absent or unusable.
    pub(crate) fn take_snapshot(dir: &Path, end_offset: i64) -> Result<Option<Self>, LogError> {
        let text = read_optional(dir, SNAPSHOT_FILE)?;
        remove_optional(dir, SNAPSHOT_FILE)?;
        Ok(text.and_then(|t| decode(&t, end_offset)))
    }

    /// Writes `<offset>.snapshot` (the state at a roll); fsynced only with `sync`.
    pub(crate) fn write_segment_snapshot(
        &self,
        dir: &Path,
        offset: i64,
        sync: bool,
    ) -> Result<(), LogError> {
        let name = file_name(offset, SEGMENT_SNAPSHOT_EXT);
        let json = encode(self, offset)?;
        if sync {
            return write_atomic(dir, &name, &json);
        }
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, &json).ctx(|| format!("write {}", tmp.display()))?;
        let dest = dir.join(&name);
        std::fs::rename(&tmp, &dest).ctx(|| format!("rename to {}", dest.display()))
    }
}

/// Path of the per-segment snapshot at `offset`.
pub(crate) fn segment_snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(file_name(offset, SEGMENT_SNAPSHOT_EXT))
}

/// Offsets of the `<offset>.snapshot` files in `dir`, ascending.
pub(crate) fn list_segment_snapshots(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut offsets = Vec::new();
    for entry in std::fs::read_dir(dir).ctx(|| format!("list {}", dir.display()))? {
        let entry = entry.ctx(|| format!("list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".snapshot") else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(offset) = stem.parse::<i64>() {
                offsets.push(offset);
            }
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// The latest usable per-segment snapshot at an offset in `[min, max]`.
pub(crate) fn latest_segment_snapshot(
    dir: &Path,
    min: i64,
    max: i64,
) -> Result<Option<(i64, ProducerState)>, LogError> {
    for offset in list_segment_snapshots(dir)?.into_iter().rev() {
        if offset < min || offset > max {
            continue;
        }
        let name = file_name(offset, SEGMENT_SNAPSHOT_EXT);
        if let Some(state) = read_optional(dir, &name)?.and_then(|t| decode(&t, offset)) {
            return Ok(Some((offset, state)));
        }
        tracing::warn!(dir = %dir.display(), offset, "ignoring unusable producer snapshot");
    }
    Ok(None)
}

/// Deletes the per-segment snapshots above `end` (stale after a cut) or below `start`.
pub(crate) fn delete_segment_snapshots_outside(
    dir: &Path,
    start: i64,
    end: i64,
) -> Result<(), LogError> {
    let mut deleted = false;
    for offset in list_segment_snapshots(dir)? {
        if offset < start || offset > end {
            remove_optional(dir, &file_name(offset, SEGMENT_SNAPSHOT_EXT))?;
            deleted = true;
        }
    }
    if deleted {
        sync_dir(dir)?;
    }
    Ok(())
}
