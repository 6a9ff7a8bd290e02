//! The self-describing manifest written last for each uploaded segment. The bucket's manifests
//! are the source of truth: the catalog can always be rebuilt from them.
//!
//! Format: JSON, `format_version` 1 (see migrations/FORMATS.md). Readers refuse other versions.

use serde::{Deserialize, Serialize};

use crate::keys::SegmentKeys;

/// Current manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// Metadata of one uploaded segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentManifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub format_version: u32,
    /// Topic id.
    pub topic_id: String,
    /// Topic name when uploaded.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// First offset.
    pub base_offset: i64,
    /// One past the last offset.
    pub end_offset: i64,
    /// Smallest batch base timestamp.
    pub min_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Bytes in the `.log` object.
    pub size: u64,
    /// CRC-32C of the `.log` object.
    pub crc32c: u32,
    /// Leader epoch of the segment's last batch.
    pub leader_epoch: i32,
    /// Unique id of this upload (part of every key).
    pub upload_id: String,
    /// When the upload finished (ms since epoch).
    pub uploaded_at_ms: i64,
    /// Idempotent-producer state contributed by this segment: each producer's last (up to 5)
    /// batches in it, in offset order. Folding these over a partition's segments in order
    /// rebuilds the producer state a restore needs. Absent (empty) when no idempotent producer
    /// wrote to the segment; older manifests without the field read as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub producer_batches: Vec<ProducerBatch>,
}

/// One idempotent batch as recorded in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerBatch {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// First sequence number.
    pub base_sequence: i32,
    /// First offset.
    pub base_offset: i64,
    /// Last offset minus first offset.
    pub last_offset_delta: i32,
}

impl SegmentManifest {
    /// The headers of this segment's idempotent batches (the ones `producer_batches` keeps),
    /// as a log's producer state records them.
    pub fn producer_headers(&self) -> impl Iterator<Item = strata_records::BatchHeader> + '_ {
        self.producer_batches
            .iter()
            .map(|b| strata_records::BatchHeader {
                base_offset: b.base_offset,
                batch_length: 49,
                partition_leader_epoch: self.leader_epoch,
                magic: 2,
                crc: 0,
                attributes: 0,
                last_offset_delta: b.last_offset_delta,
                base_timestamp: -1,
                max_timestamp: -1,
                producer_id: b.producer_id,
                producer_epoch: b.producer_epoch,
                base_sequence: b.base_sequence,
                records_count: b.last_offset_delta + 1,
            })
    }

    /// The object keys of this upload.
    pub fn keys(&self) -> SegmentKeys {
        SegmentKeys::new(
            &self.topic_id,
            self.partition,
            self.base_offset,
            &self.upload_id,
        )
    }

    /// Serialises to JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifests always serialize")
    }

    /// Parses and version-checks a manifest.
    pub fn from_bytes(data: &[u8]) -> Result<SegmentManifest, String> {
        #[derive(Deserialize)]
        struct Probe {
            format_version: u32,
        }
        let probe: Probe = serde_json::from_slice(data).map_err(|e| format!("manifest: {e}"))?;
        if probe.format_version != MANIFEST_VERSION {
            return Err(format!(
                "manifest format version {} is not supported (this build reads {MANIFEST_VERSION})",
                probe.format_version
            ));
        }
        serde_json::from_slice(data).map_err(|e| format!("manifest: {e}"))
    }
}

#[cfg(test)]
pub(crate) fn sample(base: i64, end: i64) -> SegmentManifest {
    SegmentManifest {
        format_version: MANIFEST_VERSION,
        topic_id: "6f1d2c3b-0000-4000-8000-00000000a001".into(),
        topic: "events".into(),
        partition: 0,
        base_offset: base,
        end_offset: end,
        min_timestamp: 1_000 + base,
        max_timestamp: 1_000 + end - 1,
        size: 100,
        crc32c: 7,
        leader_epoch: 0,
        upload_id: format!("u{base}"),
        uploaded_at_ms: 5,
        producer_batches: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let m = sample(10, 20);
        assert_eq!(SegmentManifest::from_bytes(&m.to_bytes()).unwrap(), m);
        let mut v2 = m.clone();
        v2.format_version = 2;
        let err = SegmentManifest::from_bytes(&v2.to_bytes()).unwrap_err();
        assert!(err.contains("version 2"), "{err}");
    }
}
