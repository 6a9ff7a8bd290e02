//! The tiering service: uploads sealed segments, enforces remote retention, serves cold reads.
//!
//! Upload of one segment (states in the catalog, see `catalog.rs`):
//! 1. compute the manifest (size, CRC-32C, timestamps, leader epoch) with a fresh upload id;
//!    read the segment's `.txnindex` (when it has entries) and its producer snapshot
//!    (`<end>.snapshot`, when the log took one) into memory, and describe both in the manifest
//!    (size, CRC-32C);
//! 2. record `CopyStarted` and flush the catalog;
//! 3. upload `.log` (multipart when large), `.index`, `.timeindex`, the `.txnindex` and
//!    `.snapshot` objects the manifest names, then the manifest — the manifest last, so a
//!    manifest in the bucket means a complete segment;
//! 4. record `CopyFinished`, flush, and only then tell the local log it may delete the segment
//!    (`set_remote_upload_end`).
//!
//! Crash at any point: before 2 nothing happened; between 2 and 4 the `CopyStarted` entry names
//! every key the upload may have written, and startup (or the next sync of the partition)
//! deletes them and drops the entry; after 4 the segment is complete. Readers only ever see
//! `CopyFinished`. A retried upload uses a new upload id, so it never overwrites a committed
//! object.
//!
//! Remote deletion (retention): first advance the log start offset past the doomed segments
//! (the local log's checkpoint, written and fsynced), then `DeleteStarted` + flush, delete the
//! objects, drop the entry + flush. A crash anywhere leaves a log start at or above every
//! deleted offset: before the checkpoint nothing happened; after it the segments are below the
//! log start and the next sync (or startup, for `DeleteStarted` entries) deletes them again.
//!
//! Opening never talks to the bucket ([`Tier::open`] reads only the local catalog), so a broker
//! starts while the store is down. Reconciliation with the bucket ([`Tier::reconcile`]:
//! rebuilding a missing, empty or corrupt catalog from the manifests, then cleaning up
//! interrupted uploads and deletions) runs afterwards, retried by the caller until it succeeds.
//! Until the catalog is usable, cold reads answer [`TierError::Unavailable`]; until
//! reconciliation is done, [`Tier::sync_partition`] uploads and deletes nothing.
//!
//! A catalog rebuild deletes objects of uploads that never wrote a manifest only once the
//! newest object of that upload is older than `orphan_min_age`: a younger one may belong to an
//! uploader that is still writing it.
//!
//! Invariants: at most `upload_concurrency` uploads run at once and their bytes are
//! rate-limited; cold reads run under their own semaphore, so they never take upload slots or
//! block the produce/fetch path of hot partitions; a caller waits at most `cold_read_timeout`
//! for a cold read (a read that got its slot goes on in the background and fills the cache; one
//! still waiting for a slot at the deadline gives up, so reads never pile up behind a hanging
//! bucket).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use strata_log::{PartitionLog, SegmentInfo};
use tokio::sync::Semaphore;

use crate::cache::ChunkCache;
use crate::catalog::{Catalog, CatalogEntry, SegmentState};
use crate::cold_read::ColdReader;
use crate::error::TierError;
use crate::keys::{self, MANIFEST_EXT};
use crate::manifest::SegmentManifest;
use crate::parquet::ParquetPolicy;
use crate::rate::RateLimiter;
use crate::store::{RemoteStore, StoreErrorKind};
use crate::supersede::split_live;

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
    /// How long a caller waits for one cold read (`remote.fetch.max.wait.ms`); on expiry it
    /// gets [`TierError::Unavailable`] while the read continues in the background.
    pub cold_read_timeout: Duration,
    /// A catalog rebuild keeps the objects of an unfinished upload whose newest object is
    /// younger than this (`strata.tier.orphan.min.age.ms`).
    pub orphan_min_age: Duration,
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
    /// The leader epoch this node uploads in (named in the object keys); 0 on a single node.
    pub leader_epoch: i32,
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
    /// Parquet archives written (topics with `strata.parquet.enable=true`).
    pub parquet_written: usize,
    /// Uploaded segments still without their Parquet archive.
    pub parquet_lag_segments: usize,
}

/// One cold read of [`Tier::cold_reads`].
#[derive(Debug, Clone)]
pub struct ColdReadRequest {
    /// Topic id.
    pub topic_id: String,
    /// Partition index.
    pub partition: i32,
    /// Offset to read from.
    pub offset: i64,
    /// Byte budget (at least one whole batch is returned).
    pub max_bytes: usize,
    /// No batch ending at or past this offset is returned.
    pub upper_bound: i64,
    /// A read_committed consumer's read: the answer also lists the aborted transactions of
    /// the remote transaction indexes overlapping the returned batches.
    pub read_committed: bool,
}

/// What one cold read of [`Tier::cold_reads`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdReadAnswer {
    /// Base offset of the first returned batch (-1 when none).
    pub first_offset: i64,
    /// Whole batches, as produced.
    pub records: Bytes,
    /// The offset after the last returned batch (the requested offset when none).
    pub next_offset: i64,
    /// For a read_committed read that returned batches: the aborted transactions overlapping
    /// `[offset, next_offset)` found in the remote tier (see `cold_read.rs`). Empty otherwise.
    pub aborted: Vec<strata_log::AbortedTxn>,
    /// Whether `aborted` is known complete. If not, the caller adds the local log's
    /// `aborted_transactions(offset, next_offset)` (markers of such transactions may be in
    /// local segments). Always true for reads that need no aborted list.
    pub aborted_complete: bool,
}

/// The answer to one cold read, or `None` when no remote segment holds the offset.
pub type ColdReadResult = Result<Option<ColdReadAnswer>, TierError>;

/// What a catalog rebuild did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Segments recorded in the catalog.
    pub segments: usize,
    /// Orphaned objects deleted.
    pub deleted_objects: usize,
    /// Orphaned objects kept because their upload is younger than `orphan_min_age`.
    pub kept_young_objects: usize,
    /// Manifests that could not be read (left out of the catalog; their objects are kept).
    pub unreadable_manifests: usize,
}

/// The tiering service.
#[derive(Debug)]
pub struct Tier {
    pub(crate) store: RemoteStore,
    pub(crate) catalog: Catalog,
    pub(crate) reader: ColdReader,
    pub(crate) uploads: Arc<Semaphore>,
    /// Uploads running now, and the most that ever ran at once.
    pub(crate) uploads_running: crate::upload::Running,
    reads: Arc<Semaphore>,
    pub(crate) rate: RateLimiter,
    /// The catalog may be read: it was intact and non-empty at open, or has been rebuilt.
    catalog_ready: AtomicBool,
    /// Reconciliation with the bucket is done.
    reconciled: AtomicBool,
    cold_read_timeout: Duration,
    orphan_min_age: Duration,
    /// Scratch space of remote compactions (`compaction` beside the catalog directory).
    pub(crate) compaction_dir: PathBuf,
    /// Partitions `(topic id, partition)` with a remote compaction running: their remote
    /// retention waits, so no segment a run replaces is deleted under it.
    pub(crate) compacting: Mutex<HashSet<(String, i32)>>,
}

/// A cold-read slot, if one frees up before `deadline`. A read that got none gives up rather
/// than queueing: nobody waits for it any more, and while the bucket hangs, queued reads would
/// pile up behind the slots held by hanging GETs.
async fn read_slot(
    reads: Arc<Semaphore>,
    deadline: tokio::time::Instant,
) -> Result<tokio::sync::OwnedSemaphorePermit, TierError> {
    match tokio::time::timeout_at(deadline, reads.acquire_owned()).await {
        Ok(permit) => Ok(permit.expect("semaphore never closed")),
        Err(_) => Err(TierError::Unavailable(
            "every cold-read slot (remote.log.reader.threads) is busy".into(),
        )),
    }
}

pub(crate) fn lock(log: &Mutex<PartitionLog>) -> std::sync::MutexGuard<'_, PartitionLog> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Tier {
    /// Opens the local catalog and cache without talking to the bucket. A catalog that is
    /// missing, empty or corrupt is marked for a rebuild from the bucket's manifests, which
    /// [`Tier::reconcile`] does; until then cold reads answer [`TierError::Unavailable`].
    pub async fn open(store: RemoteStore, config: TierConfig) -> Result<Arc<Tier>, TierError> {
        let existed = config.catalog_dir.exists();
        let (catalog, intact) = match Catalog::open(&config.catalog_dir) {
            Ok(c) => (c, existed),
            Err(e) => {
                tracing::warn!(error = %e, dir = %config.catalog_dir.display(), "catalog unreadable; it will be rebuilt from the bucket");
                let _ = std::fs::remove_dir_all(&config.catalog_dir);
                (Catalog::open(&config.catalog_dir)?, false)
            }
        };
        let needs_rebuild = !intact || catalog.all_entries()?.is_empty();
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
            uploads: Arc::new(Semaphore::new(config.upload_concurrency.max(1))),
            uploads_running: crate::upload::Running::default(),
            reads: Arc::new(Semaphore::new(config.cold_read_concurrency.max(1))),
            rate: RateLimiter::new(config.upload_bytes_per_sec),
            catalog_ready: AtomicBool::new(!needs_rebuild),
            reconciled: AtomicBool::new(false),
            cold_read_timeout: config.cold_read_timeout,
            orphan_min_age: config.orphan_min_age,
            compaction_dir: config.catalog_dir.with_file_name("compaction"),
            compacting: Mutex::new(HashSet::new()),
        });
        Ok(tier)
    }

    /// Reconciles the catalog with the bucket: rebuilds it from the manifests if it was
    /// missing, empty or corrupt at open, then cleans up interrupted uploads and finishes
    /// interrupted deletions. Idempotent; call again after an error (the store may be down).
    pub async fn reconcile(&self) -> Result<(), TierError> {
        if self.reconciled.load(Ordering::SeqCst) {
            return Ok(());
        }
        if !self.catalog_ready.load(Ordering::SeqCst) {
            let report = self.rebuild_catalog().await?;
            if report.segments > 0 || report.deleted_objects > 0 || report.kept_young_objects > 0 {
                tracing::info!(
                    segments = report.segments,
                    deleted_objects = report.deleted_objects,
                    kept_young_objects = report.kept_young_objects,
                    unreadable_manifests = report.unreadable_manifests,
                    "catalog rebuilt from the bucket"
                );
            }
            self.catalog_ready.store(true, Ordering::SeqCst);
        }
        self.recover().await?;
        self.reconciled.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether [`Tier::reconcile`] has succeeded.
    pub fn is_reconciled(&self) -> bool {
        self.reconciled.load(Ordering::SeqCst)
    }

    pub(crate) fn require_catalog(&self) -> Result<(), TierError> {
        if self.catalog_ready.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(TierError::Unavailable(
                "the catalog is being rebuilt from the bucket".into(),
            ))
        }
    }

    /// Sets the read-ahead window of sequential cold replays (`strata.cold.read.ahead.bytes`;
    /// capped at half the chunk cache; 0: no read-ahead).
    pub fn set_read_ahead_bytes(&self, bytes: u64) {
        self.reader.read_ahead().set_bytes(bytes);
    }

    /// The most segment uploads that ever ran at once (bounded by `upload_concurrency`).
    pub fn peak_concurrent_uploads(&self) -> usize {
        self.uploads_running.peak()
    }

    /// The object store.
    pub fn store(&self) -> &RemoteStore {
        &self.store
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Rebuilds the catalog from the manifests in the bucket. Objects of uploads that never
    /// wrote a manifest, and of duplicate uploads of a segment, are deleted — unless the newest
    /// object of that upload is younger than `orphan_min_age` (a live uploader may still be
    /// writing it) or its manifest is unreadable (never delete what is not understood).
    pub async fn rebuild_catalog(&self) -> Result<RebuildReport, TierError> {
        let mut report = RebuildReport::default();
        self.catalog.clear()?;
        let objects = self
            .store
            .list_objects(&format!("{}/", keys::LAYOUT_VERSION))
            .await?;
        let mut manifests: HashMap<(String, i32), Vec<SegmentManifest>> = HashMap::new();
        let mut unreadable: HashSet<String> = HashSet::new();
        for o in objects.iter().filter(|o| o.key.ends_with(MANIFEST_EXT)) {
            let data = match self.store.get(&o.key).await {
                Ok(d) => d,
                // Deleted since the listing (retention of a running writer): not a segment.
                Err(e) if e.kind == StoreErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            let m = match SegmentManifest::from_bytes(&data) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(key = %o.key, error = %e, "unreadable manifest: its segment is left out of the catalog and its objects are kept");
                    metrics::counter!("strata_tier_unreadable_manifests_total").increment(1);
                    report.unreadable_manifests += 1;
                    if let Some((_, _, _, upload_id)) = keys::parse(&o.key) {
                        unreadable.insert(upload_id);
                    }
                    continue;
                }
            };
            manifests
                .entry((m.topic_id.clone(), m.partition))
                .or_default()
                .push(m);
        }
        // Per partition, the live manifests (`supersede.rs`): a compaction's replacement or a
        // newer leader's upload supersedes what it covers.
        let manifests: Vec<SegmentManifest> = manifests
            .into_values()
            .flat_map(|ms| split_live(ms).0)
            .collect();
        let live: HashSet<String> = manifests.iter().map(|m| m.upload_id.clone()).collect();
        // The newest object of each upload dates it.
        let mut newest: HashMap<String, i64> = HashMap::new();
        for o in &objects {
            if let Some((_, _, _, upload_id)) = keys::parse(&o.key) {
                let t = newest.entry(upload_id).or_insert(i64::MIN);
                *t = (*t).max(o.last_modified_ms);
            }
        }
        let now = now_ms();
        let min_age = i64::try_from(self.orphan_min_age.as_millis()).unwrap_or(i64::MAX);
        for o in &objects {
            let Some((_, _, _, upload_id)) = keys::parse(&o.key) else {
                continue;
            };
            if live.contains(&upload_id) || unreadable.contains(&upload_id) {
                continue;
            }
            let age = now.saturating_sub(newest.get(&upload_id).copied().unwrap_or(i64::MIN));
            if age < min_age {
                tracing::info!(key = %o.key, age_ms = age, min_age_ms = min_age, "keeping an unfinished upload's object: younger than strata.tier.orphan.min.age.ms");
                report.kept_young_objects += 1;
                continue;
            }
            tracing::info!(key = %o.key, age_ms = age, "deleting orphaned object");
            self.store.delete(&o.key).await?;
            report.deleted_objects += 1;
        }
        for m in &manifests {
            self.catalog.put(&CatalogEntry {
                state: SegmentState::CopyFinished,
                manifest: m.clone(),
            })?;
        }
        self.catalog.flush().await?;
        report.segments = manifests.len();
        Ok(report)
    }

    /// Cleans up interrupted uploads, finishes interrupted deletions, and deletes the uploads
    /// of remote compactions that did not switch (`remote_compaction.rs`).
    async fn recover(&self) -> Result<(), TierError> {
        for entry in self.catalog.all_entries()? {
            if entry.state != SegmentState::CopyFinished {
                self.discard(&entry.manifest).await?;
            }
        }
        for (run, manifests) in self.catalog.replacements()? {
            self.abandon_run(&run, &manifests).await?;
            tracing::info!(run = %run, segments = manifests.len(), "deleted the uploads of an interrupted remote compaction");
        }
        Ok(())
    }

    /// Deletes the uploads of a remote compaction run that will not switch, then its record.
    pub(crate) async fn abandon_run(
        &self,
        run: &str,
        manifests: &[SegmentManifest],
    ) -> Result<(), TierError> {
        for m in manifests {
            // Manifest first: a crash mid-way leaves an upload without one (an orphan).
            for key in m.object_keys().iter().rev() {
                self.store.delete(key).await?;
            }
        }
        self.catalog.remove_replacement(run)?;
        self.catalog.flush().await?;
        Ok(())
    }

    /// Deletes a segment's objects (its Parquet archive first, when the manifest names one),
    /// then its catalog entry.
    pub(crate) async fn discard(&self, m: &SegmentManifest) -> Result<(), TierError> {
        if m.parquet.is_some() {
            self.store.delete(&m.parquet_key()).await?;
        }
        for key in m.object_keys() {
            self.store.delete(&key).await?;
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
        self.sync_partition_with(p, retention_ms, retention_bytes, ParquetPolicy::default())
            .await
    }

    /// [`Tier::sync_partition`], also writing the Parquet archives `parquet` asks for
    /// (`parquet.rs`): after the uploads, and before local retention may delete a segment
    /// whose archive is missing, within `parquet.max_lag_segments`.
    pub async fn sync_partition_with(
        &self,
        p: PartitionRef<'_>,
        retention_ms: i64,
        retention_bytes: i64,
        parquet: ParquetPolicy,
    ) -> Result<SyncReport, TierError> {
        if !self.is_reconciled() {
            return Err(TierError::Unavailable(
                "not yet reconciled with the bucket".into(),
            ));
        }
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
        // With Parquet on, the local log learns the remote end only after the Parquet pass
        // (which may hold it back); the end it already knows never moves back.
        if let Some(end) = uploaded_end.filter(|_| !parquet.enable) {
            lock(p.log).set_remote_upload_end(end);
        }
        let pending: Vec<SegmentInfo> = {
            let log = lock(p.log);
            // Only committed data is uploaded (a segment wholly below the high watermark), so
            // what is remote never diverges from what a new leader has. A segment that
            // straddles the remote end (another leader rolled at other offsets) is uploaded
            // whole: overlapping remote segments are fine for reads, gaps are not.
            let hw = log.high_watermark();
            log.sealed_segments()
                .into_iter()
                .filter(|s| uploaded_end.is_none_or(|end| s.end_offset > end))
                .filter(|s| s.end_offset <= hw)
                .collect()
        };
        for seg in pending {
            match self.upload(p, &seg).await {
                Ok(m) => {
                    report.uploaded += 1;
                    report.uploaded_bytes += m.size;
                    uploaded_end = Some(m.end_offset);
                    if !parquet.enable {
                        lock(p.log).set_remote_upload_end(m.end_offset);
                    }
                }
                Err(e) => {
                    metrics::counter!("strata_tier_upload_errors_total").increment(1);
                    tracing::warn!(topic = p.topic, partition = p.partition, base = seg.base_offset, error = %e, "segment upload failed; will retry");
                    break;
                }
            }
        }
        if parquet.enable {
            let pq = self.parquet_pass(p).await;
            report.parquet_written = pq.written;
            report.parquet_lag_segments = pq.lag_segments;
            if let Some(end) = uploaded_end {
                // Within the bound, keep the oldest segment without its archive (and the later
                // ones) on local disk; past it, let local retention go on.
                let hold = pq
                    .first_missing
                    .filter(|_| pq.lag_segments <= parquet.max_lag_segments);
                lock(p.log).set_remote_upload_end(hold.map_or(end, |h| h.min(end)));
            }
        }
        report.deleted = self
            .apply_remote_retention(p, retention_ms, retention_bytes, parquet.enable)
            .await?;
        let lagging: Vec<SegmentInfo> = lock(p.log)
            .sealed_segments()
            .into_iter()
            .filter(|s| uploaded_end.is_none_or(|end| s.end_offset > end))
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

    async fn apply_remote_retention(
        &self,
        p: PartitionRef<'_>,
        retention_ms: i64,
        retention_bytes: i64,
        parquet: bool,
    ) -> Result<usize, TierError> {
        if self.is_compacting(p.topic_id, p.partition) {
            return Ok(0); // the next pass applies it
        }
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
        // The log start moves (checkpoint written and fsynced) before any object is deleted, so
        // no crash can leave a log start pointing at deleted data.
        if let Some(last) = doomed.last() {
            let mut log = lock(p.log);
            if last.end_offset > log.log_start_offset() {
                let target = last.end_offset.min(log.high_watermark());
                log.delete_records_before(target)?;
            }
        }
        for m in &doomed {
            self.catalog.put(&CatalogEntry {
                state: SegmentState::DeleteStarted,
                manifest: m.clone(),
            })?;
            self.catalog.flush().await?;
            if parquet && m.parquet.is_none() {
                // An archive written but not yet named (a crash between its PUT and the
                // manifest rewrite); `discard` deletes the named ones.
                self.store.delete(&m.parquet_key()).await?;
            }
            self.discard(m).await?;
            metrics::counter!("strata_tier_deleted_segments_total").increment(1);
        }
        Ok(doomed.len())
    }

    /// Whole batches from the remote tier, starting with the one containing `offset`.
    ///
    /// Waits at most `cold_read_timeout` (including the wait for a read slot), then answers
    /// [`TierError::Unavailable`]; the read itself continues in the background and fills the
    /// cache, so a retry finds the data.
    pub async fn cold_read(
        &self,
        topic_id: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<Option<(i64, Bytes)>, TierError> {
        let request = ColdReadRequest {
            topic_id: topic_id.to_string(),
            partition,
            offset,
            max_bytes,
            upper_bound,
            read_committed: false,
        };
        self.cold_reads(vec![request])
            .await
            .pop()
            .unwrap_or_else(|| Err(TierError::Unavailable("no read result".into())))
            .map(|found| found.map(|a| (a.first_offset, a.records)))
    }

    /// Several cold reads at once (one fetch's cold partitions), each answered as by
    /// [`Tier::cold_read`]; they run concurrently and share one deadline, so the caller waits
    /// at most `cold_read_timeout` in all. Results are in request order.
    pub async fn cold_reads(&self, requests: Vec<ColdReadRequest>) -> Vec<ColdReadResult> {
        if let Err(e) = self.require_catalog() {
            let why = e.to_string();
            return requests
                .iter()
                .map(|_| Err(TierError::Unavailable(why.clone())))
                .collect();
        }
        let deadline = tokio::time::Instant::now() + self.cold_read_timeout;
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|r| {
                let (reader, reads) = (self.reader.clone(), self.reads.clone());
                let label = format!(
                    "cold read of {}/{} at {}",
                    r.topic_id, r.partition, r.offset
                );
                let task = tokio::spawn(async move {
                    let _permit = read_slot(reads, deadline).await?;
                    let Some(slice) = reader
                        .read(
                            &r.topic_id,
                            r.partition,
                            r.offset,
                            r.max_bytes,
                            r.upper_bound,
                        )
                        .await?
                    else {
                        return Ok(None);
                    };
                    let mut answer = ColdReadAnswer {
                        first_offset: slice.first_offset,
                        records: slice.records,
                        next_offset: slice.next_offset,
                        aborted: Vec::new(),
                        aborted_complete: true,
                    };
                    if r.read_committed && !answer.records.is_empty() {
                        let found = reader
                            .aborted_transactions(
                                &r.topic_id,
                                r.partition,
                                r.offset,
                                answer.next_offset,
                            )
                            .await?;
                        answer.aborted = found.aborted;
                        answer.aborted_complete = found.complete;
                    }
                    Ok(Some(answer))
                });
                (label, task)
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for (label, task) in tasks {
            out.push(self.await_until(&label, deadline, task).await);
        }
        out
    }

    /// The first record with timestamp ≥ `ts` in the remote tier; bounded like
    /// [`Tier::cold_read`].
    pub async fn offset_for_timestamp(
        &self,
        topic_id: &str,
        partition: i32,
        ts: i64,
    ) -> Result<Option<(i64, i64)>, TierError> {
        self.require_catalog()?;
        let (reader, reads) = (self.reader.clone(), self.reads.clone());
        let topic = topic_id.to_string();
        let deadline = tokio::time::Instant::now() + self.cold_read_timeout;
        let task = tokio::spawn(async move {
            let _permit = read_slot(reads, deadline).await?;
            reader.offset_for_timestamp(&topic, partition, ts).await
        });
        let label = format!("timestamp lookup in {topic_id}/{partition}");
        self.await_until(&label, deadline, task).await
    }

    /// Waits for `task` until `deadline`. On expiry the task is not cancelled: it completes in
    /// the background (bounded by the store's own per-request timeout and retries) and fills
    /// the cache.
    async fn await_until<T>(
        &self,
        what: &str,
        deadline: tokio::time::Instant,
        task: tokio::task::JoinHandle<Result<T, TierError>>,
    ) -> Result<T, TierError> {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(TierError::Unavailable(format!(
                "{what}: task failed: {join}"
            ))),
            Err(_) => {
                metrics::counter!("strata_remote_read_timeouts_total").increment(1);
                Err(TierError::Unavailable(format!(
                    "{what} did not complete within {} ms (remote.fetch.max.wait.ms); it continues \
                     in the background",
                    self.cold_read_timeout.as_millis()
                )))
            }
        }
    }

    /// The producer state to seed a copy of a partition restarting at `at` with (the remote
    /// snapshot taken there, else the manifests' idempotent batches; see `producer_seed.rs`).
    pub async fn producer_seed(
        &self,
        topic_id: &str,
        partition: i32,
        at: i64,
    ) -> Result<crate::producer_seed::RemoteProducerSeed, TierError> {
        self.require_catalog()?;
        let manifests = self.catalog.finished(topic_id, partition)?;
        crate::producer_seed::producer_seed(&self.store, &manifests, at).await
    }

    /// First offset held remotely, if any.
    pub fn remote_log_start(
        &self,
        topic_id: &str,
        partition: i32,
    ) -> Result<Option<i64>, TierError> {
        self.require_catalog()?;
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
