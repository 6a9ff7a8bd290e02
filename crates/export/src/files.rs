//! The export's output layout and its files.
//!
//! Layout (Hive-style, as the bucket's Parquet archive):
//! `OUT/topic=T/partition=P/<first offset:020>-<last offset:020>.<parquet|jsonl>`. A file's
//! name is the offset range it covers, both ends inclusive: every row of the partition in that
//! range that a read_committed consumer sees, and no other. (A range may hold fewer rows than
//! offsets: compaction gaps, transaction markers, aborted data.)
//!
//! Invariants:
//! - A file appears under its final name only once complete: it is written as
//!   `.<first:020>.<ext>.tmp` in the same directory, synced, then renamed; so a file with a
//!   range name is whole, and an interrupted export leaves only a `.tmp`, removed by the next
//!   run ([`written_ranges`]).
//! - Ranges of one partition's files never overlap: a run writes only offsets no existing file
//!   covers.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;
use strata_archive::{ArchiveError, JsonlSink, ParquetSink, Row};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet, the bucket archive's schema and settings.
    Parquet,
    /// JSON Lines, one object per row with the same column names.
    Jsonl,
}

impl Format {
    /// File name extension.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Jsonl => "jsonl",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "parquet" => Ok(Format::Parquet),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!("unknown format {other:?} (parquet or jsonl)")),
        }
    }
}

/// `out/topic=T/partition=P`.
pub fn partition_dir(out: &Path, topic: &str, partition: i32) -> PathBuf {
    out.join(format!("topic={topic}"))
        .join(format!("partition={partition}"))
}

/// The name of the file covering offsets `first..=last`.
pub fn file_name(first: i64, last: i64, format: Format) -> String {
    format!("{first:020}-{last:020}.{}", format.ext())
}

/// The range `(first, last)` a file name covers, if it is an export file of `format`.
pub fn parse_name(name: &str, format: Format) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(format.ext())?.strip_suffix('.')?;
    let (first, last) = stem.split_once('-')?;
    if first.len() != 20 || last.len() != 20 {
        return None;
    }
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last).then_some((first, last))
}

/// The ranges already written in `dir` (missing: none), sorted; removes leftover `.tmp` files
/// of an interrupted run.
pub fn written_ranges(dir: &Path, format: Format) -> anyhow::Result<Vec<(i64, i64)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut ranges = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        } else if let Some(range) = parse_name(&name, format) {
            ranges.push(range);
        }
    }
    ranges.sort_unstable();
    Ok(ranges)
}

enum Sink {
    Parquet(Box<ParquetSink<BufWriter<File>>>),
    Jsonl(JsonlSink<BufWriter<File>>),
}

/// One output file being written (see the module docs).
pub struct OutFile {
    dir: PathBuf,
    tmp: PathBuf,
    first: i64,
    format: Format,
    sink: Sink,
    /// Rows pushed.
    pub rows: u64,
}

impl OutFile {
    /// Starts the file whose range begins at `first` in `dir` (created if missing).
    pub fn create(dir: &Path, first: i64, format: Format) -> anyhow::Result<OutFile> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".{first:020}.{}.tmp", format.ext()));
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let sink = match format {
            Format::Parquet => Sink::Parquet(Box::new(ParquetSink::new(out)?)),
            Format::Jsonl => Sink::Jsonl(JsonlSink::new(out)),
        };
        Ok(OutFile {
            dir: dir.to_path_buf(),
            tmp,
            first,
            format,
            sink,
            rows: 0,
        })
    }

    /// Appends one row.
    pub fn push(&mut self, row: &Row<'_>) -> Result<(), ArchiveError> {
        match &mut self.sink {
            Sink::Parquet(s) => s.push(row)?,
            Sink::Jsonl(s) => s.push(row)?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Abandons the file (nothing was read for it): removes its `.tmp`.
    pub fn discard(self) -> anyhow::Result<()> {
        drop(self.sink);
        std::fs::remove_file(&self.tmp).with_context(|| format!("removing {}", self.tmp.display()))
    }

    /// Completes the file as covering `first..=last`: writes, syncs and renames it to its range
    /// name. Returns the final path.
    pub fn finish(self, last: i64) -> anyhow::Result<PathBuf> {
        let out = match self.sink {
            Sink::Parquet(s) => s.finish()?,
            Sink::Jsonl(s) => s.finish()?,
        };
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", self.tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing {}", self.tmp.display()))?;
        let path = self.dir.join(file_name(self.first, last, self.format));
        std::fs::rename(&self.tmp, &path)
            .with_context(|| format!("renaming {} to {}", self.tmp.display(), path.display()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", self.dir.display()))?;
        Ok(path)
    }
}
