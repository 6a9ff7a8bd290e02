//! Golden files of segment manifest version 2 (`migrations/golden/v2/tier/`): a manifest naming
//! the upload's `.txnindex` and `.snapshot` objects, those two objects as they lie in the
//! bucket (copies of the local files of `golden/v2/partition-txn/`: segment 0 of that
//! partition, rolled at 4), and the catalog entry holding the manifest.
//!
//! The read tests decode the golden bytes with exact values and check the objects against the
//! manifest's sizes and CRC-32Cs; the writer checks re-encode them byte for byte. Version 1
//! manifests (`golden/v1/tier/`) keep reading, as having neither object. The golden files must
//! never be regenerated to make a test pass (see `migrations/UPGRADING.md`).
//!
//! Regenerate (only when creating the golden set): `cargo test -p strata-tier --test golden_v2
//! -- --ignored regenerate`

use std::path::PathBuf;

use strata_log::{parse_txn_index, AbortedTxnEntry, ProducerSeed};
use strata_tier::catalog::{CatalogEntry, SegmentState};
use strata_tier::manifest::{AuxObject, ProducerBatch, SegmentManifest, MANIFEST_VERSION};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a002";
const UPLOAD_ID: &str = "e3-7c9e6679742540de944be07fc1f90ae7";
const STEM: &str = "00000000000000000000-e3-7c9e6679742540de944be07fc1f90ae7";

fn dir(version: &str, sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations/golden")
        .join(version)
        .join(sub)
}

fn golden(name: &str) -> Vec<u8> {
    let p = dir("v2", "tier").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The manifest the generator writes, given the two objects.
fn manifest(txn_index: &[u8], snapshot: &[u8]) -> SegmentManifest {
    SegmentManifest {
        format_version: MANIFEST_VERSION,
        topic_id: TOPIC_ID.into(),
        topic: "payments".into(),
        partition: 0,
        base_offset: 0,
        end_offset: 4,
        min_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_001_000,
        size: 300,
        crc32c: 1_234_567_890,
        leader_epoch: 3,
        upload_id: UPLOAD_ID.into(),
        uploaded_at_ms: 1_700_000_002_000,
        producer_batches: vec![
            ProducerBatch {
                producer_id: 4242,
                producer_epoch: 0,
                base_sequence: 0,
                base_offset: 0,
                last_offset_delta: 1,
            },
            ProducerBatch {
                producer_id: 4343,
                producer_epoch: 0,
                base_sequence: 0,
                base_offset: 2,
                last_offset_delta: 0,
            },
        ],
        txn_index: Some(AuxObject::of(txn_index)),
        producer_snapshot: Some(AuxObject::of(snapshot)),
        compacted_at_ms: None,
        parquet: None,
    }
}

#[test]
#[ignore = "writes the golden files; run only when creating a new golden set"]
fn regenerate() {
    let out = dir("v2", "tier");
    std::fs::create_dir_all(&out).unwrap();
    let src = dir("v2", "partition-txn");
    let txn_index = std::fs::read(src.join("00000000000000000000.txnindex")).unwrap();
    let snapshot = std::fs::read(src.join("00000000000000000004.snapshot")).unwrap();
    std::fs::write(out.join(format!("{STEM}.txnindex")), &txn_index).unwrap();
    std::fs::write(out.join(format!("{STEM}.snapshot")), &snapshot).unwrap();
    let m = manifest(&txn_index, &snapshot);
    let mut text = m.to_bytes();
    text.push(b'\n');
    std::fs::write(out.join("manifest.json"), text).unwrap();
    let entry = CatalogEntry {
        state: SegmentState::CopyFinished,
        manifest: m,
    };
    let mut text = serde_json::to_vec(&entry).unwrap();
    text.push(b'\n');
    std::fs::write(out.join("catalog_entry.json"), text).unwrap();
}

#[test]
fn v2_manifest_parses_with_exact_fields_keys_and_objects() {
    let m = SegmentManifest::from_bytes(&golden("manifest.json")).unwrap();
    assert_eq!(m.format_version, 2);
    assert_eq!((m.partition, m.base_offset, m.end_offset), (0, 0, 4));
    assert_eq!(m.producer_batches.len(), 2);
    let t = m.txn_index.expect("names its transaction index");
    let s = m.producer_snapshot.expect("names its producer snapshot");
    assert_eq!((t.size, t.crc32c), (34, 423_905_844));
    assert_eq!((s.size, s.crc32c), (378, 4_217_758_524));
    let keys = m.keys();
    assert_eq!(
        keys.txn_index,
        format!("v1/{TOPIC_ID}/0/{STEM}.txnindex"),
        "the key layout stays v1"
    );
    assert_eq!(
        keys.producer_snapshot,
        format!("v1/{TOPIC_ID}/0/{STEM}.snapshot")
    );
    assert_eq!(
        m.object_keys(),
        vec![
            keys.log.clone(),
            keys.offset_index.clone(),
            keys.time_index.clone(),
            keys.txn_index.clone(),
            keys.producer_snapshot.clone(),
            keys.manifest.clone()
        ]
    );
    // The objects match the manifest and decode.
    let index = golden(&format!("{STEM}.txnindex"));
    let snapshot = golden(&format!("{STEM}.snapshot"));
    t.verify(&keys.txn_index, &index).unwrap();
    s.verify(&keys.producer_snapshot, &snapshot).unwrap();
    assert_eq!(
        parse_txn_index(&index).unwrap(),
        vec![AbortedTxnEntry {
            producer_id: 4242,
            first_offset: 0,
            last_offset: 3,
            last_stable_offset: 2
        }]
    );
    // The snapshot seeds a restored partition at the segment's end: 4343's transaction open
    // from 2, which the restore aborts (marker at 4).
    let tmp = tempfile::tempdir().unwrap();
    let pdir = tmp.path().join("payments-0");
    let config = strata_log::LogConfig {
        remote_storage_enable: true,
        ..strata_log::LogConfig::default()
    };
    let seed = ProducerSeed {
        snapshot: Some((m.end_offset, &snapshot)),
        history: &[],
    };
    let restored =
        strata_log::restore_partition(&pdir, TOPIC_ID, config.clone(), 0, 4, seed, 5).unwrap();
    assert!(restored.from_snapshot);
    assert_eq!(restored.aborted, vec![(4343, 2)]);
    let log = strata_log::PartitionLog::open(&pdir, TOPIC_ID, config, 5).unwrap();
    assert_eq!(log.last_stable_offset(), 5);
    assert_eq!(log.aborted_transactions(0, 5).len(), 1);
    // Writing it again yields the golden bytes.
    assert_eq!(m.to_bytes(), golden("manifest.json").trim_ascii_end());
}

#[test]
fn v2_catalog_entry_is_the_golden_json() {
    let entry: CatalogEntry = serde_json::from_slice(&golden("catalog_entry.json")).unwrap();
    assert_eq!(entry.state, SegmentState::CopyFinished);
    assert_eq!(
        entry.manifest,
        SegmentManifest::from_bytes(&golden("manifest.json")).unwrap()
    );
    assert_eq!(
        serde_json::to_vec(&entry).unwrap(),
        golden("catalog_entry.json").trim_ascii_end()
    );
}

#[test]
fn v1_manifests_read_as_without_objects() {
    for name in ["manifest.json", "manifest_with_producers.json"] {
        let p = dir("v1", "tier").join(name);
        let m = SegmentManifest::from_bytes(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(m.format_version, 1);
        assert_eq!((m.txn_index, m.producer_snapshot), (None, None));
        // Only the four objects of a version 1 upload are read or deleted.
        assert_eq!(m.object_keys().len(), 4);
        // Re-encoded, it stays a version 1 manifest without the new fields.
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(text.contains("\"format_version\": 1"), "{text}");
        assert!(!text.contains("txn_index") && !text.contains("producer_snapshot"));
    }
}

#[test]
fn a_newer_version_is_refused() {
    let text = String::from_utf8(golden("manifest.json")).unwrap();
    let v3 = text.replace("\"format_version\": 2", "\"format_version\": 3");
    let err = SegmentManifest::from_bytes(v3.as_bytes()).unwrap_err();
    assert!(err.contains("version 3"), "{err}");
}
