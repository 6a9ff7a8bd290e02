//! The upload of one sealed segment (the steps and their crash safety are in `tier.rs`'s module
//! docs): its manifest and optional objects prepared from the local files, the objects written
//! manifest last, and the catalog entry moved from `CopyStarted` to `CopyFinished`.
//!
//! Invariants: an upload holds one slot of the tier's upload semaphore and is rate-limited by
//! its `.log` size; upload ids lead with the uploader's leader epoch, so two leaders never write
//! the same key; a failed upload's objects are deleted now or, if the store is down, by the
//! `CopyStarted` entry's cleanup later.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use strata_log::SegmentInfo;

use crate::catalog::{CatalogEntry, SegmentState};
use crate::error::TierError;
use crate::manifest::{AuxObject, SegmentManifest, MANIFEST_VERSION};
use crate::segment_file::segment_facts;
use crate::tier::{now_ms, PartitionRef, Tier};

/// The whole content of a small per-segment file (`.txnindex`, `.snapshot`), if it exists and
/// is not empty. A transaction index is cut to whole 34-byte entries (a torn tail is not
/// uploaded).
fn read_aux(path: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, TierError> {
    let Some(path) = path else {
        return Ok(None);
    };
    match std::fs::read(path) {
        Ok(mut data) => {
            if path.extension().is_some_and(|e| e == "txnindex") {
                let whole = data.len() - data.len() % strata_log::TXN_INDEX_ENTRY_LEN;
                data.truncate(whole);
            }
            Ok((!data.is_empty()).then_some(data))
        }
        // Gone since the listing (a roll's snapshot rewritten, an index emptied): nothing to add.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TierError::io(format!("read {}", path.display()), e)),
    }
}

/// An upload id in leader epoch `epoch`: `e<epoch>-<uuid>`.
pub(crate) fn new_upload_id(epoch: i32) -> String {
    format!("e{epoch}-{}", uuid::Uuid::new_v4().simple())
}

/// Counts the uploads running (each holds an upload slot) and the most ever at once; exported
/// as `strata_tier_uploads_running` and `strata_tier_uploads_running_peak`.
#[derive(Debug, Default)]
pub(crate) struct Running {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One running upload; dropping it ends it.
pub(crate) struct RunningUpload<'a>(&'a Running);

impl Running {
    pub(crate) fn start(&self) -> RunningUpload<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        let peak = self.peak.fetch_max(now, Ordering::SeqCst).max(now);
        metrics::gauge!("strata_tier_uploads_running").set(now as f64);
        metrics::gauge!("strata_tier_uploads_running_peak").set(peak as f64);
        RunningUpload(self)
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for RunningUpload<'_> {
    fn drop(&mut self) {
        let now = self.0.now.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("strata_tier_uploads_running").set(now as f64);
    }
}

/// A manifest and the optional objects of one upload, ready to be written.
#[derive(Debug)]
pub(crate) struct PreparedUpload {
    pub(crate) manifest: SegmentManifest,
    pub(crate) txn_index: Option<Vec<u8>>,
    pub(crate) producer_snapshot: Option<Vec<u8>>,
}

impl Tier {
    pub(crate) async fn upload(
        &self,
        p: PartitionRef<'_>,
        seg: &SegmentInfo,
    ) -> Result<SegmentManifest, TierError> {
        let _permit = self
            .uploads
            .acquire()
            .await
            .expect("semaphore never closed");
        let _running = self.uploads_running.start();
        let prepared = self.prepare_upload(p, seg).await?;
        let manifest = prepared.manifest.clone();
        self.catalog.put(&CatalogEntry {
            state: SegmentState::CopyStarted,
            manifest: manifest.clone(),
        })?;
        self.catalog.flush().await?;
        if let Err(e) = self.put_objects(seg, prepared).await {
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
        metrics::counter!("strata_tier_uploaded_bytes_total").increment(manifest.size);
        tracing::info!(
            topic = p.topic,
            partition = p.partition,
            base = seg.base_offset,
            end = seg.end_offset,
            bytes = manifest.size,
            "segment uploaded"
        );
        Ok(manifest)
    }

    /// Step 1 of an upload: the manifest of local segment `seg` (with a fresh upload id in the
    /// uploader's leader epoch) and its optional objects, read into memory.
    pub(crate) async fn prepare_upload(
        &self,
        p: PartitionRef<'_>,
        seg: &SegmentInfo,
    ) -> Result<PreparedUpload, TierError> {
        let path = seg.log_path.clone();
        let facts = tokio::task::spawn_blocking(move || segment_facts(&path))
            .await
            .map_err(|e| TierError::Corrupt(format!("segment scan task: {e}")))??;
        let (txn_index, producer_snapshot) = {
            let (t, s) = (
                seg.txn_index_path.clone(),
                seg.producer_snapshot_path.clone(),
            );
            tokio::task::spawn_blocking(move || (read_aux(t.as_deref()), read_aux(s.as_deref())))
                .await
                .map_err(|e| TierError::Corrupt(format!("segment scan task: {e}")))?
        };
        let (txn_index, producer_snapshot) = (txn_index?, producer_snapshot?);
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
            // The uploader's leader epoch leads the id (and so every key of the upload): two
            // leaders of one partition never write the same key.
            upload_id: new_upload_id(p.leader_epoch),
            uploaded_at_ms: now_ms(),
            producer_batches: facts.producer_batches.clone(),
            txn_index: txn_index.as_deref().map(AuxObject::of),
            producer_snapshot: producer_snapshot.as_deref().map(AuxObject::of),
            compacted_at_ms: None,
            parquet: None,
        };
        Ok(PreparedUpload {
            manifest,
            txn_index,
            producer_snapshot,
        })
    }

    /// Step 3 of an upload: writes the objects of `prepared` (segment files from `seg`), the
    /// manifest last, at the upload rate limit.
    pub(crate) async fn put_objects(
        &self,
        seg: &SegmentInfo,
        prepared: PreparedUpload,
    ) -> Result<(), TierError> {
        let PreparedUpload {
            manifest,
            txn_index,
            producer_snapshot,
        } = prepared;
        let keys = manifest.keys();
        self.rate.acquire(manifest.size).await;
        self.store.upload_file(&keys.log, &seg.log_path).await?;
        self.store
            .upload_file(&keys.offset_index, &seg.offset_index_path)
            .await?;
        self.store
            .upload_file(&keys.time_index, &seg.time_index_path)
            .await?;
        if let Some(data) = txn_index {
            self.store.put(&keys.txn_index, Bytes::from(data)).await?;
        }
        if let Some(data) = producer_snapshot {
            self.store
                .put(&keys.producer_snapshot, Bytes::from(data))
                .await?;
        }
        self.store
            .put(&keys.manifest, Bytes::from(manifest.to_bytes()))
            .await?;
        Ok(())
    }
}
