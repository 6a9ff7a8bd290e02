//! Small versioned files in the partition directory, each replaced atomically.
//!
//! Crash consistency: every write goes to `<name>.tmp`, is fsynced, renamed over `<name>`, and
//! the directory is fsynced, so a reader sees either the old or the new contents, never a mix.
//! Formats (all text, first line is the version):
//! - `partition.metadata`: `version: 1\ntopic_id: <id>\nformat: strata-log-1\n`
//! - `leader-epoch-checkpoint` (Kafka's format): `0\n<count>\n<epoch> <start_offset>\n...`
//! - `log-start-offset-checkpoint`: `0\n<log_start_offset>\n`
//! - `.clean_shutdown`: `version: 1\n`; present only between `close()` and the next `open()`.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::error::IoContext;
use crate::LogError;

pub(crate) const PARTITION_METADATA: &str = "partition.metadata";
pub(crate) const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
pub(crate) const LOG_START_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub(crate) const CLEAN_SHUTDOWN: &str = ".clean_shutdown";
const FORMAT: &str = "strata-log-1";

/// Replaces `dir/name` with `contents` atomically and durably.
pub(crate) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<(), LogError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dest = dir.join(name);
    let mut file = fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    file.write_all(contents)
        .ctx(|| format!("write {}", tmp.display()))?;
    file.sync_all().ctx(|| format!("fsync {}", tmp.display()))?;
    fs::rename(&tmp, &dest).ctx(|| format!("rename to {}", dest.display()))?;
    sync_dir(dir)
}

/// Fsyncs a directory so that creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("fsync directory {}", dir.display()))
}

/// Reads `dir/name`, or `None` if it does not exist.
pub(crate) fn read_optional(dir: &Path, name: &str) -> Result<Option<String>, LogError> {
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx(|| format!("read {}", path.display())),
    }
}

/// Removes `dir/name` if present.
pub(crate) fn remove_optional(dir: &Path, name: &str) -> Result<(), LogError> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("remove {}", path.display())),
    }
}

fn corrupt(name: &str, why: &str) -> LogError {
    LogError::Corrupt(format!("{name}: {why}"))
}

/// Writes `partition.metadata` if missing; otherwise checks its version and topic id.
pub(crate) fn ensure_partition_metadata(dir: &Path, topic_id: &str) -> Result<(), LogError> {
    let Some(text) = read_optional(dir, PARTITION_METADATA)? else {
        let body = format!("version: 1\ntopic_id: {topic_id}\nformat: {FORMAT}\n");
        return write_atomic(dir, PARTITION_METADATA, body.as_bytes());
    };
    let mut version = None;
    let mut stored_topic = None;
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(':') {
            match key.trim() {
                "version" => version = Some(value.trim().to_string()),
                "topic_id" => stored_topic = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    if version.as_deref() != Some("1") {
        return Err(corrupt(
            PARTITION_METADATA,
            "unsupported or missing version",
        ));
    }
    if stored_topic.as_deref() != Some(topic_id) {
        return Err(LogError::Corrupt(format!(
            "{PARTITION_METADATA}: topic id {stored_topic:?} does not match {topic_id}"
        )));
    }
    Ok(())
}

/// Parses the leader epoch checkpoint into `(epoch, start_offset)` pairs; missing file = empty.
pub(crate) fn read_leader_epochs(dir: &Path) -> Result<Vec<(i32, i64)>, LogError> {
    let Some(text) = read_optional(dir, LEADER_EPOCH_CHECKPOINT)? else {
        return Ok(Vec::new());
    };
    let bad = |why| corrupt(LEADER_EPOCH_CHECKPOINT, why);
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(bad("unsupported version"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("bad entry count"))?;
    let mut entries = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let line = lines.next().ok_or_else(|| bad("missing entry"))?;
        let mut parts = line.split_whitespace();
        let epoch = parts.next().and_then(|p| p.parse().ok());
        let offset = parts.next().and_then(|p| p.parse().ok());
        match (epoch, offset) {
            (Some(epoch), Some(offset)) => entries.push((epoch, offset)),
            _ => return Err(bad("malformed entry")),
        }
    }
    Ok(entries)
}

/// Writes the leader epoch checkpoint.
pub(crate) fn write_leader_epochs(dir: &Path, entries: &[(i32, i64)]) -> Result<(), LogError> {
    let mut body = format!("0\n{}\n", entries.len());
    for (epoch, offset) in entries {
        body.push_str(&format!("{epoch} {offset}\n"));
    }
    write_atomic(dir, LEADER_EPOCH_CHECKPOINT, body.as_bytes())
}

/// Reads the log start offset checkpoint, if any.
pub(crate) fn read_log_start(dir: &Path) -> Result<Option<i64>, LogError> {
    let Some(text) = read_optional(dir, LOG_START_CHECKPOINT)? else {
        return Ok(None);
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(corrupt(LOG_START_CHECKPOINT, "unsupported version"));
    }
    lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| corrupt(LOG_START_CHECKPOINT, "malformed offset"))
}

/// Writes the log start offset checkpoint.
pub(crate) fn write_log_start(dir: &Path, log_start: i64) -> Result<(), LogError> {
    write_atomic(
        dir,
        LOG_START_CHECKPOINT,
        format!("0\n{log_start}\n").as_bytes(),
    )
}

/// Writes the clean shutdown marker.
pub(crate) fn write_clean_marker(dir: &Path) -> Result<(), LogError> {
    write_atomic(dir, CLEAN_SHUTDOWN, b"version: 1\n")
}
