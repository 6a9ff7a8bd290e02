//! `cleaner-offset-checkpoint`: the partition's first dirty offset (Kafka keeps one such file
//! per log directory; Strata keeps it in the partition directory, beside the log-start one).
//!
//! Format (text, atomic write): `0\n<first dirty offset>\n`. The first line is the version; any
//! other version is an error (`Corrupt`), and the broker's cleaner then leaves the partition
//! alone. A missing file means nothing was cleaned yet (first dirty offset = log start).

use std::path::Path;

use crate::checkpoint::{read_optional, write_atomic};
use crate::LogError;

/// File name of the cleaner checkpoint inside a partition directory.
pub const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";
const VERSION: &str = "0";

/// Reads the cleaner checkpoint of the partition in `dir` (`None` if never cleaned).
pub fn read_cleaner_checkpoint(dir: &Path) -> Result<Option<i64>, LogError> {
    let Some(text) = read_optional(dir, CLEANER_CHECKPOINT)? else {
        return Ok(None);
    };
    let corrupt = |why: &str| LogError::Corrupt(format!("{CLEANER_CHECKPOINT}: {why}"));
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(VERSION) {
        return Err(corrupt("unsupported version"));
    }
    lines
        .next()
        .and_then(|l| l.trim().parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| corrupt("missing offset"))
}

/// Writes the cleaner checkpoint atomically.
pub(crate) fn write_cleaner_checkpoint(dir: &Path, offset: i64) -> Result<(), LogError> {
    write_atomic(
        dir,
        CLEANER_CHECKPOINT,
        format!("{VERSION}\n{offset}\n").as_bytes(),
    )
}

/// Lowers the checkpoint to `end` after a truncation (Kafka's `maybeTruncateCheckpoint`): data
/// written again after the cut is dirty. An unreadable checkpoint is left for the cleaner to
/// report.
pub(crate) fn truncate_cleaner_checkpoint(dir: &Path, end: i64) -> Result<(), LogError> {
    match read_cleaner_checkpoint(dir) {
        Ok(Some(offset)) if offset > end => write_cleaner_checkpoint(dir, end),
        _ => Ok(()),
    }
}
