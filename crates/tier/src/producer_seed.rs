//! The producer state a partition rebuilt from the bucket starts with (`strata tier restore`, a
//! follower restarting its copy at its leader's first local offset).
//!
//! The best seed is the producer snapshot uploaded with the remote segment ending exactly at
//! the restart offset (manifest version 2): it holds open transactions, epochs and sequences.
//! Without one (version 1 manifests, a snapshot missing or failing its CRC, segment bounds of
//! another leader) the manifests' idempotent batches rebuild duplicate detection only, as
//! before version 2. A snapshot of an earlier offset is never used (see
//! `strata_log::ProducerSeed`).

use strata_log::ProducerSeed;
use strata_records::BatchHeader;

use crate::error::TierError;
use crate::manifest::SegmentManifest;
use crate::store::{RemoteStore, StoreErrorKind};

/// A seed read from the bucket; [`RemoteProducerSeed::as_seed`] lends it to the log.
#[derive(Debug, Clone, Default)]
pub struct RemoteProducerSeed {
    /// The snapshot document taken at the seeded offset, with that offset.
    pub snapshot: Option<(i64, Vec<u8>)>,
    /// The manifests' idempotent batch headers below the seeded offset, in offset order.
    pub history: Vec<BatchHeader>,
}

impl RemoteProducerSeed {
    /// The seed as `strata_log` takes it.
    pub fn as_seed(&self) -> ProducerSeed<'_> {
        ProducerSeed {
            snapshot: self.snapshot.as_ref().map(|(o, d)| (*o, d.as_slice())),
            history: &self.history,
        }
    }
}

/// The seed at offset `at` of a partition whose remote segments are `manifests` (one
/// partition's, sorted by base offset). Fails only on a store error other than a missing
/// object, so the caller retries; a missing or corrupt snapshot falls back to the history.
pub async fn producer_seed(
    store: &RemoteStore,
    manifests: &[SegmentManifest],
    at: i64,
) -> Result<RemoteProducerSeed, TierError> {
    let history = manifests
        .iter()
        .flat_map(|m| m.producer_headers())
        .filter(|h| h.base_offset < at)
        .collect();
    let mut seed = RemoteProducerSeed {
        snapshot: None,
        history,
    };
    let Some((m, object)) = manifests
        .iter()
        .filter(|m| m.end_offset == at)
        .filter_map(|m| m.producer_snapshot.map(|o| (m, o)))
        .max_by_key(|(m, _)| m.uploaded_at_ms)
    else {
        return Ok(seed);
    };
    let key = m.keys().producer_snapshot;
    let data = match store.get(&key).await {
        Ok(data) => data,
        Err(e) if e.kind == StoreErrorKind::NotFound => {
            tracing::warn!(key, "producer snapshot named by its manifest is missing; seeding from the manifests' batches");
            return Ok(seed);
        }
        Err(e) => return Err(e.into()),
    };
    if let Err(why) = object.verify(&key, &data) {
        tracing::warn!(key, error = %why, "producer snapshot is corrupt; seeding from the manifests' batches");
        return Ok(seed);
    }
    seed.snapshot = Some((at, data.to_vec()));
    Ok(seed)
}
