//! The tiering service: uploads sealed segments, enforces remote retention, serves cold reads.
//!
//! Upload of one segment (states in the catalog, see `catalog.rs`):
//! 1. compute the manifest (size, CRC-32C, timestamps, leader epoch) with a fresh upload id;
//! 2. record `CopyStarted` and flush the catalog;
//! 3. upload `.log` (multipart when large), `.index`, `.timeindex`, then the manifest — the
//!    manifest last, so a manifest in the bucket means a complete segment;
//! 4. record `CopyFinished`, flush, and only then tell the local log it may delete the segment
//!    (`set_remote_upload_end`).
//!
//! Crash at any point: before 2 nothing happened; between 2 and 4 the `CopyStarted` entry names
//! every key the upload may have written, and startup (or the next sync of the partition)
//! deletes them and drops the entry; after 4 the segment is complete. Readers only ever see
//! `CopyFinished`. A retried upload uses a new upload id, so it never overwrites a committed
//! object.
//!
//! Remote deletion (retention): `DeleteStarted` + flush, delete the objects, drop the entry +
//! flush, then advance the log start offset. A crash in between is finished at startup.
//!
//! Invariants: at most `upload_concurrency` uploads run at once and their bytes are
//! rate-limited; cold reads run under their own semaphore, so they never take upload slots or
//! block the produce/fetch path of hot partitions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use strata_log::{PartitionLog, SegmentInfo};
use tokio::sync::Semaphore;

use crate::cache::ChunkCache;
use crate::catalog::{Catalog, CatalogEntry, SegmentState};
use crate::cold_read::ColdReader;
use crate::error::TierError;
use crate::keys::{self, MANIFEST_EXT};
use crate::manifest::{SegmentManifest, MANIFEST_VERSION};
use crate::rate::RateLimiter;
use crate::segment_file::segment_facts;
use crate::store::RemoteStore;

/// Settings of the tiering service (Kafka names in brackets, where Kafka has one).
#[derive(Debug, Clone)]
pub struct TierConfig {
    /// Directory of the sled catalog.
    pub catalog_dir: PathBuf,
    /// Directory of the cold-read chunk cache.
    pub cache_dir: PathBuf,
    /// Cache capacity in bytes.
    pub cache_bytes: u64,
    /// Chunk size of cache fills (one ranged GET each).
    pub chunk_bytes: u64,
    /// Concurrent segment uploads (`remote.log.manager.copier.thread.pool.size`).
    pub upload_concurrency: usize,
    /// Upload byte rate limit (`remote.log.manager.copy.max.bytes.per.second`).
    pub upload_bytes_per_sec: u64,
    /// Concurrent cold reads (`remote.log.reader.threads`).
    pub cold_read_concurrency: usize,
}

/// A partition as the tiering service sees it.
#[derive(Debug, Clone, Copy)]
pub struct PartitionRef<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Topic id.
    pub topic_id: &'a str,
    /// Partition index.
    pub partition: i32,
    /// The local log.
    pub log: &'a Mutex<PartitionLog>,
}

/// What one sync of a partition did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Segments uploaded.
    pub uploaded: usize,
    /// Bytes uploaded (`.log` only).
    pub uploaded_bytes: u64,
    /// Remote segments deleted by retention.
    pub deleted: usize,
    /// Sealed segments still waiting for upload.
    pub lag_segments: usize,
    /// Their bytes.
    pub lag_bytes: u64,
}

/// The tiering service.
#[derive(Debug)]
pub struct Tier {
    store: RemoteStore,
    catalog: Catalog,
    reader: ColdReader,
    uploads: Semaphore,
    reads: Semaphore,
    rate: RateLimiter,
}

fn lock(log: &Mutex<PartitionLog>) -> std::sync::MutexGuard<'_, PartitionLog> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Tier {
    /// Opens the catalog (rebuilding it from the bucket if it is missing, empty while the bucket
    /// has manifests, or corrupt), then finishes or cleans up interrupted uploads and deletions.
    pub async fn open(store: RemoteStore, config: TierConfig) -> Result<Arc<Tier>, TierError> {
        let existed = config.catalog_dir.exists();
        let catalog = match Catalog::open(&config.catalog_dir) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, dir = %config.catalog_dir.display(), "catalog unreadable; rebuilding from the bucket");
                let _ = std::fs::remove_dir_all(&config.catalog_dir);
                Catalog::open(&config.catalog_dir)?
            }
        };
        let cache = ChunkCache::new(
            store.clone(),
            &config.cache_dir,
            config.chunk_bytes,
            config.cache_bytes,
        )?;
        let tier = Arc::new(Tier {
            reader: ColdReader::new(store.clone(), catalog.clone(), cache),
            store,
            catalog,
            uploads: Semaphore::new(config.upload_concurrency.max(1)),
            reads: Semaphore::new(config.cold_read_concurrency.max(1)),
            rate: RateLimiter::new(config.upload_bytes_per_sec),
        });
        if !existed || tier.catalog.all_entries()?.is_empty() {
            let n = tier.rebuild_catalog().await?;
            if n > 0 {
                tracing::info!(segments = n, "catalog rebuilt from the bucket");
            }
        }
        tier.recover().await?;
        Ok(tier)
    }

    /// The object store.
    pub fn store(&self) -> &RemoteStore {
        &self.store
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Rebuilds the catalog from the manifests in the bucket; objects of uploads that never
    /// wrote a manifest, and duplicate uploads of a segment, are deleted. Returns the number of
    /// segments recorded.
    pub async fn rebuild_catalog(&self) -> Result<usize, TierError> {
        self.catalog.clear()?;
        let objects = self
            .store
            .list(&format!("{}/", keys::LAYOUT_VERSION))
            .await?;
        let mut manifests: HashMap<(String, i32, i64), SegmentManifest> = HashMap::new();
        let mut losers = Vec::new();
        for (key, _) in objects.iter().filter(|(k, _)| k.ends_with(MANIFEST_EXT)) {
            let data = self.store.get(key).await?;
            let m = SegmentManifest::from_bytes(&data).map_err(TierError::Corrupt)?;
            let id = (m.topic_id.clone(), m.partition, m.base_offset);
            match manifests.get(&id) {
                Some(existing) if existing.uploaded_at_ms >= m.uploaded_at_ms => losers.push(m),
                _ => {
                    if let Some(old) = manifests.insert(id, m) {
                        losers.push(old);
                    }
                }
            }
        }
        let live: std::collections::HashSet<String> =
            manifests.values().map(|m| m.upload_id.clone()).collect();
        for (key, _) in &objects {
            if let Some((_, _, _, upload_id)) = keys::parse(key) {
                if !live.contains(&upload_id) {
                    tracing::info!(key, "deleting orphaned object");
                    self.store.delete(key).await?;
                }
            }
        }
        drop(losers);
        for m in manifests.values() {
            self.catalog.put(&CatalogEntry {
                state: SegmentState::CopyFinished,
                manifest: m.clone(),
            })?;
        }
        self.catalog.flush().await?;
        Ok(manifests.len())
    }

    /// Cleans up interrupted uploads and finishes interrupted deletions.
    async fn recover(&self) -> Result<(), TierError> {
        for entry in self.catalog.all_entries()? {
            if entry.state != SegmentState::CopyFinished {
                self.discard(&entry.manifest).await?;
            }
        }
        Ok(())
    }

    /// Deletes a segment's objects, then its catalog entry.
    async fn discard(&self, m: &SegmentManifest) -> Result<(), TierError> {
        for key in m.keys().all() {
            self.store.delete(key).await?;
        }
        self.catalog
            .remove(&m.topic_id, m.partition, m.base_offset)?;
        self.catalog.flush().await?;
        Ok(())
    }

    /// Uploads what is due, applies remote retention, and reports the lag, for one partition
    /// whose topic has `remote.storage.enable=true`.
    pub async fn sync_partition(
        &self,
        p: PartitionRef<'_>,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<SyncReport, TierError> {
        let mut report = SyncReport::default();
        let entries = self.catalog.entries(p.topic_id, p.partition)?;
        for e in entries
            .iter()
            .filter(|e| e.state != SegmentState::CopyFinished)
        {
            self.discard(&e.manifest).await?;
        }
        let mut uploaded_end = entries
            .iter()
            .filter(|e| e.state == SegmentState::CopyFinished)
            .map(|e| e.manifest.end_offset)
            .max();
        if let Some(end) = uploaded_end {
            lock(p.log).set_remote_upload_end(end);
        }
        let pending: Vec<SegmentInfo> = lock(p.log)
            .sealed_segments()
            .into_iter()
            .filter(|s| uploaded_end.is_none_or(|end| s.base_offset >= end))
            .collect();
        for seg in pending {
            match self.upload(p, &seg).await {
                Ok(m) => {
                    report.uploaded += 1;
                    report.uploaded_bytes += m.size;
                    uploaded_end = Some(m.end_offset);
                    lock(p.log).set_remote_upload_end(m.end_offset);
                }
                Err(e) => {
                    metrics::counter!("strata_tier_upload_errors_total").increment(1);
                    tracing::warn!(topic = p.topic, partition = p.partition, base = seg.base_offset, error = %e, "segment upload failed; will retry");
                    break;
                }
            }
        }
        report.deleted = self
            .apply_remote_retention(p, retention_ms, retention_bytes)
            .await?;
        let lagging: Vec<SegmentInfo> = lock(p.log)
            .sealed_segments()
            .into_iter()
            .filter(|s| uploaded_end.is_none_or(|end| s.base_offset >= end))
            .collect();
        report.lag_segments = lagging.len();
        report.lag_bytes = lagging.iter().map(|s| s.size).sum();
        let labels = [
            ("topic", p.topic.to_string()),
            ("partition", p.partition.to_string()),
        ];
        metrics::gauge!("strata_tiering_lag_segments", &labels).set(report.lag_segments as f64);
        metrics::gauge!("strata_tiering_lag_bytes", &labels).set(report.lag_bytes as f64);
        Ok(report)
    }

    async fn upload(
        &self,
        p: PartitionRef<'_>,
        seg: &SegmentInfo,
    ) -> Result<SegmentManifest, TierError> {
        let _permit = self
            .uploads
            .acquire()
            .await
            .expect("semaphore never closed");
        let path = seg.log_path.clone();
        let facts = tokio::task::spawn_blocking(move || segment_facts(&path))
            .await
            .map_err(|e| TierError::Corrupt(format!("segment scan task: {e}")))??;
        let manifest = SegmentManifest {
            format_version: MANIFEST_VERSION,
            topic_id: p.topic_id.to_string(),
            topic: p.topic.to_string(),
            partition: p.partition,
            base_offset: seg.base_offset,
            end_offset: seg.end_offset,
            min_timestamp: facts.min_timestamp,
            max_timestamp: seg.max_timestamp,
            size: facts.size,
            crc32c: facts.crc32c,
            leader_epoch: facts.leader_epoch,
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            uploaded_at_ms: now_ms(),
            producer_batches: facts.producer_batches.clone(),
        };
        let keys = manifest.keys();
        self.catalog.put(&CatalogEntry {
            state: SegmentState::CopyStarted,
            manifest: manifest.clone(),
        })?;
        self.catalog.flush().await?;
        let result: Result<(), TierError> = async {
            self.rate.acquire(facts.size).await;
            self.store.upload_file(&keys.log, &seg.log_path).await?;
            self.store
                .upload_file(&keys.offset_index, &seg.offset_index_path)
                .await?;
            self.store
                .upload_file(&keys.time_index, &seg.time_index_path)
                .await?;
            self.store
                .put(&keys.manifest, Bytes::from(manifest.to_bytes()))
                .await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // Best effort now; if the store is down the CopyStarted entry drives the cleanup later.
            if self.discard(&manifest).await.is_err() {
                tracing::debug!(base = seg.base_offset, "cleanup of failed upload deferred");
            }
            return Err(e);
        }
        self.catalog.put(&CatalogEntry {
            state: SegmentState::CopyFinished,
            manifest: manifest.clone(),
        })?;
        self.catalog.flush().await?;
        metrics::counter!("strata_tier_uploaded_segments_total").increment(1);
        metrics::counter!("strata_tier_uploaded_bytes_total").increment(facts.size);
        tracing::info!(
            topic = p.topic,
            partition = p.partition,
            base = seg.base_offset,
            end = seg.end_offset,
            bytes = facts.size,
            "segment uploaded"
        );
        Ok(manifest)
    }

    async fn apply_remote_retention(
        &self,
        p: PartitionRef<'_>,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<usize, TierError> {
        let remote = self.catalog.finished(p.topic_id, p.partition)?;
        if remote.is_empty() {
            return Ok(0);
        }
        let (log_start, local_unuploaded) = {
            let log = lock(p.log);
            let remote_end = remote.last().map_or(0, |m| m.end_offset);
            let local: u64 = log
                .sealed_segments()
                .iter()
                .filter(|s| s.base_offset >= remote_end)
                .map(|s| s.size)
                .sum();
            (log.log_start_offset(), local)
        };
        let now = now_ms();
        let mut total = remote.iter().map(|m| m.size).sum::<u64>() + local_unuploaded;
        let mut doomed = Vec::new();
        for m in &remote {
            let below_start = m.end_offset <= log_start;
            let expired = retention_ms >= 0 && now.saturating_sub(m.max_timestamp) > retention_ms;
            let oversize = retention_bytes >= 0 && total as i64 - m.size as i64 >= retention_bytes;
            if !(below_start || expired || oversize) {
                break;
            }
            total -= m.size;
            doomed.push(m.clone());
        }
        for m in &doomed {
            self.catalog.put(&CatalogEntry {
                state: SegmentState::DeleteStarted,
                manifest: m.clone(),
            })?;
            self.catalog.flush().await?;
            self.discard(m).await?;
            metrics::counter!("strata_tier_deleted_segments_total").increment(1);
        }
        if let Some(last) = doomed.last() {
            let mut log = lock(p.log);
            if last.end_offset > log.log_start_offset() {
                let target = last.end_offset.min(log.high_watermark());
                log.delete_records_before(target)?;
            }
        }
        Ok(doomed.len())
    }

    /// Whole batches from the remote tier, starting with the one containing `offset`.
    pub async fn cold_read(
        &self,
        topic_id: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<Option<(i64, Bytes)>, TierError> {
        let _permit = self.reads.acquire().await.expect("semaphore never closed");
        self.reader
            .read(topic_id, partition, offset, max_bytes, upper_bound)
            .await
    }

    /// The first record with timestamp ≥ `ts` in the remote tier.
    pub async fn offset_for_timestamp(
        &self,
        topic_id: &str,
        partition: i32,
        ts: i64,
    ) -> Result<Option<(i64, i64)>, TierError> {
        let _permit = self.reads.acquire().await.expect("semaphore never closed");
        self.reader
            .offset_for_timestamp(topic_id, partition, ts)
            .await
    }

    /// First offset held remotely, if any.
    pub fn remote_log_start(
        &self,
        topic_id: &str,
        partition: i32,
    ) -> Result<Option<i64>, TierError> {
        Ok(self
            .catalog
            .finished(topic_id, partition)?
            .first()
            .map(|m| m.base_offset))
    }

    /// Deletes every remote object and catalog entry of a topic (topic deletion).
    pub async fn delete_topic(&self, topic_id: &str) -> Result<usize, TierError> {
        let entries: Vec<CatalogEntry> = self
            .catalog
            .all_entries()?
            .into_iter()
            .filter(|e| e.manifest.topic_id == topic_id)
            .collect();
        for e in &entries {
            self.discard(&e.manifest).await?;
        }
        for (key, _) in self.store.list(&keys::topic_prefix(topic_id)).await? {
            self.store.delete(&key).await?;
        }
        Ok(entries.len())
    }
}
