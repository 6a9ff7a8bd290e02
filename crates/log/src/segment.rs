//! One segment: `<base>.log` plus its `.index`, `.timeindex` and (once it holds an ABORT marker)
//! `.txnindex` (`txn_index.rs`), named by the base offset as 20 zero-padded digits.
//!
//! Invariants:
//! - `base_offset` is the offset of the first batch ever written to the segment; batches are
//!   contiguous (`next.base_offset == prev.last_offset + 1`) and `size` is the end of the last
//!   whole batch.
//! - Only the active (last) segment is writable; sealing cuts any bytes past `size` (left by a
//!   failed write), adds the final time index entry, fsyncs all three files, trims the indexes
//!   and swaps in a read-only handle.
//! - Indexing rule (Kafka `LogSegment.append`): before writing a batch, if more than
//!   `index_interval` bytes were written since the last entry, add an offset entry
//!   `(batch last offset, batch position)` and a time entry for the max timestamp so far.
//! - The log file handle is an `Arc<File>` so readers can keep using it after the segment is
//!   deleted.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_records::BatchHeader;

use crate::error::IoContext;
use crate::offset_index::OffsetIndex;
use crate::scan::HeaderScanner;
use crate::segment_scan::{scan_segment, SegmentScan};
use crate::time_index::TimeIndex;
use crate::txn_index::TxnIndex;
use crate::LogError;

/// File name of a segment file: base offset as 20 digits plus extension.
pub(crate) fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// How to open an existing segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Sealed segment: load indexes (rebuild if missing or invalid), read-only handle.
    Sealed,
    /// Active segment after a clean shutdown: as `Sealed`, but writable.
    Active,
    /// Active segment after a crash: CRC-scan every batch, truncate the invalid tail, rebuild
    /// both indexes.
    Recover,
}

/// What opening a segment had to do.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OpenStats {
    pub(crate) scanned_batches: usize,
    pub(crate) truncated_bytes: u64,
    pub(crate) rebuilt_indexes: bool,
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    log_path: PathBuf,
    file: Arc<File>,
    writable: bool,
    dirty: bool,
    pub(crate) size: u64,
    pub(crate) next_offset: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    pub(crate) max_timestamp: i64,
    pub(crate) offset_of_max_timestamp: i64,
    bytes_since_index: u64,
    /// When the segment's age for `segment.ms` started (None while empty).
    pub(crate) rolling_base_ms: Option<i64>,
    /// Aborted transactions whose ABORT marker is in this segment.
    pub(crate) txn_index: TxnIndex,
}

impl Segment {
    /// Creates an empty writable segment (truncating leftovers with the same name).
    pub(crate) fn create(dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .ctx(|| format!("create segment {}", log_path.display()))?;
        let scan = SegmentScan {
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            ..SegmentScan::default()
        };
        let txn_index = TxnIndex::empty(dir.join(file_name(base_offset, "txnindex")));
        txn_index.delete_file()?;
        Self::from_scan(dir, base_offset, log_path, file, true, scan)
    }

    /// Opens an existing segment; `max_relative` bounds index offsets when the next
    /// segment's base offset is known.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        mode: OpenMode,
        index_interval: u64,
        max_relative: Option<u64>,
    ) -> Result<(Segment, OpenStats), LogError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let writable = mode != OpenMode::Sealed;
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&log_path)
            .ctx(|| format!("open segment {}", log_path.display()))?;
        let size = file
            .metadata()
            .ctx(|| format!("stat segment {}", log_path.display()))?
            .len();
        let mut stats = OpenStats::default();
        if mode != OpenMode::Recover {
            if let Some(segment) = Self::load(
                dir,
                base_offset,
                &log_path,
                &file,
                size,
                writable,
                max_relative,
            )? {
                return Ok((segment, stats));
            }
        }
        let recover = mode == OpenMode::Recover;
        let scan = scan_segment(&file, base_offset, size, recover, index_interval)?;
        stats.scanned_batches = scan.batches;
        stats.rebuilt_indexes = true;
        if let Some(err) = &scan.stopped_by {
            if !recover {
                return Err(LogError::Corrupt(format!(
                    "sealed segment {} is damaged: {err}",
                    log_path.display()
                )));
            }
            tracing::warn!(segment = %log_path.display(), valid = scan.valid_size, size,
                error = %err, "truncating damaged log tail");
            file.set_len(scan.valid_size)
                .and_then(|()| file.sync_all())
                .ctx(|| format!("truncate segment {}", log_path.display()))?;
            stats.truncated_bytes = size - scan.valid_size;
        }
        let segment = Self::from_scan(dir, base_offset, log_path, file, writable, scan)?;
        Ok((segment, stats))
    }

    fn from_scan(
        dir: &Path,
        base_offset: i64,
        log_path: PathBuf,
        file: File,
        writable: bool,
        scan: SegmentScan,
    ) -> Result<Segment, LogError> {
        let index_path = dir.join(file_name(base_offset, "index"));
        let time_path = dir.join(file_name(base_offset, "timeindex"));
        let offset_index = OffsetIndex::create(&index_path, base_offset, scan.offset_entries)?;
        let mut time_index = TimeIndex::create(&time_path, base_offset, scan.time_entries)?;
        if scan.batches > 0 {
            time_index.maybe_append(scan.max_timestamp, scan.offset_of_max_timestamp)?;
        }
        Ok(Segment {
            base_offset,
            log_path,
            file: Arc::new(file),
            writable,
            dirty: true,
            size: scan.valid_size,
            next_offset: scan.next_offset,
            offset_index,
            time_index,
            max_timestamp: scan.max_timestamp,
            offset_of_max_timestamp: scan.offset_of_max_timestamp,
            bytes_since_index: scan.bytes_since_index,
            rolling_base_ms: scan.first_batch_max_timestamp,
            txn_index: TxnIndex::load(dir.join(file_name(base_offset, "txnindex")))?,
        })
    }

    /// Loads valid indexes and reads only the batches after the last offset index entry.
    /// Returns `None` if an index is missing or inconsistent (the caller rebuilds).
    fn load(
        dir: &Path,
        base_offset: i64,
        log_path: &Path,
        file: &File,
        size: u64,
        writable: bool,
        max_relative: Option<u64>,
    ) -> Result<Option<Segment>, LogError> {
        let index_path = dir.join(file_name(base_offset, "index"));
        let time_path = dir.join(file_name(base_offset, "timeindex"));
        let Some(offset_index) = OffsetIndex::load(&index_path, base_offset, size, max_relative)?
        else {
            return Ok(None);
        };
        let Some(time_index) = TimeIndex::load(&time_path, base_offset, max_relative)? else {
            return Ok(None);
        };
        if size > 0 && time_index.last_entry().is_none() {
            return Ok(None); // a non-empty sealed or cleanly closed segment has a final entry
        }
        let (mut max_timestamp, mut offset_of_max) =
            time_index.last_entry().unwrap_or((-1, base_offset));
        let tail_start = offset_index.last_position();
        let mut next_offset = base_offset;
        for item in HeaderScanner::new(file, tail_start, size) {
            let (_, header) = match item {
                Ok(found) => found,
                Err(err @ LogError::Io { .. }) => return Err(err),
                Err(_) => return Ok(None),
            };
            if header.max_timestamp > max_timestamp {
                max_timestamp = header.max_timestamp;
                offset_of_max = header.last_offset();
            }
            next_offset = header.last_offset() + 1;
        }
        let rolling_base_ms = if size > 0 {
            HeaderScanner::new(file, 0, size)
                .next()
                .transpose()?
                .map(|(_, h)| h.max_timestamp)
        } else {
            None
        };
        let file = file
            .try_clone()
            .ctx(|| format!("dup {}", log_path.display()))?;
        Ok(Some(Segment {
            base_offset,
            log_path: log_path.to_path_buf(),
            file: Arc::new(file),
            writable,
            dirty: false,
            size,
            next_offset,
            offset_index,
            time_index,
            max_timestamp,
            offset_of_max_timestamp: offset_of_max,
            bytes_since_index: size - tail_start,
            rolling_base_ms,
            txn_index: TxnIndex::load(dir.join(file_name(base_offset, "txnindex")))?,
        }))
    }

    /// Appends one batch (already patched) at the end; `header` describes it.
    pub(crate) fn append(
        &mut self,
        parts: &[&[u8]],
        header: &BatchHeader,
        index_interval: u64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        debug_assert!(self.writable, "append to a sealed segment");
        let position = self.size;
        let mut at = position;
        for part in parts {
            self.file
                .write_all_at(part, at)
                .ctx(|| format!("append to {}", self.log_path.display()))?;
            at += part.len() as u64;
        }
        let batch_len = at - position;
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        if self.bytes_since_index > index_interval {
            self.offset_index
                .append(header.last_offset(), position as u32)?;
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += batch_len;
        self.size += batch_len;
        self.next_offset = header.last_offset() + 1;
        self.dirty = true;
        self.rolling_base_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Fsyncs the log and both indexes if anything was written since the last flush.
    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        if self.dirty {
            self.file
                .sync_data()
                .ctx(|| format!("fsync {}", self.log_path.display()))?;
            self.dirty = false;
        }
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.txn_index.flush()
    }

    /// Seals the segment: final time index entry, fsync, trimmed indexes, read-only handle.
    pub(crate) fn seal(&mut self) -> Result<(), LogError> {
        self.seal_with(true).map(drop)
    }

    /// Seals the segment; with `sync` false nothing is fsynced here: the returned index files
    /// (and the `.log`, still dirty) are for a group-commit flush to sync later without the
    /// log's lock.
    pub(crate) fn seal_with(&mut self, sync: bool) -> Result<Vec<(Arc<File>, PathBuf)>, LogError> {
        if self.writable {
            // A failed write may have left bytes past the last whole batch: cut them so a
            // sealed segment never carries a partial batch.
            let len = self
                .file
                .metadata()
                .ctx(|| format!("stat {}", self.log_path.display()))?
                .len();
            if len > self.size {
                self.file
                    .set_len(self.size)
                    .ctx(|| format!("trim {}", self.log_path.display()))?;
                self.dirty = true;
            }
        }
        if self.size > 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
        }
        // Rare (only segments holding ABORT markers) and small: always synced at the seal, so a
        // sealed segment's aborted transactions are durable before the roll's producer snapshot.
        self.txn_index.flush()?;
        let mut unsynced = Vec::new();
        if sync {
            self.flush()?;
            self.offset_index.close()?;
            self.time_index.close()?;
        } else {
            for closed in [
                self.offset_index.close_deferred()?,
                self.time_index.close_deferred()?,
            ]
            .into_iter()
            .flatten()
            {
                unsynced.push((Arc::new(closed.0), closed.1));
            }
        }
        if self.writable {
            let file = File::open(&self.log_path)
                .ctx(|| format!("reopen sealed {}", self.log_path.display()))?;
            self.file = Arc::new(file);
            self.writable = false;
        }
        Ok(unsynced)
    }

    /// Removes the segment's files. Open `Arc<File>` handles stay readable.
    pub(crate) fn delete_files(&self) -> Result<(), LogError> {
        for path in [
            self.log_path.as_path(),
            self.offset_index.path(),
            self.time_index.path(),
            self.txn_index.path(),
        ] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx(|| format!("delete {}", path.display())),
            }
        }
        Ok(())
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Scans headers from the offset index position for `offset` to the end of the segment.
    pub(crate) fn scan_from_offset(&self, offset: i64) -> HeaderScanner<'_> {
        HeaderScanner::new(&self.file, self.offset_index.lookup(offset), self.size)
    }

    /// File position to start a forward scan for `offset` at (from the offset index).
    pub(crate) fn index_position(&self, offset: i64) -> u64 {
        self.offset_index.lookup(offset)
    }

    /// The batch containing `offset` (the first whose last offset is `>= offset`), if any.
    pub(crate) fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        for item in self.scan_from_offset(offset) {
            let (pos, header) = item?;
            if header.last_offset() >= offset {
                return Ok(Some((pos, header)));
            }
        }
        Ok(None)
    }

    /// Offset to start a timestamp search at, from the time index.
    pub(crate) fn time_lookup(&self, timestamp: i64) -> i64 {
        self.time_index.lookup(timestamp)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }
}
