//! A clean of segments that belong to no live log: the remote compaction of a tiered compacted
//! topic downloads its uploaded segments into a scratch directory and has them cleaned here,
//! with the same rules as a local clean (see the parent module).
//!
//! Invariants:
//! - the scratch directory holds only what the caller placed there (`.log` files named
//!   [`segment_file_name`]) and what this clean writes; nothing outside it is touched;
//! - the segments must be contiguous (each one starts where the previous one ends);
//! - the segments below `first_dirty` were cleaned before: their modification time (set here
//!   from [`DetachedSegment::cleaned_at_ms`]) dates that clean, so tombstones and markers in
//!   them go once `delete.retention.ms` has passed since, as Kafka's delete horizon does;
//! - every segment handed in ends up sealed; the result lists the segment set after the clean,
//!   whose boundaries are unions of the input's (a cleaned group replaces whole segments).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::cleaner::checkpoint::write_cleaner_checkpoint;
use crate::cleaner::{CleanOutcome, CleanerConfig};
use crate::error::IoContext;
use crate::{LogConfig, LogError, PartitionLog, SegmentInfo};

/// File name of a segment file: base offset as 20 digits plus extension (`00…0042.log`).
pub fn segment_file_name(base_offset: i64, ext: &str) -> String {
    crate::segment::file_name(base_offset, ext)
}

/// One segment placed in the scratch directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetachedSegment {
    /// Its base offset (its file is `<dir>/<segment_file_name(base, "log")>`).
    pub base_offset: i64,
    /// When it was last cleaned, for segments below the first dirty offset (ms since epoch).
    pub cleaned_at_ms: Option<i64>,
}

/// What [`clean_detached`] produced.
#[derive(Debug)]
pub struct DetachedClean {
    /// The segments after the clean, oldest first (all sealed), with their files' paths.
    pub segments: Vec<SegmentInfo>,
    /// The end of the cleaned section (the next clean's first dirty offset).
    pub cleaned_end: i64,
    /// Bytes read from the old segments.
    pub bytes_read: u64,
    /// Bytes written to the cleaned segments.
    pub bytes_written: u64,
    /// How full the offset map got (0..=1).
    pub map_fill_ratio: f64,
}

/// A clean of the segments placed in a scratch directory.
#[derive(Debug)]
pub struct DetachedJob<'a> {
    /// The scratch directory.
    pub dir: &'a Path,
    /// The topic id (recorded in the scratch log's identity file).
    pub topic_id: &'a str,
    /// The topic's log settings; its `segment.bytes` bounds the cleaned groups.
    pub config: LogConfig,
    /// The topic's cleaner settings.
    pub cleaner: CleanerConfig,
    /// The segments, oldest first, contiguous.
    pub segments: &'a [DetachedSegment],
    /// The end of the section cleaned before.
    pub first_dirty: i64,
    /// Now (ms since epoch).
    pub now_ms: i64,
}

/// Cleans the segments of `job` (see the module docs). `None` when nothing was cleanable (no
/// dirty whole segment, an open transaction at the start of the dirty section, or segments
/// younger than `min.compaction.lag.ms`).
pub fn clean_detached(
    job: DetachedJob<'_>,
    throttle: &mut dyn FnMut(u64),
) -> Result<Option<DetachedClean>, LogError> {
    let DetachedJob {
        dir,
        topic_id,
        mut config,
        cleaner,
        segments,
        first_dirty,
        now_ms,
    } = job;
    for s in segments {
        let path: PathBuf = dir.join(segment_file_name(s.base_offset, "log"));
        if let Some(at) = s.cleaned_at_ms {
            let when = UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(0));
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(when))
                .ctx(|| format!("set the modification time of {}", path.display()))?;
        }
    }
    write_cleaner_checkpoint(dir, first_dirty)?;
    // A scratch copy: no remote tiering of its own, nothing deleted by retention.
    config.remote_storage_enable = false;
    let mut log = PartitionLog::open(dir, topic_id, config, now_ms)?;
    log.roll_with(true)?;
    let Some(job) = log.prepare_clean(&cleaner, now_ms)? else {
        return Ok(None);
    };
    let built = job.build(throttle)?;
    let (bytes_read, bytes_written, map_fill_ratio) =
        (built.bytes_read, built.bytes_written, built.map_fill_ratio);
    match log.finish_clean(built)? {
        CleanOutcome::Swapped(cleaned_end) => Ok(Some(DetachedClean {
            segments: log.sealed_segments(),
            cleaned_end,
            bytes_read,
            bytes_written,
            map_fill_ratio,
        })),
        CleanOutcome::Abandoned => Err(LogError::Corrupt(format!(
            "the scratch log in {} changed during its clean",
            dir.display()
        ))),
    }
}
