//! Phase 2 of a clean, without the partition's lock: the offset map, then the rewrite of each
//! group of segments into `<base>.log.cleaned` (and `<base>.txnindex.cleaned` when the group
//! keeps ABORT markers), fsynced. See `mod.rs` for the retention rules.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

use strata_records::{filter_batch, raw_records, records_section, BatchHeader};

use super::offset_map::OffsetMap;
use super::{BuiltClean, CleanJob, CleanedGroup, SegmentSnap};
use crate::error::IoContext;
use crate::scan::{read_batch, HeaderScanner};
use crate::segment::file_name;
use crate::txn_index::AbortedTxnEntry;
use crate::LogError;

/// Name of a cleaned (not yet swapped) file.
pub(crate) fn cleaned_name(base: i64, ext: &str) -> String {
    format!("{}.cleaned", file_name(base, ext))
}

/// Aborted transactions by producer id: `(first offset, marker offset)`.
struct Aborted(HashMap<i64, Vec<(i64, i64)>>);

impl Aborted {
    fn new(segments: &[SegmentSnap]) -> Aborted {
        let mut map: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for e in segments.iter().flat_map(|s| s.aborted.iter()) {
            map.entry(e.producer_id)
                .or_default()
                .push((e.first_offset, e.last_offset));
        }
        Aborted(map)
    }

    /// True if the transactional data batch `h` belongs to an aborted transaction.
    fn holds(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.0.get(&h.producer_id).is_some_and(|spans| {
                spans
                    .iter()
                    .any(|&(first, last)| first <= h.base_offset && h.base_offset < last)
            })
    }
}

impl CleanJob {
    /// Builds the offset map and the cleaned files. `throttle` is called with the bytes of every
    /// segment read or written (the I/O limiter sleeps in it).
    pub fn build(self, throttle: &mut dyn FnMut(u64)) -> Result<BuiltClean, LogError> {
        let aborted = Aborted::new(&self.segments);
        let mut map = OffsetMap::new(self.config.dedupe_buffer_bytes);
        let mut end = self.first_dirty;
        let mut bytes_read = 0;
        'segments: for seg in self
            .segments
            .iter()
            .filter(|s| s.next_offset > self.first_dirty)
        {
            for item in HeaderScanner::new(&seg.file, 0, seg.size) {
                let (pos, header) = item?;
                if header.is_control() || aborted.holds(&header) || header.records_count <= 0 {
                    continue;
                }
                let batch = read_batch(&seg.file, pos, &header)?;
                let section = records_section(&batch)?;
                for record in raw_records(&header, &section)? {
                    let Some(key) = record.key else { continue };
                    if record.offset >= self.first_dirty && !map.put(key, record.offset) {
                        // Full: the cleaned section ends before this segment. Entries already
                        // taken from it point at records that stay, so they are still right.
                        break 'segments;
                    }
                }
            }
            bytes_read += seg.size;
            throttle(seg.size);
            end = seg.next_offset;
        }
        let map_fill_ratio = map.fill_ratio();
        if end <= self.first_dirty {
            tracing::warn!(dir = %self.dir.display(), first_dirty = self.first_dirty,
                "log.cleaner.dedupe.buffer.size is too small for one segment's keys: not cleaning");
            return Ok(BuiltClean {
                dir: self.dir,
                groups: Vec::new(),
                end: self.first_dirty,
                bytes_read,
                bytes_written: 0,
                map_fill_ratio,
            });
        }
        let cleaned: Vec<&SegmentSnap> = self
            .segments
            .iter()
            .filter(|s| s.next_offset <= end)
            .collect();
        let mut rewriter = Rewriter {
            job: &self,
            map: &map,
            aborted: &aborted,
            txn_has_data: HashMap::new(),
        };
        let mut groups = Vec::new();
        let mut bytes_written = 0;
        for group in group_segments(&cleaned, self.segment_bytes) {
            let (written, read) = rewriter.rewrite_group(group, throttle)?;
            bytes_written += written;
            bytes_read += read;
            groups.push(CleanedGroup {
                base: group[0].base,
                old: group
                    .iter()
                    .map(|s| (s.base, s.next_offset, s.size))
                    .collect(),
            });
        }
        Ok(BuiltClean {
            dir: self.dir,
            groups,
            end,
            bytes_read,
            bytes_written,
            map_fill_ratio,
        })
    }
}

/// Consecutive runs of segments whose total size stays within `segment_bytes` and whose
/// offsets fit relative 32-bit offsets (Kafka's `groupSegmentsBySize`).
fn group_segments<'a>(
    segments: &'a [&'a SegmentSnap],
    segment_bytes: u64,
) -> Vec<&'a [&'a SegmentSnap]> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start + 1;
        let mut size = segments[start].size;
        while end < segments.len() {
            let next = segments[end];
            let span = next.next_offset - segments[start].base;
            if size + next.size > segment_bytes || span > i64::from(i32::MAX) {
                break;
            }
            size += next.size;
            end += 1;
        }
        groups.push(&segments[start..end]);
        start = end;
    }
    groups
}

struct Rewriter<'a> {
    job: &'a CleanJob,
    map: &'a OffsetMap,
    aborted: &'a Aborted,
    /// Per producer: a batch of its current transaction was written (its marker must stay).
    txn_has_data: HashMap<i64, bool>,
}

impl Rewriter<'_> {
    /// Tombstones and markers in `seg` may go: it was cleaned before and is older than
    /// `delete.retention.ms`.
    fn past_horizon(&self, seg: &SegmentSnap) -> bool {
        seg.next_offset <= self.job.first_dirty
            && self.job.now_ms.saturating_sub(seg.mtime_ms) > self.job.config.delete_retention_ms
    }

    /// Writes the cleaned copy of `group`; returns (bytes written, bytes read).
    fn rewrite_group(
        &mut self,
        group: &[&SegmentSnap],
        throttle: &mut dyn FnMut(u64),
    ) -> Result<(u64, u64), LogError> {
        let dir = &self.job.dir;
        let base = group[0].base;
        let path = dir.join(cleaned_name(base, "log"));
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .ctx(|| format!("create {}", path.display()))?;
        let mut at = 0u64;
        let mut read = 0u64;
        let mut kept_aborts: Vec<AbortedTxnEntry> = Vec::new();
        let last_seg = group.len() - 1;
        for (i, seg) in group.iter().enumerate() {
            let horizon = self.past_horizon(seg);
            let mut scanner = HeaderScanner::new(&seg.file, 0, seg.size).peekable();
            while let Some(item) = scanner.next() {
                let (pos, header) = item?;
                let last_of_group = i == last_seg && scanner.peek().is_none();
                let batch = read_batch(&seg.file, pos, &header)?;
                let keep = self.filter(&header, &batch, horizon, last_of_group)?;
                if let Some(bytes) = keep {
                    if header.is_control() {
                        if let Some(e) = seg
                            .aborted
                            .iter()
                            .find(|e| e.last_offset == header.base_offset)
                        {
                            kept_aborts.push(*e);
                        }
                    }
                    out.write_all_at(&bytes, at)
                        .ctx(|| format!("write {}", path.display()))?;
                    at += bytes.len() as u64;
                }
            }
            read += seg.size;
            throttle(seg.size);
        }
        out.set_modified(group[last_seg].mtime)
            .ctx(|| format!("set mtime of {}", path.display()))?;
        out.sync_all().ctx(|| format!("fsync {}", path.display()))?;
        if !kept_aborts.is_empty() {
            let txn_path = dir.join(cleaned_name(base, "txnindex"));
            let mut f = File::create(&txn_path).ctx(|| format!("create {}", txn_path.display()))?;
            for e in &kept_aborts {
                f.write_all(&e.encode())
                    .ctx(|| format!("write {}", txn_path.display()))?;
            }
            f.sync_all()
                .ctx(|| format!("fsync {}", txn_path.display()))?;
        }
        throttle(at);
        Ok((at, read))
    }

    /// The bytes to write for one batch, or `None` to drop it.
    fn filter(
        &mut self,
        header: &BatchHeader,
        batch: &[u8],
        horizon: bool,
        last_of_group: bool,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let pid = header.producer_id;
        if header.is_control() {
            let has_data = self.txn_has_data.remove(&pid).unwrap_or(false);
            let removable = horizon && !has_data && !last_of_group;
            return Ok((!removable).then(|| batch.to_vec()));
        }
        let keep_empty = last_of_group
            || (pid >= 0
                && self
                    .job
                    .producer_last_offsets
                    .contains(&header.last_offset()));
        if self.aborted.holds(header) {
            if !keep_empty {
                return Ok(None);
            }
            self.txn_has_data.insert(pid, true);
            return Ok(Some(filter_batch(header, &[])?));
        }
        let section = records_section(batch)?;
        let records = raw_records(header, &section)?;
        let kept: Vec<_> = records
            .iter()
            .filter(|r| match r.key {
                None => true,
                Some(key) => {
                    let latest = self.map.get(key).is_none_or(|o| o <= r.offset);
                    latest && (r.has_value || !horizon)
                }
            })
            .copied()
            .collect();
        if kept.is_empty() && !keep_empty {
            return Ok(None);
        }
        if header.is_transactional() {
            self.txn_has_data.insert(pid, true);
        }
        if kept.len() == records.len() {
            return Ok(Some(batch.to_vec()));
        }
        Ok(Some(filter_batch(header, &kept)?))
    }
}
