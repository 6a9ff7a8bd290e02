//! Refreshing one partition's catalog entries from the bucket: how a broker that did not
//! upload a partition's segments — a follower, or a new leader — learns what is remote.
//!
//! Invariants:
//! - the bucket's manifests are the shared record of remote segments: every node of a cluster
//!   uploads to the same bucket, only the partition's leader uploads, and a manifest exists
//!   only for a complete segment (it is written last);
//! - a refresh adds `CopyFinished` entries for the manifests it reads and drops `CopyFinished`
//!   entries whose manifest is gone (the leader's retention deleted the segment). It never
//!   deletes an object, and never touches this node's own uploads or deletions in flight
//!   (`CopyStarted` / `DeleteStarted` entries);
//! - of several manifests for one base offset (an old leader and a new one both uploaded the
//!   segment), the one uploaded in the highest leader epoch wins, then the newest: both hold
//!   the same committed records, since only segments below the high watermark are uploaded;
//!   a manifest wholly covered by a better one (a remote compaction's replacement) is left out
//!   (`supersede.rs`);
//! - a manifest already in the catalog under the same upload id is not fetched again, so a
//!   refresh costs one LIST plus one GET per new segment.

use std::collections::HashMap;

use crate::catalog::{CatalogEntry, SegmentState};
use crate::error::TierError;
use crate::keys::{self, MANIFEST_EXT};
use crate::manifest::SegmentManifest;
use crate::store::StoreErrorKind;
use crate::supersede::split_live;
use crate::tier::Tier;

/// The leader epoch an upload id names (`e<epoch>-<uuid>`), -1 for ids without one (uploads
/// made before keys carried the epoch).
pub fn upload_epoch(upload_id: &str) -> i32 {
    upload_id
        .strip_prefix('e')
        .and_then(|rest| rest.split_once('-'))
        .and_then(|(epoch, _)| epoch.parse().ok())
        .unwrap_or(-1)
}

impl Tier {
    /// Brings the catalog entries of one partition in line with the manifests in the bucket
    /// (see the module docs). Returns the end offset of the highest remote segment, if any.
    pub async fn refresh_partition(
        &self,
        topic_id: &str,
        partition: i32,
    ) -> Result<Option<i64>, TierError> {
        self.require_catalog()?;
        let objects = self
            .store
            .list_objects(&keys::partition_prefix(topic_id, partition))
            .await?;
        let known: HashMap<i64, CatalogEntry> = self
            .catalog
            .entries(topic_id, partition)?
            .into_iter()
            .map(|e| (e.manifest.base_offset, e))
            .collect();
        let mut found: Vec<SegmentManifest> = Vec::new();
        for o in objects.iter().filter(|o| o.key.ends_with(MANIFEST_EXT)) {
            let Some((_, _, base, upload_id)) = keys::parse(&o.key) else {
                continue;
            };
            let manifest = match known.get(&base) {
                Some(e) if e.manifest.upload_id == upload_id => e.manifest.clone(),
                _ => match self.store.get(&o.key).await {
                    Ok(data) => match SegmentManifest::from_bytes(&data) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::error!(key = %o.key, error = %e, "unreadable manifest: left out of the catalog");
                            metrics::counter!("strata_tier_unreadable_manifests_total")
                                .increment(1);
                            continue;
                        }
                    },
                    // Deleted since the listing (the leader's retention).
                    Err(e) if e.kind == StoreErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                },
            };
            if manifest.topic_id != topic_id || manifest.partition != partition {
                continue;
            }
            found.push(manifest);
        }
        let best: HashMap<i64, SegmentManifest> = split_live(found)
            .0
            .into_iter()
            .map(|m| (m.base_offset, m))
            .collect();
        let mut changed = false;
        for (base, m) in &best {
            match known.get(base) {
                Some(e) if e.state != SegmentState::CopyFinished => {}
                Some(e) if e.manifest.upload_id == m.upload_id => {}
                _ => {
                    self.catalog.put(&CatalogEntry {
                        state: SegmentState::CopyFinished,
                        manifest: m.clone(),
                    })?;
                    changed = true;
                }
            }
        }
        for (base, e) in &known {
            if e.state == SegmentState::CopyFinished && !best.contains_key(base) {
                self.catalog.remove(topic_id, partition, *base)?;
                changed = true;
            }
        }
        if changed {
            self.catalog.flush().await?;
        }
        Ok(best.values().map(|m| m.end_offset).max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_name_their_epoch() {
        assert_eq!(upload_epoch("e7-0123abcd"), 7);
        assert_eq!(upload_epoch("e0-x"), 0);
        assert_eq!(upload_epoch("0123abcd"), -1);
        assert_eq!(upload_epoch("eX-1"), -1);
    }
}
