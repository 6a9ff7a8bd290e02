//! Phase 3 of a clean, under the partition's lock, and its crash recovery.
//!
//! Steps of [`swap_in`], each made durable by a directory fsync before the next:
//! 1. (done by the build) every group's `<base>.log.cleaned` (+ `.txnindex.cleaned`) is fsynced;
//! 2. rename every `.cleaned` file to `.swap` (per group: the `.txnindex` first, the `.log`
//!    last, so a `.log.swap` means the whole group is ready);
//! 3. delete the old segments of every group (`.log`, `.index`, `.timeindex`, `.txnindex`);
//! 4. rename every `.swap` file to its final name (`.txnindex` first), then open the new
//!    segments, rebuilding their `.index` and `.timeindex` from the batches;
//! 5. write the cleaner checkpoint.
//!
//! Recovery ([`recover_swaps`], first thing `open` does): `.cleaned` files are deleted (the
//! old segments are intact); each `<base>.log.swap` is completed: the segments whose base lies
//! in `[base, end of the swap file)` are deleted and the swap files renamed. A crash at any
//! step therefore leaves, per group, either the old segments or the new one, never both and
//! never neither. A stale checkpoint only makes the next clean redo work.

use std::fs;
use std::path::Path;

use super::checkpoint::write_cleaner_checkpoint;
use super::rewrite::cleaned_name;
use super::{BuiltClean, CleanOutcome, CleanedGroup, SwapStep};
use crate::checkpoint::{remove_optional, sync_dir};
use crate::error::IoContext;
use crate::scan::HeaderScanner;
use crate::segment::{file_name, OpenMode, Segment};
use crate::{LogError, PartitionLog};

fn swap_name(base: i64, ext: &str) -> String {
    format!("{}.swap", file_name(base, ext))
}

fn rename_optional(dir: &Path, from: &str, to: &str) -> Result<(), LogError> {
    match fs::rename(dir.join(from), dir.join(to)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("rename {from} to {to} in {}", dir.display())),
    }
}

fn remove_segment_files(dir: &Path, base: i64) -> Result<(), LogError> {
    for ext in ["log", "index", "timeindex", "txnindex"] {
        remove_optional(dir, &file_name(base, ext))?;
    }
    Ok(())
}

/// Deletes the `.cleaned` files of `groups`.
pub(crate) fn remove_cleaned(dir: &Path, groups: &[CleanedGroup]) -> Result<(), LogError> {
    for g in groups {
        remove_optional(dir, &cleaned_name(g.base, "log"))?;
        remove_optional(dir, &cleaned_name(g.base, "txnindex"))?;
    }
    Ok(())
}

/// Steps 2 to 5 (module docs), stopping after `stop`.
pub(crate) fn swap_in(
    log: &mut PartitionLog,
    built: BuiltClean,
    stop: SwapStep,
) -> Result<CleanOutcome, LogError> {
    match swap_steps(log, &built, stop) {
        Ok(outcome) => Ok(outcome),
        Err(e) => Err(log.fail_on_io("clean swap", e)),
    }
}

fn swap_steps(
    log: &mut PartitionLog,
    built: &BuiltClean,
    stop: SwapStep,
) -> Result<CleanOutcome, LogError> {
    let dir = log.dir.clone();
    if built.groups.is_empty() || stop == SwapStep::Cleaned {
        return Ok(CleanOutcome::Abandoned);
    }
    for g in &built.groups {
        rename_optional(
            &dir,
            &cleaned_name(g.base, "txnindex"),
            &swap_name(g.base, "txnindex"),
        )?;
        rename_optional(
            &dir,
            &cleaned_name(g.base, "log"),
            &swap_name(g.base, "log"),
        )?;
    }
    sync_dir(&dir)?;
    if stop == SwapStep::Swapped {
        return Ok(CleanOutcome::Abandoned);
    }
    for g in &built.groups {
        for &(base, _, _) in &g.old {
            remove_segment_files(&dir, base)?;
        }
    }
    sync_dir(&dir)?;
    if stop == SwapStep::OldDeleted {
        return Ok(CleanOutcome::Abandoned);
    }
    let interval = log.config.index_interval_bytes as u64;
    for g in &built.groups {
        rename_optional(
            &dir,
            &swap_name(g.base, "txnindex"),
            &file_name(g.base, "txnindex"),
        )?;
        rename_optional(&dir, &swap_name(g.base, "log"), &file_name(g.base, "log"))?;
    }
    sync_dir(&dir)?;
    for g in &built.groups {
        let (_, group_end, _) = *g.old.last().expect("a group has segments");
        let (mut segment, _) = Segment::open(
            &dir,
            g.base,
            OpenMode::Sealed,
            interval,
            Some((group_end - g.base) as u64),
        )?;
        segment.seal()?;
        let first = log
            .segments
            .iter()
            .position(|s| s.base_offset == g.base)
            .expect("checked by still_holds");
        let count = g.old.len();
        log.segments
            .splice(first..first + count, std::iter::once(segment));
    }
    sync_dir(&dir)?;
    if stop == SwapStep::Renamed {
        return Ok(CleanOutcome::Abandoned);
    }
    write_cleaner_checkpoint(&dir, built.end)?;
    tracing::info!(dir = %dir.display(), groups = built.groups.len(), end = built.end,
        read = built.bytes_read, written = built.bytes_written, "cleaned log");
    Ok(CleanOutcome::Swapped(built.end))
}

/// Completes or rolls back an interrupted swap (module docs); called by `open` before it lists
/// the segments.
pub(crate) fn recover_swaps(dir: &Path) -> Result<(), LogError> {
    let mut swaps = Vec::new();
    let mut stray_txn = Vec::new();
    let mut changed = false;
    for entry in fs::read_dir(dir).ctx(|| format!("list {}", dir.display()))? {
        let entry = entry.ctx(|| format!("list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cleaned") {
            remove_optional(dir, &name)?;
            changed = true;
            continue;
        }
        let Some(stem) = name.strip_suffix(".swap") else {
            continue;
        };
        let Some((base, ext)) = stem.split_once('.') else {
            continue;
        };
        let Ok(base) = base.parse::<i64>() else {
            continue;
        };
        match ext {
            "log" => swaps.push(base),
            "txnindex" => stray_txn.push(base),
            _ => {}
        }
    }
    swaps.sort_unstable();
    let logs = list_logs(dir)?;
    for &base in &swaps {
        let path = dir.join(swap_name(base, "log"));
        let file = fs::File::open(&path).ctx(|| format!("open {}", path.display()))?;
        let len = file
            .metadata()
            .ctx(|| format!("stat {}", path.display()))?
            .len();
        let mut end = base;
        for item in HeaderScanner::new(&file, 0, len) {
            end = item?.1.last_offset() + 1;
        }
        for &old in logs.iter().filter(|&&b| b >= base && b < end) {
            remove_segment_files(dir, old)?;
        }
        // The old segment at `base` may have left indexes; the new one rebuilds them.
        remove_optional(dir, &file_name(base, "index"))?;
        remove_optional(dir, &file_name(base, "timeindex"))?;
        rename_optional(
            dir,
            &swap_name(base, "txnindex"),
            &file_name(base, "txnindex"),
        )?;
        rename_optional(dir, &swap_name(base, "log"), &file_name(base, "log"))?;
        tracing::info!(dir = %dir.display(), base, end, "completed an interrupted cleaner swap");
        changed = true;
    }
    for base in stray_txn.into_iter().filter(|b| !swaps.contains(b)) {
        // Its `.log.swap` was renamed already: this is the new segment's index.
        if dir.join(file_name(base, "log")).exists() {
            rename_optional(
                dir,
                &swap_name(base, "txnindex"),
                &file_name(base, "txnindex"),
            )?;
        } else {
            remove_optional(dir, &swap_name(base, "txnindex"))?;
        }
        changed = true;
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

fn list_logs(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut logs = Vec::new();
    for entry in fs::read_dir(dir).ctx(|| format!("list {}", dir.display()))? {
        let entry = entry.ctx(|| format!("list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 {
                if let Ok(base) = stem.parse() {
                    logs.push(base);
                }
            }
        }
    }
    Ok(logs)
}
