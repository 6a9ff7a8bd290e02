//! The self-describing manifest written last for each uploaded segment. The bucket's manifests
//! are the source of truth: the catalog can always be rebuilt from them.
//!
//! Format: JSON, `format_version` 2 (see migrations/FORMATS.md). Version 2 adds the optional
//! `txn_index` and `producer_snapshot` objects (the segment's aborted-transaction index and the
//! producer state at its end); version 1 manifests are still read and have neither (an empty
//! aborted-transaction index, no snapshot). Readers refuse other versions.
//!
//! The optional `compacted_at_ms` (tiered compacted topics, see `remote_compaction.rs`) is an
//! additive version-2 field: it marks a segment written by a remote compaction, and dates it.
//! Builds that predate it ignore it and read such a segment as an ordinary one, which it is
//! (same record format, original offsets).
//!
//! The optional `parquet` (topics with `strata.parquet.enable=true`, see `parquet.rs`) is an
//! additive version-2 field too: the size and CRC-32C of the segment's Parquet archive, at the
//! key [`crate::keys::parquet_key`] derives from topic name, partition and base offset. It is
//! added by rewriting the manifest once the Parquet object is written (possibly after the
//! upload). Builds that predate it ignore it (and leave the Parquet object when they delete
//! the segment).

use serde::{Deserialize, Serialize};

use crate::keys::SegmentKeys;

/// Current manifest format (written).
pub const MANIFEST_VERSION: u32 = 2;
/// Oldest manifest format still read.
pub const MIN_MANIFEST_VERSION: u32 = 1;

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
    /// The segment's aborted-transaction index (`.txnindex` object, Kafka's 34-byte entries),
    /// uploaded only when it has entries. Absent: no aborted transaction ends in this segment
    /// (always so for version 1 manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_index: Option<AuxObject>,
    /// The producer state at the segment's end (`.snapshot` object: the log's
    /// `<end offset>.snapshot` document, JSON version 2), when the log had taken one. It seeds
    /// a restore or a follower's restart at `end_offset` with open transactions and epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_snapshot: Option<AuxObject>,
    /// Set on a segment that a remote compaction wrote or checked (ms since epoch): its records
    /// are the latest per key as of then, and its tombstones date from then (they go once
    /// `delete.retention.ms` has passed). Absent: the segment was never compacted (dirty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compacted_at_ms: Option<i64>,
    /// The segment's Parquet archive (`parquet/topic=<topic>/partition=<p>/<base>.parquet`,
    /// [`SegmentManifest::parquet_key`]), once written. Absent: none written (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<AuxObject>,
}

/// An optional object of an upload (version 2): its size and CRC-32C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuxObject {
    /// Bytes in the object.
    pub size: u64,
    /// CRC-32C of the object.
    pub crc32c: u32,
}

impl AuxObject {
    /// The size and CRC-32C of `data`.
    pub fn of(data: &[u8]) -> AuxObject {
        AuxObject {
            size: data.len() as u64,
            crc32c: crc32c::crc32c(data),
        }
    }

    /// Checks downloaded `data` against this description.
    pub fn verify(&self, key: &str, data: &[u8]) -> Result<(), String> {
        let got = AuxObject::of(data);
        if got != *self {
            return Err(format!(
                "{key}: {} bytes with CRC-32C {} where the manifest says {} bytes with {}",
                got.size, got.crc32c, self.size, self.crc32c
            ));
        }
        Ok(())
    }
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

    /// The key of this segment's Parquet archive (whether or not it was written).
    pub fn parquet_key(&self) -> String {
        crate::keys::parquet_key(&self.topic, self.partition, self.base_offset)
    }

    /// The keys of the objects this upload writes (the optional ones only when named), manifest
    /// last.
    pub fn object_keys(&self) -> Vec<String> {
        let k = self.keys();
        let mut out = vec![k.log, k.offset_index, k.time_index];
        if self.txn_index.is_some() {
            out.push(k.txn_index);
        }
        if self.producer_snapshot.is_some() {
            out.push(k.producer_snapshot);
        }
        out.push(k.manifest);
        out
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
        if !(MIN_MANIFEST_VERSION..=MANIFEST_VERSION).contains(&probe.format_version) {
            return Err(format!(
                "manifest format version {} is not supported (this build reads \
                 {MIN_MANIFEST_VERSION} to {MANIFEST_VERSION})",
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
        txn_index: None,
        producer_snapshot: None,
        compacted_at_ms: None,
        parquet: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let m = sample(10, 20);
        assert_eq!(SegmentManifest::from_bytes(&m.to_bytes()).unwrap(), m);
        let mut v1 = m.clone();
        v1.format_version = 1;
        assert_eq!(SegmentManifest::from_bytes(&v1.to_bytes()).unwrap(), v1);
        for bad in [0, 3] {
            let mut other = m.clone();
            other.format_version = bad;
            let err = SegmentManifest::from_bytes(&other.to_bytes()).unwrap_err();
            assert!(err.contains(&format!("version {bad}")), "{err}");
        }
    }

    #[test]
    fn v2_objects_round_trip_and_verify() {
        let mut m = sample(10, 20);
        m.txn_index = Some(AuxObject::of(&[0u8; 34]));
        m.producer_snapshot = Some(AuxObject::of(b"{}"));
        let back = SegmentManifest::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        let t = back.txn_index.unwrap();
        assert_eq!(t.size, 34);
        assert!(t.verify("k", &[0u8; 34]).is_ok());
        assert!(t.verify("k", &[1u8; 34]).is_err());
        assert!(t.verify("k", &[0u8; 33]).is_err());
        // Absent objects are not written at all.
        let plain = String::from_utf8(sample(10, 20).to_bytes()).unwrap();
        assert!(!plain.contains("txn_index") && !plain.contains("producer_snapshot"));
        assert!(!plain.contains("parquet"));
    }

    #[test]
    fn parquet_field_is_additive() {
        let mut m = sample(10, 20);
        m.parquet = Some(AuxObject::of(b"PAR1"));
        let back = SegmentManifest::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            m.parquet_key(),
            "parquet/topic=events/partition=0/00000000000000000010.parquet"
        );
        // The Parquet object is not one of the upload's objects (its key is not per upload).
        assert!(!m.object_keys().contains(&m.parquet_key()));
    }

    #[test]
    fn golden_v2_with_parquet_parses() {
        let data =
            include_bytes!("../../../migrations/golden/v2/tier-parquet/manifest_parquet.json");
        let m = SegmentManifest::from_bytes(data).unwrap();
        assert_eq!(
            m.parquet,
            Some(AuxObject {
                size: 2048,
                crc32c: 305419896
            })
        );
        assert_eq!(
            m.parquet_key(),
            "parquet/topic=events/partition=0/00000000000000000100.parquet"
        );
    }
}
