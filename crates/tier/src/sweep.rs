//! The sweep of superseded and abandoned uploads of one partition, run by its leader: what a
//! remote compaction replaced (after the grace period that lets cold reads in flight finish),
//! what a deposed leader re-uploaded in a lower epoch, and uploads that never wrote their
//! manifest (a crash, or a deposed leader's upload cut short).
//!
//! Invariants:
//! - only uploads that no catalog entry and no `replacements` record of this node names are
//!   considered, and only those whose newest object is older than the grace period; a
//!   superseded upload goes only once the grace period has passed since the upload that
//!   superseded it was written (its newest object: the manifest, written just before the
//!   catalog switch), so cold reads that started before the switch finish;
//! - an upload in a leader epoch above this leader's is never touched (a newer leader's);
//! - an upload with a manifest is deleted only if a live catalog segment supersedes it
//!   (`supersede.rs`): a complete segment this node's catalog does not know yet is left for
//!   the refresh to pick up;
//! - a manifest is deleted before the rest of its upload, so a crash mid-delete leaves an
//!   upload without manifest, which the next sweep (or a rebuild) deletes.
//!
//! Cost: one LIST of the partition's prefix, plus one GET per unknown manifest.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::error::TierError;
use crate::keys::{self, MANIFEST_EXT};
use crate::manifest::SegmentManifest;
use crate::refresh::upload_epoch;
use crate::store::StoreErrorKind;
use crate::supersede::superseded_by;
use crate::tier::{now_ms, PartitionRef, Tier};

/// The objects of one upload found in a listing.
#[derive(Debug, Default)]
struct Upload {
    keys: Vec<String>,
    manifest: Option<String>,
    newest_ms: i64,
}

impl Tier {
    /// Deletes the superseded and abandoned uploads of partition `p` older than `grace` (see
    /// the module docs). Returns how many uploads were deleted.
    pub async fn sweep_partition(
        &self,
        p: PartitionRef<'_>,
        grace: Duration,
    ) -> Result<usize, TierError> {
        if !self.is_reconciled() {
            return Err(TierError::Unavailable(
                "not yet reconciled with the bucket".into(),
            ));
        }
        let objects = self
            .store
            .list_objects(&keys::partition_prefix(p.topic_id, p.partition))
            .await?;
        let mut known: HashSet<String> = self
            .catalog
            .entries(p.topic_id, p.partition)?
            .into_iter()
            .map(|e| e.manifest.upload_id)
            .collect();
        for (_, manifests) in self.catalog.replacements()? {
            known.extend(manifests.into_iter().map(|m| m.upload_id));
        }
        let mut uploads: HashMap<String, Upload> = HashMap::new();
        // When each upload's newest object was written: for a live one, about when it
        // superseded others (its manifest is written last, just before the catalog switch).
        let mut written: HashMap<String, i64> = HashMap::new();
        for o in objects {
            let Some((topic_id, partition, _, upload_id)) = keys::parse(&o.key) else {
                continue;
            };
            if topic_id != p.topic_id || partition != p.partition {
                continue;
            }
            let at = written.entry(upload_id.clone()).or_insert(i64::MIN);
            *at = (*at).max(o.last_modified_ms);
            if known.contains(&upload_id) {
                continue;
            }
            let u = uploads.entry(upload_id).or_default();
            u.newest_ms = u.newest_ms.max(o.last_modified_ms);
            if o.key.ends_with(MANIFEST_EXT) {
                u.manifest = Some(o.key.clone());
            }
            u.keys.push(o.key);
        }
        let live = self.catalog.finished(p.topic_id, p.partition)?;
        let now = now_ms();
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let mut deleted = 0;
        for (upload_id, u) in uploads {
            if upload_epoch(&upload_id) > p.leader_epoch
                || now.saturating_sub(u.newest_ms) < grace_ms
            {
                continue;
            }
            if let Some(key) = &u.manifest {
                let m = match self.store.get(key).await {
                    Ok(data) => match SegmentManifest::from_bytes(&data) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(key = %key, error = %e, "sweep: unreadable manifest kept");
                            continue;
                        }
                    },
                    Err(e) if e.kind == StoreErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                let Some(by) = superseded_by(&m, &live) else {
                    continue; // complete and not superseded: the refresh adds it
                };
                // The grace period runs from the supersession, not from the old upload.
                let since = written
                    .get(&by.upload_id)
                    .copied()
                    .unwrap_or(by.uploaded_at_ms)
                    .max(by.uploaded_at_ms);
                if now.saturating_sub(since) < grace_ms {
                    continue;
                }
                tracing::info!(topic = p.topic, partition = p.partition, upload = %upload_id,
                    base = m.base_offset, end = m.end_offset, by = %by.upload_id,
                    "deleting a superseded upload");
                self.store.delete(key).await?;
            } else {
                tracing::info!(topic = p.topic, partition = p.partition, upload = %upload_id,
                    "deleting an upload that never wrote its manifest");
            }
            for k in u.keys.iter().filter(|k| Some(*k) != u.manifest.as_ref()) {
                self.store.delete(k).await?;
            }
            deleted += 1;
        }
        if deleted > 0 {
            metrics::counter!("strata_tier_swept_uploads_total").increment(deleted as u64);
        }
        Ok(deleted)
    }
}
