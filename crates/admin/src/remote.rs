//! What the object store holds of each partition, read from the segment manifests.
//!
//! Invariants:
//! - The manifests in the bucket are the only truth (as for `strata tier status` and catalog
//!   rebuild): a segment whose manifest is not listed is not counted, whatever other objects
//!   exist. A manifest that cannot be read or parsed is skipped and logged, never fatal: the
//!   uploader may be replacing it.
//! - A manifest's offsets are `[base_offset, end_offset)`. Segments whose ranges touch or
//!   overlap are merged into one [`RemoteSummary::ranges`] entry, so a gap (offsets the
//!   bucket does not hold) shows as two ranges.
//! - [`ManifestCache`] fetches each manifest key once: a key names one upload (it carries the
//!   upload id), and a re-upload gets a new key. Keys no longer listed are forgotten on the
//!   next [`ManifestCache::refresh`], so deleted segments leave the summary.

use std::collections::{BTreeMap, BTreeSet};

use strata_tier::keys::MANIFEST_EXT;
use strata_tier::manifest::SegmentManifest;
use strata_tier::store::RemoteStore;

/// One uploaded segment, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteSegment {
    topic: String,
    partition: i32,
    base_offset: i64,
    end_offset: i64,
    size: u64,
}

/// The object store's part of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSummary {
    /// Merged `[start, end)` ranges, ascending.
    pub ranges: Vec<(i64, i64)>,
    /// Bytes of the segments' log objects.
    pub size: u64,
    /// Number of segments.
    pub segments: u32,
}

/// Manifests read so far, by object key (see the module docs).
#[derive(Debug, Default)]
pub struct ManifestCache {
    segments: BTreeMap<String, RemoteSegment>,
}

impl ManifestCache {
    /// An empty cache.
    pub fn new() -> ManifestCache {
        ManifestCache::default()
    }

    /// Lists the manifests under `prefix`, fetches the ones not seen before and forgets the
    /// ones no longer listed. A listing error is returned; a bad manifest is skipped.
    pub async fn refresh(&mut self, store: &RemoteStore, prefix: &str) -> anyhow::Result<()> {
        let listed: BTreeSet<String> = store
            .list(prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.ends_with(MANIFEST_EXT))
            .collect();
        self.segments
            .retain(|key, _| !key.starts_with(prefix) || listed.contains(key));
        for key in listed {
            if self.segments.contains_key(&key) {
                continue;
            }
            let manifest = match store.get(&key).await {
                Ok(data) => SegmentManifest::from_bytes(&data).map_err(anyhow::Error::msg),
                Err(e) => Err(e.into()),
            };
            match manifest {
                Ok(m) => {
                    let segment = RemoteSegment {
                        topic: m.topic,
                        partition: m.partition,
                        base_offset: m.base_offset,
                        end_offset: m.end_offset,
                        size: m.size,
                    };
                    self.segments.insert(key, segment);
                }
                Err(e) => tracing::debug!(key, "skipping an unreadable manifest: {e:#}"),
            }
        }
        Ok(())
    }

    /// The summary of every partition with segments under `prefix`, by (topic, partition).
    pub fn summaries(&self, prefix: &str) -> BTreeMap<(String, i32), RemoteSummary> {
        let mut by_partition: BTreeMap<(String, i32), Vec<&RemoteSegment>> = BTreeMap::new();
        let under = self
            .segments
            .iter()
            .filter(|(key, _)| key.starts_with(prefix));
        for (_, s) in under {
            by_partition
                .entry((s.topic.clone(), s.partition))
                .or_default()
                .push(s);
        }
        by_partition
            .into_iter()
            .map(|(tp, segments)| (tp, summarize(segments)))
            .collect()
    }
}

/// Merges the segments of one partition into ranges, size and count.
fn summarize(mut segments: Vec<&RemoteSegment>) -> RemoteSummary {
    segments.sort_by_key(|s| (s.base_offset, s.end_offset));
    let mut out = RemoteSummary::default();
    for s in segments {
        out.size += s.size;
        out.segments += 1;
        match out.ranges.last_mut() {
            Some((_, end)) if s.base_offset <= *end => *end = (*end).max(s.end_offset),
            _ => out.ranges.push((s.base_offset, s.end_offset)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, end: i64, size: u64) -> RemoteSegment {
        RemoteSegment {
            topic: "t".into(),
            partition: 0,
            base_offset: base,
            end_offset: end,
            size,
        }
    }

    #[test]
    fn contiguous_segments_merge_and_gaps_split() {
        let a = seg(0, 10, 100);
        let b = seg(10, 25, 150);
        let c = seg(40, 50, 10);
        let s = summarize(vec![&c, &a, &b]);
        assert_eq!(
            s,
            RemoteSummary {
                ranges: vec![(0, 25), (40, 50)],
                size: 260,
                segments: 3
            }
        );
        assert_eq!(summarize(vec![]), RemoteSummary::default());
    }
}
