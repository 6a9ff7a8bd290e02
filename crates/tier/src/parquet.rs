//! The Parquet archive beside each uploaded segment (topics with `strata.parquet.enable=true`).
//!
//! For every uploaded segment of such a topic the leader writes one Parquet file (schema and
//! filtering in `strata_archive`) at [`crate::keys::parquet_key`] and names it in the segment's
//! manifest (`parquet`: size and CRC-32C). One pass, after the partition's uploads
//! ([`Tier::sync_partition_with`]):
//!
//! 1. take the partition's uploaded (`CopyFinished`) segments whose manifest names no Parquet
//!    file, oldest first, that end at or below the last stable offset (every transaction in
//!    them decided, so aborted data is known);
//! 2. read the segment: the local `.log` file when the local log still has that segment (same
//!    base and end offset), else the uploaded `.log` object (a GET of the whole segment); the
//!    aborted transactions overlapping it come from the local `.txnindex` files, plus the
//!    remote ones when the segment is no longer local;
//! 3. convert (on a blocking thread), PUT the Parquet object, then rewrite the manifest with
//!    `parquet` set (the same key, overwritten), then the catalog entry;
//! 4. on any failure: count `strata_parquet_errors_total`, log, and stop the pass; the next
//!    sync retries from step 1. Segment uploads never wait for this.
//!
//! Local retention: while at most `max_lag_segments` uploaded segments lack their Parquet file,
//! the local log is told the remote end is the first such segment's base offset, so it keeps
//! that segment (and the later ones) for step 2. Past the bound, the local log gets the real
//! remote end and may delete them; their Parquet files are then written from the bucket. A
//! Parquet failure thus holds local disk back by at most `max_lag_segments` segments.
//!
//! Deletion: remote retention deletes a segment's Parquet object with its other objects (and
//! for a Parquet-enabled topic even when the manifest does not name it, which covers a crash
//! between steps 3's PUT and manifest rewrite). The key has no upload id, so the sweep of a
//! superseded upload never deletes it (it may be the live upload's file too).
//!
//! Crash points: before the PUT, nothing happened; between the PUT and the manifest rewrite,
//! the object exists unnamed and the retry overwrites it; after the manifest rewrite but before
//! the catalog update, the retry writes the same bytes again. A catalog rebuilt from the
//! manifests keeps `parquet`, as does a restore (the manifests stay in the bucket).

use bytes::Bytes;
use strata_archive::AbortedTxn;

use crate::catalog::{CatalogEntry, SegmentState};
use crate::error::TierError;
use crate::manifest::{AuxObject, SegmentManifest};
use crate::tier::{lock, PartitionRef, Tier};

/// The Parquet settings of a partition's topic, as the tiering loop passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParquetPolicy {
    /// `strata.parquet.enable` (and not a compacted topic).
    pub enable: bool,
    /// `strata.parquet.max.lag.segments`: how many uploaded segments may lack their Parquet
    /// file while local retention still waits for it.
    pub max_lag_segments: usize,
}

/// Default of `strata.parquet.max.lag.segments`.
pub const DEFAULT_MAX_LAG_SEGMENTS: usize = 10;

/// What one Parquet pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParquetReport {
    /// Files written.
    pub(crate) written: usize,
    /// Uploaded segments still without a Parquet file.
    pub(crate) lag_segments: usize,
    /// Base offset of the oldest of them.
    pub(crate) first_missing: Option<i64>,
}

impl Tier {
    /// Steps 1 to 4 of the module docs for one partition.
    pub(crate) async fn parquet_pass(&self, p: PartitionRef<'_>) -> ParquetReport {
        let mut report = ParquetReport::default();
        let missing: Vec<SegmentManifest> = match self.catalog.finished(p.topic_id, p.partition) {
            Ok(ms) => ms.into_iter().filter(|m| m.parquet.is_none()).collect(),
            Err(e) => {
                tracing::warn!(topic = p.topic, partition = p.partition, error = %e, "parquet pass: catalog unreadable");
                return report;
            }
        };
        let lso = lock(p.log).last_stable_offset();
        let mut left = missing.len();
        for m in &missing {
            if m.end_offset > lso {
                break; // undecided transactions: wait
            }
            match self.write_parquet(p, m).await {
                Ok(size) => {
                    report.written += 1;
                    left -= 1;
                    metrics::counter!("strata_parquet_files_total").increment(1);
                    metrics::counter!("strata_parquet_bytes_total").increment(size);
                }
                Err(e) => {
                    metrics::counter!("strata_parquet_errors_total").increment(1);
                    tracing::warn!(topic = p.topic, partition = p.partition, base = m.base_offset, error = %e, "parquet archive failed; will retry");
                    break;
                }
            }
        }
        report.lag_segments = left;
        report.first_missing = missing.get(missing.len() - left).map(|m| m.base_offset);
        let labels = [
            ("topic", p.topic.to_string()),
            ("partition", p.partition.to_string()),
        ];
        metrics::gauge!("strata_parquet_lag_segments", &labels).set(left as f64);
        report
    }

    /// Steps 2 and 3 for one segment; returns the Parquet object's size.
    async fn write_parquet(
        &self,
        p: PartitionRef<'_>,
        m: &SegmentManifest,
    ) -> Result<u64, TierError> {
        let local = {
            let log = lock(p.log);
            log.sealed_segments()
                .into_iter()
                .find(|s| s.base_offset == m.base_offset && s.end_offset == m.end_offset)
                .map(|s| {
                    let aborted = log.aborted_transactions(m.base_offset, m.end_offset);
                    (s.log_path, aborted)
                })
        };
        let local = match local {
            Some((path, aborted)) => match tokio::task::spawn_blocking(move || std::fs::read(path))
                .await
                .map_err(|e| TierError::Corrupt(format!("parquet read task: {e}")))?
            {
                Ok(data) if data.len() as u64 == m.size => Some((Bytes::from(data), aborted)),
                // Deleted or rewritten since the listing: read the uploaded copy instead.
                _ => None,
            },
            None => None,
        };
        let (data, aborted) = match local {
            Some(found) => found,
            None => {
                let data = self.store.get(&m.keys().log).await?;
                AuxObject {
                    size: m.size,
                    crc32c: m.crc32c,
                }
                .verify(&m.keys().log, &data)
                .map_err(TierError::Corrupt)?;
                let remote = self
                    .reader
                    .aborted_transactions(&m.topic_id, m.partition, m.base_offset, m.end_offset)
                    .await?;
                let mut aborted = remote.aborted;
                if !remote.complete {
                    aborted.extend(lock(p.log).aborted_transactions(m.base_offset, m.end_offset));
                }
                (data, aborted)
            }
        };
        let aborted: Vec<AbortedTxn> = aborted
            .iter()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
            })
            .collect();
        let partition = m.partition;
        let (file, _stats) = tokio::task::spawn_blocking(move || {
            strata_archive::segment_to_parquet(&data, partition, &aborted)
        })
        .await
        .map_err(|e| TierError::Corrupt(format!("parquet conversion task: {e}")))?
        .map_err(|e| TierError::Corrupt(format!("parquet conversion: {e}")))?;
        let aux = AuxObject::of(&file);
        self.store.put(&m.parquet_key(), Bytes::from(file)).await?;
        let mut named = m.clone();
        named.parquet = Some(aux);
        self.store
            .put(&named.keys().manifest, Bytes::from(named.to_bytes()))
            .await?;
        self.catalog.put(&CatalogEntry {
            state: SegmentState::CopyFinished,
            manifest: named,
        })?;
        self.catalog.flush().await?;
        tracing::info!(
            topic = p.topic,
            partition = p.partition,
            base = m.base_offset,
            bytes = aux.size,
            "parquet archive written"
        );
        Ok(aux.size)
    }
}
