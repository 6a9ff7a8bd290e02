//! `strata export`: a topic's records read through the brokers (hot segments and tiered ones
//! alike: the broker serves cold offsets from the bucket) and written as Parquet, with the
//! bucket archive's schema (`strata_archive`), or as JSON Lines with the same columns.
//!
//! An export resolves each partition's offset range ([`bounds`]), then reads the partitions
//! one after another as a read_committed consumer ([`fetch`]) and writes files of at most
//! [`ExportSpec::file_bytes`] of fetched record bytes each ([`files`]), reporting progress as
//! it goes ([`progress`]).
//!
//! Resuming: files are named by the offset range they cover and appear only once complete, so a
//! run skips every offset an earlier run's files cover and writes only what is missing; a run
//! interrupted at any point, then started again with the same arguments, ends with the same
//! rows, each exactly once.
//!
//! Invariants: rows are written in offset order within a file; a file covers exactly the
//! offsets its name says, and holds every committed record of the partition in that range that
//! the broker still has.

pub mod bounds;
pub mod fetch;
pub mod files;
pub mod progress;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use strata_admin::cluster_client::{ClientSecurity, ClusterClient};
use strata_archive::{committed_rows, ArchiveStats};

use crate::bounds::{End, PartitionRange, Start};
use crate::fetch::{Fetched, PartitionReader};
use crate::files::{partition_dir, written_ranges, Format, OutFile};
use crate::progress::Progress;

/// Default [`ExportSpec::file_bytes`]: 256 MiB of record bytes per file.
pub const DEFAULT_FILE_BYTES: u64 = 256 << 20;

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// `HOST:PORT[,HOST:PORT…]`.
    pub bootstrap: String,
    /// How the connections to the brokers are secured.
    pub security: ClientSecurity,
    /// The topic.
    pub topic: String,
    /// One partition, or all.
    pub partition: Option<i32>,
    /// Where each partition starts.
    pub start: Start,
    /// Where each partition stops (exclusive).
    pub end: End,
    /// Output format.
    pub format: Format,
    /// Output directory (`OUT/topic=T/partition=P/…`).
    pub out: PathBuf,
    /// A file is closed once this many record bytes (as fetched) went into it.
    pub file_bytes: u64,
}

/// What one export did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Partitions read.
    pub partitions: usize,
    /// Rows written by this run.
    pub rows: u64,
    /// Files written by this run.
    pub files_written: u64,
    /// Files of an earlier run that covered part of the range.
    pub files_skipped: u64,
    /// Offsets those files covered.
    pub offsets_skipped: u64,
}

/// Runs `spec` (see the crate docs).
pub async fn export(spec: &ExportSpec) -> anyhow::Result<Summary> {
    let mut client = ClusterClient::connect_with(&spec.bootstrap, spec.security.clone())
        .await
        .with_context(|| format!("connecting to {}", spec.bootstrap))?;
    let ranges = bounds::resolve(
        &mut client,
        &spec.topic,
        spec.partition,
        spec.start,
        spec.end,
    )
    .await?;
    let total: u64 = ranges.iter().map(|r| (r.end - r.start) as u64).sum();
    let progress = Progress::new(total);
    let mut summary = Summary {
        partitions: ranges.len(),
        ..Summary::default()
    };
    for range in &ranges {
        export_partition(&mut client, spec, range, &progress, &mut summary).await?;
    }
    progress.finish();
    Ok(summary)
}

/// Exports one partition's range, skipping what earlier runs wrote.
async fn export_partition(
    client: &mut ClusterClient,
    spec: &ExportSpec,
    range: &PartitionRange,
    progress: &Progress,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let p = range.partition;
    let dir = partition_dir(&spec.out, &spec.topic, p);
    let written = written_ranges(&dir, spec.format)?;
    let mut reader = PartitionReader::new(client, &spec.topic, p);
    let mut next = range.start;
    while next < range.end {
        if let Some(&(_, last)) = written.iter().find(|&&(f, l)| f <= next && next <= l) {
            let to = (last + 1).min(range.end);
            progress.advance((to - next) as u64);
            progress.line(format!(
                "partition {p}: offsets {next} to {} already exported, skipped",
                to - 1
            ));
            summary.files_skipped += 1;
            summary.offsets_skipped += (to - next) as u64;
            next = to;
            continue;
        }
        // Up to the next file already there, or the end.
        let limit = written
            .iter()
            .map(|&(f, _)| f)
            .filter(|&f| f > next)
            .min()
            .unwrap_or(range.end)
            .min(range.end);
        progress.status(format!("partition {p} at offset {next}"));
        let out = write_file(&mut reader, spec, &dir, p, next, limit, progress).await?;
        if let Some((path, rows)) = &out.file {
            summary.files_written += 1;
            summary.rows += rows;
            progress.line(format!(
                "partition {p}: wrote {} ({rows} rows, offsets {next} to {})",
                path.display(),
                out.next - 1
            ));
        }
        next = out.next;
        if out.at_last_stable {
            progress.advance((range.end - next) as u64);
            progress.line(format!(
                "partition {p}: stopped at offset {next}, the last stable offset (a transaction is still open)"
            ));
            break;
        }
    }
    Ok(())
}

/// What [`write_file`] did.
struct FileOutcome {
    /// The file written (path, rows); none when nothing was read.
    file: Option<(PathBuf, u64)>,
    /// The offset after the file's range.
    next: i64,
    /// Reading stopped at the last stable offset, below the limit.
    at_last_stable: bool,
}

/// Writes one file from `first`, up to `limit` or [`ExportSpec::file_bytes`].
async fn write_file(
    reader: &mut PartitionReader<'_>,
    spec: &ExportSpec,
    dir: &std::path::Path,
    partition: i32,
    first: i64,
    limit: i64,
    progress: &Progress,
) -> anyhow::Result<FileOutcome> {
    let mut file = OutFile::create(dir, first, spec.format)?;
    let mut next = first;
    let mut bytes: u64 = 0;
    let mut at_last_stable = false;
    let mut stalled_since: Option<Instant> = None;
    while next < limit && bytes < spec.file_bytes {
        let (records, aborted, lso) = match reader.fetch(next).await? {
            Fetched::Data {
                records,
                aborted,
                last_stable_offset,
            } => (records, aborted, last_stable_offset),
            Fetched::OutOfRange { log_start } if log_start > next => {
                let to = log_start.min(limit);
                progress.line(format!(
                    "partition {partition}: offsets {next}..{to} were deleted (retention) during the export"
                ));
                progress.advance((to - next) as u64);
                next = to;
                continue;
            }
            Fetched::OutOfRange { log_start } => anyhow::bail!(
                "partition {partition}: offset {next} is out of range (log start {log_start})"
            ),
        };
        let mut stats = ArchiveStats::default();
        let from = next;
        let last = committed_rows(&records, partition, &aborted, &mut stats, |row| {
            let o = row.record.offset;
            if o >= from && o < limit {
                file.push(&row)?;
            }
            Ok(())
        })
        .with_context(|| format!("partition {partition} at offset {from}"))?;
        match last {
            Some(last) if last >= next => {
                let to = (last + 1).min(limit);
                progress.advance((to - next) as u64);
                next = to;
                bytes += records.len() as u64;
                stalled_since = None;
            }
            _ if lso >= 0 && lso <= next => {
                at_last_stable = true;
                break;
            }
            _ => {
                // Nothing at `next` yet below the last stable offset: ask again, for a while.
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > fetch::RETRY_FOR {
                    anyhow::bail!(
                        "partition {partition}: no records at offset {next} for {:?} (last stable offset {lso})",
                        fetch::RETRY_FOR
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    if next == first {
        file.discard()?;
        return Ok(FileOutcome {
            file: None,
            next,
            at_last_stable,
        });
    }
    let rows = file.rows;
    let path = file.finish(next - 1)?;
    Ok(FileOutcome {
        file: Some((path, rows)),
        next,
        at_last_stable,
    })
}
