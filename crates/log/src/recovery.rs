//! Opening a partition directory, and crash recovery.
//!
//! Steps of `open`, in order:
//! 1. Create the directory; write or verify `partition.metadata` (version and topic id).
//! 2. Complete or roll back an interrupted cleaner swap (`cleaner/swap.rs`). Note whether `.clean_shutdown` exists; remove `*.tmp` leftovers and index files whose
//!    `.log` is gone.
//! 3. After a clean shutdown: open sealed segments (rebuilding any missing or inconsistent
//!    index from batch headers), then the active one, reading only the batches after its last
//!    index entry.
//! 4. After a crash (no marker), every segment after the last clean point is recovered, not
//!    only the active one. The last clean point is the recovery point the caller passes (the
//!    broker's `recovery-point-offset-checkpoint`: segments ending at or below it were fsynced
//!    and open as in step 3), or, without one, the previous clean shutdown, so every segment is
//!    recovered. Recovering a segment means: CRC-scan every batch, cut the first torn or
//!    corrupt batch and everything after it, rebuild both indexes, and fsync what was kept (it
//!    may have come from the page cache only). If a non-active segment had to be cut, the later
//!    segments would leave an offset gap: they are renamed `<base>.log.unrecovered` (kept for an
//!    operator, ignored by `open`) and their indexes removed. Sealing a segment (at roll) fsyncs
//!    it, so in practice only a write that failed mid-batch (disk full) leaves such a tail.
//! 5. Log start offset = max(checkpoint, first segment base), capped at the log end.
//! 6. Leader epochs: drop entries beyond the log end or below the log start.
//! 7. Producer state: `producer-state.json` if the shutdown was clean and it matches the log
//!    end; otherwise a replay from the latest per-segment snapshot (or the first segment) that
//!    also rebuilds the `.txnindex` entries of the replayed segments (`replay.rs`). Snapshots
//!    above the log end or below the first segment are deleted.
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
use crate::producer_snapshot::delete_segment_snapshots_outside;
use crate::producer_state::ProducerState;
use crate::segment::{file_name, OpenMode, Segment};
use crate::{LogConfig, LogError, PartitionLog};

/// Opens the partition log in `dir` (steps in the module docs).
pub(crate) fn open(
    dir: &Path,
    topic_id: &str,
    config: LogConfig,
    now_ms: i64,
    recovery_point: Option<i64>,
) -> Result<PartitionLog, LogError> {
    fs::create_dir_all(dir).ctx(|| format!("create partition dir {}", dir.display()))?;
    ensure_partition_metadata(dir, topic_id)?;
    let clean = dir.join(CLEAN_SHUTDOWN).exists();
    crate::cleaner::recover_swaps(dir)?;
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
        // A segment that ends at or below the recovery point was fsynced: trusted.
        let flushed = next_base.is_some_and(|next| recovery_point.is_some_and(|rp| next <= rp));
        let mode = match (next_base, clean || flushed) {
            (Some(_), true) => OpenMode::Sealed,
            (None, true) => OpenMode::Active,
            (_, false) => OpenMode::Recover,
        };
        let max_relative = next_base.map(|next| (next - base) as u64);
        let (mut segment, stats) = Segment::open(dir, base, mode, interval, max_relative)?;
        report.scanned_batches += stats.scanned_batches;
        report.truncated_bytes += stats.truncated_bytes;
        report.rebuilt_indexes += usize::from(stats.rebuilt_indexes);
        report.recovered_segments += usize::from(mode == OpenMode::Recover);
        let cut_short = next_base.is_some_and(|next| segment.next_offset != next);
        if cut_short {
            // Offsets after this segment's valid prefix would leave a gap: the later segments
            // cannot be served. They are moved aside, never deleted.
            report.segments_moved_aside += move_aside(dir, &bases[i + 1..])?;
            tracing::error!(dir = %dir.display(), segment = base, valid_end = segment.next_offset,
                moved_aside = bases.len() - i - 1,
                "a non-active segment had an invalid tail: later segments moved aside as *.log.unrecovered");
        }
        if mode == OpenMode::Recover {
            // Recovered bytes may have come from the page cache only: make them durable
            // before anything new is acknowledged on top of them.
            segment.flush()?;
        }
        if next_base.is_some() && !cut_short {
            segment.seal()?;
        }
        segments.push(segment);
        if cut_short {
            break;
        }
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
            crate::replay::rebuild(dir, &mut segments)?
        }
    };
    delete_segment_snapshots_outside(dir, first_base, log_end)?;

    remove_optional(dir, CLEAN_SHUTDOWN)?;
    sync_dir(dir)?;
    if report.truncated_bytes > 0 || report.segments_moved_aside > 0 {
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
        recovery_point: log_end,
        failed: None,
        offline: Default::default(),
        durable_end: log_end,
        hold_end: log_end,
        dir_unsynced: false,
        dir_sync_in_flight: false,
        replicated: false,
        unsynced_indexes: Vec::new(),
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
            "index" | "timeindex" | "txnindex" => indexes.push((base, name)),
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

/// Renames the `.log` files of `bases` to `<name>.log.unrecovered` (ignored by `open`) and
/// removes their derived index files. Returns how many segments were moved.
fn move_aside(dir: &Path, bases: &[i64]) -> Result<usize, LogError> {
    for &base in bases {
        let from = dir.join(file_name(base, "log"));
        let to = dir.join(format!("{}.unrecovered", file_name(base, "log")));
        fs::rename(&from, &to).ctx(|| format!("move aside {}", from.display()))?;
        remove_optional(dir, &file_name(base, "index"))?;
        remove_optional(dir, &file_name(base, "timeindex"))?;
        remove_optional(dir, &file_name(base, "txnindex"))?;
    }
    sync_dir(dir)?;
    Ok(bases.len())
}
