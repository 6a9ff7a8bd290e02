//! TierStatus: per partition with segments in the object store, the remote range (from the
//! manifests, as `strata tier status` reads them) beside the local one (ListOffsets at the
//! partition's leader: earliest, earliest local, latest).
//!
//! Invariants: the remote side lists every manifest under `v1/` (every topic id), grouped by
//! the topic name and partition the manifest records, so segments of a deleted topic whose
//! manifests remain are shown too; their local offsets are -1. The remote start and end are
//! the lowest base and highest end offset of the partition's segments (`[start, end)`).

use std::collections::BTreeSet;

use strata_tier::keys::LAYOUT_VERSION;
use strata_tier::store::RemoteStore;

use crate::cluster_client::{ClusterClient, TopicPartition, EARLIEST_LOCAL};
use crate::proto;
use crate::remote::ManifestCache;

/// TierStatus for `topic` (empty: every topic).
pub(crate) async fn tier_status(
    client: &mut ClusterClient,
    store: &RemoteStore,
    store_url: &str,
    topic: &str,
) -> anyhow::Result<proto::TierStatusResponse> {
    let prefix = format!("{LAYOUT_VERSION}/");
    let mut cache = ManifestCache::new();
    cache.refresh(store, &prefix).await?;
    let summaries: Vec<_> = cache
        .summaries(&prefix)
        .into_iter()
        .filter(|((t, _), _)| topic.is_empty() || t == topic)
        .collect();
    let partitions: BTreeSet<TopicPartition> = summaries.iter().map(|(tp, _)| tp.clone()).collect();
    let [starts, local_starts, ends] = client
        .list_offsets(&partitions, [-2, EARLIEST_LOCAL, -1])
        .await?;
    let partitions = summaries
        .into_iter()
        .map(|(tp, s)| proto::PartitionTier {
            remote_start_offset: s.ranges.first().map_or(-1, |r| r.0),
            remote_end_offset: s.ranges.last().map_or(-1, |r| r.1),
            remote_segments: s.segments,
            remote_size_bytes: s.size,
            log_start_offset: starts.get(&tp).copied().unwrap_or(-1),
            local_log_start_offset: local_starts.get(&tp).copied().unwrap_or(-1),
            log_end_offset: ends.get(&tp).copied().unwrap_or(-1),
            topic: tp.0,
            partition: tp.1,
        })
        .collect();
    Ok(proto::TierStatusResponse {
        object_store: store_url.to_string(),
        partitions,
    })
}
