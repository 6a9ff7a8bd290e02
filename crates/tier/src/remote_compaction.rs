//! Remote compaction of tiered compacted topics (beyond Kafka, whose KIP-405 leaves compacted
//! topics out): the uploaded segments of a `cleanup.policy=compact` topic are compacted again
//! in the bucket, so the archive stays near the size of the latest values.
//!
//! One run over a partition (its leader only, at most every
//! `strata.tier.compaction.interval.ms`, one run per partition at a time; it may run beside the
//! partition's uploads, which only add segments after its chain, while its remote retention
//! waits for the run to end):
//! 1. take the contiguous chain of remote segments from the first one; the segments written or
//!    checked by an earlier run (`compacted_at_ms` set) are the clean prefix, the rest is dirty.
//!    Run only when the dirty ratio reaches `min.cleanable.dirty.ratio` (or the oldest dirty
//!    record passed `max.compaction.lag.ms`); dirty segments younger than
//!    `min.compaction.lag.ms` end the chain;
//! 2. download the chain into a scratch directory (`compaction` beside the catalog; ranged GETs
//!    of [`DOWNLOAD_CHUNK`] bytes, each checked against the manifest's size and CRC-32C) and
//!    clean it there with the local cleaner's rules (`strata_log::clean_detached`): the latest
//!    value per key at its original offset, tombstones kept `delete.retention.ms` after the run
//!    that first compacted their segment, aborted data dropped, adjacent small segments merged
//!    up to `segment.bytes`;
//! 3. record the run's new segments in the catalog (`replacements`) and flush, then upload them
//!    under new upload ids (manifest last). A segment the clean left byte for byte unchanged is
//!    not uploaded again: only its manifest is rewritten, marked compacted;
//! 4. switch: one catalog transaction replaces the old entries with the new ones and drops the
//!    `replacements` record. Readers see all old segments or all new ones;
//! 5. the superseded uploads stay in the bucket for `strata.tier.compaction.grace.ms`, so cold
//!    reads in flight finish, then the sweep (`sweep.rs`) deletes them.
//!
//! Crash at any point: before 4 the `replacements` record names the run's uploads, and
//! reconciliation deletes them (the old segments were never touched); after 4 the superseded
//! uploads are found by the sweep. A catalog rebuild from the bucket prefers a replacement
//! whose manifest is written (it covers the old segments, `supersede.rs`), so no mix of old
//! and new is ever read.
//!
//! Costs per run: one GET per [`DOWNLOAD_CHUNK`] of the partition's remote bytes (clean and
//! dirty), the PUTs of the changed segments (4 to 6 objects each, multipart above the
//! threshold), one PUT per unchanged segment newly marked compacted; scratch disk of the
//! downloaded chain plus its cleaned copy.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use strata_log::{CleanerConfig, DetachedSegment, LogConfig, SegmentInfo};

use crate::error::TierError;
use crate::manifest::SegmentManifest;
use crate::tier::{now_ms, PartitionRef, Tier};
use crate::upload::{new_upload_id, PreparedUpload};

/// Bytes per ranged GET when downloading a segment for compaction.
pub const DOWNLOAD_CHUNK: u64 = 64 * 1024 * 1024;

/// The topic's settings a remote compaction follows.
#[derive(Debug, Clone)]
pub struct RemoteCompactionConfig {
    /// Cleaner settings (`min.cleanable.dirty.ratio`, lags, `delete.retention.ms`, the map).
    pub cleaner: CleanerConfig,
    /// The topic's log settings (`segment.bytes` bounds merged segments).
    pub log: LogConfig,
}

/// What one remote compaction run did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CompactionReport {
    /// Remote segments read.
    pub segments_before: usize,
    /// Segments after the run (covering the same offsets).
    pub segments_after: usize,
    /// Bytes of the segments read.
    pub bytes_before: u64,
    /// Bytes of the segments after the run.
    pub bytes_after: u64,
    /// Segments uploaded anew.
    pub uploaded: usize,
    /// Bytes uploaded (`.log` files).
    pub uploaded_bytes: u64,
    /// Dirty ratio that started the run.
    pub dirty_ratio: f64,
    /// How full the offset map got.
    pub map_fill_ratio: f64,
}

/// The part of a partition's remote segments a run considers.
#[derive(Debug)]
struct Chain {
    segments: Vec<SegmentManifest>,
    /// Segments at the start that an earlier run compacted.
    clean: usize,
    dirty_ratio: f64,
}

/// How dirty a tiered compacted partition is in the bucket (what `strata topic describe`
/// shows for it, and what starts a run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteCleanableState {
    /// End of the compacted prefix (the first dirty offset), or the first remote offset.
    pub first_dirty_offset: i64,
    /// End of the chain a run would take now.
    pub cleanable_end: i64,
    /// Bytes of the compacted prefix.
    pub clean_bytes: u64,
    /// Bytes of the dirty segments a run would take now.
    pub dirty_bytes: u64,
    /// `dirty / (clean + dirty)`, 0 when nothing is dirty.
    pub dirty_ratio: f64,
    /// Largest timestamp of the first dirty segment.
    pub oldest_dirty_timestamp: Option<i64>,
    /// Whether a run is due (dirty enough, or past `max.compaction.lag.ms`).
    pub needs_cleaning: bool,
}

/// The contiguous chain of `remote` from its first segment, and its state.
fn chain_of(
    remote: Vec<SegmentManifest>,
    cfg: &CleanerConfig,
    now: i64,
) -> (Chain, RemoteCleanableState) {
    let mut segments: Vec<SegmentManifest> = Vec::new();
    for m in remote {
        if segments
            .last()
            .is_some_and(|l| l.end_offset != m.base_offset)
        {
            break; // an overlap or a gap: the run covers the regular prefix only
        }
        let clean = m.compacted_at_ms.is_some();
        if !clean && now.saturating_sub(m.max_timestamp) < cfg.min_compaction_lag_ms {
            break; // too young to compact, and so is everything after it
        }
        if clean && segments.last().is_some_and(|l| l.compacted_at_ms.is_none()) {
            break; // a clean segment after a dirty one: leave it for a later run
        }
        segments.push(m);
    }
    let clean = segments
        .iter()
        .take_while(|m| m.compacted_at_ms.is_some())
        .count();
    let clean_bytes: u64 = segments[..clean].iter().map(|m| m.size).sum();
    let dirty_bytes: u64 = segments[clean..].iter().map(|m| m.size).sum();
    let dirty_ratio = if dirty_bytes == 0 {
        0.0
    } else {
        dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64
    };
    let oldest_dirty_timestamp = segments[clean..].first().map(|m| m.max_timestamp);
    let overdue =
        oldest_dirty_timestamp.is_some_and(|ts| now.saturating_sub(ts) > cfg.max_compaction_lag_ms);
    let state = RemoteCleanableState {
        first_dirty_offset: segments.get(clean).or(segments.last()).map_or(-1, |m| {
            if clean < segments.len() {
                m.base_offset
            } else {
                m.end_offset
            }
        }),
        cleanable_end: segments.last().map_or(-1, |m| m.end_offset),
        clean_bytes,
        dirty_bytes,
        dirty_ratio,
        oldest_dirty_timestamp,
        needs_cleaning: dirty_bytes > 0
            && (overdue || dirty_ratio >= cfg.min_cleanable_dirty_ratio),
    };
    (
        Chain {
            segments,
            clean,
            dirty_ratio,
        },
        state,
    )
}

/// The chain of `remote` if it needs a run.
fn choose(remote: Vec<SegmentManifest>, cfg: &CleanerConfig, now: i64) -> Option<Chain> {
    let (chain, state) = chain_of(remote, cfg, now);
    state.needs_cleaning.then_some(chain)
}

/// Marks a partition as being compacted for as long as it lives.
struct Running<'a> {
    tier: &'a Tier,
    key: (String, i32),
}

impl<'a> Running<'a> {
    fn start(tier: &'a Tier, topic_id: &str, partition: i32) -> Option<Running<'a>> {
        let key = (topic_id.to_string(), partition);
        let mut set = tier.compacting.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(key.clone()).then_some(Running { tier, key })
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.tier
            .compacting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl Tier {
    /// How dirty the partition is in the bucket (see [`RemoteCleanableState`]).
    pub fn remote_cleanable_state(
        &self,
        topic_id: &str,
        partition: i32,
        cfg: &CleanerConfig,
        now_ms: i64,
    ) -> Result<RemoteCleanableState, TierError> {
        self.require_catalog()?;
        let remote = self.catalog.finished(topic_id, partition)?;
        Ok(chain_of(remote, cfg, now_ms).1)
    }

    /// Whether a remote compaction of the partition is running.
    pub fn is_compacting(&self, topic_id: &str, partition: i32) -> bool {
        self.compacting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(topic_id.to_string(), partition))
    }

    /// Runs one remote compaction of partition `p` if it is due (see the module docs).
    /// `Ok(None)`: nothing to do.
    pub async fn compact_partition(
        &self,
        p: PartitionRef<'_>,
        cfg: &RemoteCompactionConfig,
    ) -> Result<Option<CompactionReport>, TierError> {
        if !self.is_reconciled() {
            return Err(TierError::Unavailable(
                "not yet reconciled with the bucket".into(),
            ));
        }
        let Some(_running) = Running::start(self, p.topic_id, p.partition) else {
            return Ok(None); // a run of this partition is in progress
        };
        let now = now_ms();
        let remote = self.catalog.finished(p.topic_id, p.partition)?;
        let Some(chain) = choose(remote, &cfg.cleaner, now) else {
            return Ok(None);
        };
        let dir = self
            .compaction_dir
            .join(format!("{}-{}", p.topic_id, p.partition));
        let result = self.compact_chain(p, cfg, &chain, &dir, now).await;
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the compaction scratch directory");
            }
        }
        let report = result?;
        if let Some(r) = &report {
            metrics::counter!("strata_tier_compactions_total").increment(1);
            metrics::counter!("strata_tier_compaction_bytes_read_total").increment(r.bytes_before);
            metrics::counter!("strata_tier_compaction_bytes_written_total")
                .increment(r.uploaded_bytes);
            tracing::info!(
                topic = p.topic,
                partition = p.partition,
                segments_before = r.segments_before,
                segments_after = r.segments_after,
                bytes_before = r.bytes_before,
                bytes_after = r.bytes_after,
                uploaded = r.uploaded,
                dirty_ratio = r.dirty_ratio,
                "remote compaction done"
            );
        }
        Ok(report)
    }

    async fn compact_chain(
        &self,
        p: PartitionRef<'_>,
        cfg: &RemoteCompactionConfig,
        chain: &Chain,
        dir: &Path,
        now: i64,
    ) -> Result<Option<CompactionReport>, TierError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| TierError::io(format!("clear {}", dir.display()), e))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| TierError::io(format!("create {}", dir.display()), e))?;
        for m in &chain.segments {
            self.download(
                m,
                &dir.join(strata_log::segment_file_name(m.base_offset, "log")),
            )
            .await?;
        }
        let segments: Vec<DetachedSegment> = chain
            .segments
            .iter()
            .map(|m| DetachedSegment {
                base_offset: m.base_offset,
                cleaned_at_ms: m.compacted_at_ms,
            })
            .collect();
        let first_dirty = chain
            .segments
            .get(chain.clean)
            .map_or(chain.segments[0].base_offset, |m| m.base_offset);
        let (dir_owned, topic_id, log, cleaner) = (
            dir.to_path_buf(),
            p.topic_id.to_string(),
            cfg.log.clone(),
            cfg.cleaner,
        );
        let clean = tokio::task::spawn_blocking(move || {
            strata_log::clean_detached(
                strata_log::DetachedJob {
                    dir: &dir_owned,
                    topic_id: &topic_id,
                    config: log,
                    cleaner,
                    segments: &segments,
                    first_dirty,
                    now_ms: now,
                },
                &mut |_| {},
            )
        })
        .await
        .map_err(|e| TierError::Corrupt(format!("compaction task: {e}")))?
        .map_err(|e| TierError::Corrupt(format!("compacting downloaded segments: {e}")))?;
        let Some(clean) = clean else {
            return Ok(None);
        };
        let mut report = CompactionReport {
            segments_before: chain.segments.len(),
            bytes_before: chain.segments.iter().map(|m| m.size).sum(),
            dirty_ratio: chain.dirty_ratio,
            map_fill_ratio: clean.map_fill_ratio,
            ..CompactionReport::default()
        };
        // Each new segment replaces the old ones inside its range.
        let mut uploads: Vec<(SegmentInfo, PreparedUpload)> = Vec::new();
        let mut marked: Vec<SegmentManifest> = Vec::new();
        let mut replaced: Vec<i64> = Vec::new();
        for seg in clean
            .segments
            .iter()
            .filter(|s| s.end_offset <= clean.cleaned_end)
        {
            let olds: Vec<&SegmentManifest> = chain
                .segments
                .iter()
                .filter(|m| m.base_offset >= seg.base_offset && m.end_offset <= seg.end_offset)
                .collect();
            let unchanged = match olds.as_slice() {
                [only] => {
                    let path = seg.log_path.clone();
                    let (size, crc) = tokio::task::spawn_blocking(move || file_crc(&path))
                        .await
                        .map_err(|e| TierError::Corrupt(format!("compaction task: {e}")))??;
                    (size, crc) == (only.size, only.crc32c)
                }
                _ => false,
            };
            if unchanged {
                // Already compacted: nothing to write. Dirty but unchanged by the clean: only
                // its manifest is rewritten, marked compacted.
                if olds[0].compacted_at_ms.is_none() {
                    let mut m = olds[0].clone();
                    m.compacted_at_ms = Some(now);
                    replaced.push(m.base_offset);
                    marked.push(m);
                }
                continue;
            }
            replaced.extend(olds.iter().map(|m| m.base_offset));
            let mut prepared = self.prepare_upload(p, seg).await?;
            prepared.manifest.compacted_at_ms = Some(now);
            // The producer state at the end is the last old segment's (offsets are kept).
            prepared.producer_snapshot = None;
            prepared.manifest.producer_snapshot = None;
            if let Some(last) = olds.last().filter(|m| m.producer_snapshot.is_some()) {
                let data = self.store.get(&last.keys().producer_snapshot).await?;
                prepared.manifest.producer_snapshot = Some(crate::manifest::AuxObject::of(&data));
                prepared.producer_snapshot = Some(data.to_vec());
            }
            uploads.push((seg.clone(), prepared));
        }
        let new: Vec<SegmentManifest> = uploads.iter().map(|(_, u)| u.manifest.clone()).collect();
        let run = new_upload_id(p.leader_epoch);
        self.catalog.put_replacement(&run, &new)?;
        self.catalog.flush().await?;
        let mut switched = new.clone();
        switched.extend(marked.iter().cloned());
        switched.sort_by_key(|m| m.base_offset);
        let done: Result<(), TierError> = async {
            for (seg, prepared) in uploads {
                report.uploaded += 1;
                report.uploaded_bytes += prepared.manifest.size;
                let _permit = self
                    .uploads
                    .acquire()
                    .await
                    .expect("semaphore never closed");
                self.put_objects(&seg, prepared).await?;
            }
            for m in &marked {
                self.store
                    .put(&m.keys().manifest, Bytes::from(m.to_bytes()))
                    .await?;
            }
            // Atomic: on failure nothing switched.
            self.catalog
                .switch(&run, p.topic_id, p.partition, &replaced, &switched)?;
            Ok(())
        }
        .await;
        if let Err(e) = done {
            // Best effort now; the `replacements` record drives the cleanup at the next start.
            if let Err(cleanup) = self.abandon_run(&run, &new).await {
                tracing::debug!(run = %run, error = %cleanup, "cleanup of a failed remote compaction deferred");
            }
            return Err(e);
        }
        self.catalog.flush().await?;
        let after = self.catalog.finished(p.topic_id, p.partition)?;
        let last_end = chain.segments.last().map_or(0, |m| m.end_offset);
        let kept: Vec<&SegmentManifest> =
            after.iter().filter(|m| m.end_offset <= last_end).collect();
        report.segments_after = kept.len();
        report.bytes_after = kept.iter().map(|m| m.size).sum();
        Ok(Some(report))
    }

    /// Downloads segment `m`'s `.log` object to `to`, checking its size and CRC-32C.
    async fn download(&self, m: &SegmentManifest, to: &Path) -> Result<(), TierError> {
        use std::io::Write;
        let key = m.keys().log;
        let mut file = std::fs::File::create(to)
            .map_err(|e| TierError::io(format!("create {}", to.display()), e))?;
        let mut crc = 0u32;
        let mut at = 0u64;
        while at < m.size {
            let end = (at + DOWNLOAD_CHUNK).min(m.size);
            let data = self.store.get_range(&key, at..end).await?;
            crc = crc32c::crc32c_append(crc, &data);
            file.write_all(&data)
                .map_err(|e| TierError::io(format!("write {}", to.display()), e))?;
            at = end;
        }
        if crc != m.crc32c {
            return Err(TierError::Corrupt(format!(
                "{key}: CRC-32C {crc} where the manifest says {}",
                m.crc32c
            )));
        }
        file.sync_all()
            .map_err(|e| TierError::io(format!("sync {}", to.display()), e))?;
        Ok(())
    }
}

/// Size and CRC-32C of the file at `path`.
fn file_crc(path: &Path) -> Result<(u64, u32), TierError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|e| TierError::io(format!("open {}", path.display()), e))?;
    let (mut crc, mut size) = (0u32, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| TierError::io(format!("read {}", path.display()), e))?;
        if n == 0 {
            return Ok((size, crc));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        size += n as u64;
    }
}

/// How long superseded uploads stay, by default (`strata.tier.compaction.grace.ms`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::sample;

    fn seg(base: i64, end: i64, size: u64, compacted: bool) -> SegmentManifest {
        let mut m = sample(base, end);
        m.size = size;
        m.max_timestamp = 1_000;
        m.compacted_at_ms = compacted.then_some(500);
        m
    }

    fn cfg(ratio: f64, min_lag: i64) -> CleanerConfig {
        CleanerConfig {
            min_cleanable_dirty_ratio: ratio,
            min_compaction_lag_ms: min_lag,
            ..CleanerConfig::default()
        }
    }

    #[test]
    fn a_run_takes_the_contiguous_chain_when_dirty_enough() {
        let remote = vec![
            seg(0, 10, 100, true),
            seg(10, 20, 100, true),
            seg(20, 30, 100, false),
            seg(30, 40, 100, false),
        ];
        let c = choose(remote.clone(), &cfg(0.5, 0), 2_000).unwrap();
        assert_eq!((c.segments.len(), c.clean), (4, 2));
        assert!((c.dirty_ratio - 0.5).abs() < 1e-9);
        assert!(
            choose(remote.clone(), &cfg(0.6, 0), 2_000).is_none(),
            "not dirty enough"
        );
        // Too young: the dirty part stops before it.
        assert!(choose(remote.clone(), &cfg(0.1, 5_000), 2_000).is_none());
        // A gap ends the chain.
        let gapped = vec![seg(0, 10, 100, false), seg(15, 20, 100, false)];
        assert_eq!(
            choose(gapped, &cfg(0.5, 0), 2_000).unwrap().segments.len(),
            1
        );
        let (_, state) = chain_of(remote.clone(), &cfg(0.5, 0), 2_000);
        assert_eq!(
            state,
            RemoteCleanableState {
                first_dirty_offset: 20,
                cleanable_end: 40,
                clean_bytes: 200,
                dirty_bytes: 200,
                dirty_ratio: 0.5,
                oldest_dirty_timestamp: Some(1_000),
                needs_cleaning: true,
            }
        );
        // Nothing dirty, nothing to do.
        assert!(choose(vec![seg(0, 10, 100, true)], &cfg(0.0, 0), 2_000).is_none());
    }
}
