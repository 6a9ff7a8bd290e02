//! Opening a partition directory, and crash recovery.
//!
//! Steps of `open`, in order:
//! 1. Create the directory; write or verify `partition.metadata` (version and topic id).
//! 2. Note whether `.clean_shutdown` exists; remove `*.tmp` leftovers and index files whose
//!    `.log` is gone.
//! 3. Open sealed segments, rebuilding any missing or inconsistent index from batch headers.
//!    Sealed segments were fsynced when they rolled, so they are not CRC-scanned.
//! 4. Open the active (last) segment: after a clean shutdown, load its indexes and read only
//!    the batches after the last index entry; otherwise CRC-scan every batch, truncate the
//!    first torn or corrupt batch and everything after it, and rebuild both indexes.
//! 5. Log start offset = max(checkpoint, first segment base), capped at the log end.
//! 6. Leader epochs: drop entries beyond the log end or below the log start.
//! 7. Producer state: the snapshot if the shutdown was clean and it matches the log end,
//!    otherwise a scan of every batch header.
//! 8. Remove `.clean_shutdown` (a crash from here on forces recovery on the next open).

use std::fs;
use std::path::Path;

use crate::checkpoint::{
    ensure_partition_metadata, read_leader_epochs, read_log_start, remove_optional, sync_dir,
    write_leader_epochs, write_log_start, CLEAN_SHUTDOWN,
};
use crate::error::IoContext;
use crate::leader_epoch::LeaderEpochCache;
use crate::partition::OpenReport;
use crate::producer_state::ProducerState;
use crate::scan::HeaderScanner;
use crate::segment::{OpenMode, Segment};
use crate::{LogConfig, LogError, PartitionLog};

/// Opens the partition log in `dir` (steps in the module docs).
pub(crate) fn open(
    dir: &Path,
    topic_id: &str,
    config: LogConfig,
    now_ms: i64,
) -> Result<PartitionLog, LogError> {
    fs::create_dir_all(dir).ctx(|| format!("create partition dir {}", dir.display()))?;
    ensure_partition_metadata(dir, topic_id)?;
    let clean = dir.join(CLEAN_SHUTDOWN).exists();
    let bases = list_segments(dir)?;
    let mut report = OpenReport {
        clean_shutdown: clean,
        ..OpenReport::default()
    };
    let checkpoint_start = read_log_start(dir)?;
    let interval = config.index_interval_bytes as u64;
    let mut segments = Vec::with_capacity(bases.len().max(1));
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let mode = match (next_base, clean) {
            (Some(_), _) => OpenMode::Sealed,
            (None, true) => OpenMode::Active,
            (None, false) => OpenMode::Recover,
        };
        let max_relative = next_base.map(|next| (next - base) as u64);
        let (mut segment, stats) = Segment::open(dir, base, mode, interval, max_relative)?;
        if mode == OpenMode::Sealed {
            segment.seal()?;
        }
        report.scanned_batches += stats.scanned_batches;
        report.truncated_bytes += stats.truncated_bytes;
        report.rebuilt_indexes += usize::from(stats.rebuilt_indexes);
        segments.push(segment);
    }
    if segments.is_empty() {
        let base = checkpoint_start.unwrap_or(0).max(0);
        segments.push(Segment::create(dir, base)?);
        sync_dir(dir)?;
    }
    let first_base = segments[0].base_offset;
    let log_end = segments.last().map_or(first_base, |s| s.next_offset);
    // With tiering, data below the first local segment may live remotely: the checkpointed log
    // start stays where it was. Otherwise the first local segment bounds it.
    let floor = if config.remote_storage_enable {
        0
    } else {
        first_base
    };
    let log_start = checkpoint_start
        .unwrap_or(first_base)
        .max(floor)
        .min(log_end);
    if checkpoint_start != Some(log_start) {
        write_log_start(dir, log_start)?;
    }

    let mut epochs = LeaderEpochCache::new(read_leader_epochs(dir)?);
    let trimmed_end = epochs.truncate_from_end(log_end);
    let trimmed_start = epochs.truncate_from_start(log_start);
    if trimmed_end || trimmed_start {
        write_leader_epochs(dir, epochs.entries())?;
    }

    let snapshot = ProducerState::take_snapshot(dir, log_end)?;
    let producers = match snapshot.filter(|_| clean) {
        Some(state) => state,
        None => {
            report.producer_state_rebuilt = true;
            rebuild_producer_state(&segments)?
        }
    };

    remove_optional(dir, CLEAN_SHUTDOWN)?;
    sync_dir(dir)?;
    if report.truncated_bytes > 0 || report.rebuilt_indexes > 0 {
        tracing::info!(dir = %dir.display(), ?report, "recovered partition log");
    }
    Ok(PartitionLog {
        dir: dir.to_path_buf(),
        config,
        segments,
        log_start_offset: log_start,
        high_watermark: log_end,
        producers,
        epochs,
        unflushed_messages: 0,
        last_flush_ms: now_ms,
        remote_upload_end: None,
        report,
    })
}

/// Base offsets of the `.log` files in `dir`, ascending; cleans up stray files on the way.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).ctx(|| format!("list {}", dir.display()))? {
        let entry = entry.ctx(|| format!("list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            remove_optional(dir, &name)?;
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        match ext {
            "log" => logs.push(base),
            "index" | "timeindex" => indexes.push((base, name)),
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, name) in indexes {
        if logs.binary_search(&base).is_err() {
            remove_optional(dir, &name)?;
        }
    }
    Ok(logs)
}

/// Replays every batch header into a fresh producer state.
fn rebuild_producer_state(segments: &[Segment]) -> Result<ProducerState, LogError> {
    let mut state = ProducerState::default();
    for segment in segments {
        for item in HeaderScanner::new(segment.file(), 0, segment.size) {
            let (_, header) = item?;
            state.record(&header);
        }
    }
    Ok(state)
}
