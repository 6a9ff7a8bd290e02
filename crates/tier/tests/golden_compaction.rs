//! Golden files of the remote-compaction formats (`migrations/golden/v2/tier-compaction/`):
//! a version 2 manifest of a compacted segment (the additive `compacted_at_ms` field) and the
//! catalog's `replacements` record (catalog format 2) naming a run's new segments.
//!
//! The read tests decode the golden bytes with exact values; the writer checks re-encode them
//! byte for byte. A version 2 manifest without the field reads as never compacted. The golden
//! files must never be regenerated to make a test pass (see `migrations/UPGRADING.md`).
//!
//! Regenerate (only when creating the golden set): `cargo test -p strata-tier --test
//! golden_compaction -- --ignored regenerate`

use std::path::PathBuf;

use strata_tier::catalog::{decode_replacement, Replacement, REPLACEMENT_VERSION};
use strata_tier::manifest::{SegmentManifest, MANIFEST_VERSION};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a003";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v2/tier-compaction")
}

fn golden(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A compacted segment `[0, 120)` (three uploads merged) written by run `e2-…` at epoch 2.
fn manifest() -> SegmentManifest {
    SegmentManifest {
        format_version: MANIFEST_VERSION,
        topic_id: TOPIC_ID.into(),
        topic: "customers".into(),
        partition: 1,
        base_offset: 0,
        end_offset: 120,
        min_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_090_000,
        size: 4_096,
        crc32c: 987_654_321,
        leader_epoch: 2,
        upload_id: "e2-0f8fad5bd9cb469fa16570867728950e".into(),
        uploaded_at_ms: 1_700_000_100_000,
        producer_batches: Vec::new(),
        txn_index: None,
        producer_snapshot: None,
        compacted_at_ms: Some(1_700_000_100_000),
        parquet: None,
    }
}

#[test]
#[ignore = "writes the golden files; run only when creating a new golden set"]
fn regenerate() {
    std::fs::create_dir_all(dir()).unwrap();
    let mut text = manifest().to_bytes();
    text.push(b'\n');
    std::fs::write(dir().join("manifest_compacted.json"), text).unwrap();
    let record = Replacement {
        format_version: REPLACEMENT_VERSION,
        manifests: vec![manifest()],
    };
    let mut text = serde_json::to_vec(&record).unwrap();
    text.push(b'\n');
    std::fs::write(dir().join("replacement.json"), text).unwrap();
}

#[test]
fn a_compacted_manifest_reads_with_exact_fields() {
    let m = SegmentManifest::from_bytes(&golden("manifest_compacted.json")).unwrap();
    assert_eq!(m.format_version, 2);
    assert_eq!((m.partition, m.base_offset, m.end_offset), (1, 0, 120));
    assert_eq!(m.compacted_at_ms, Some(1_700_000_100_000));
    assert_eq!(m.object_keys().len(), 4);
    assert_eq!(m, manifest());
    assert_eq!(
        m.to_bytes(),
        golden("manifest_compacted.json").trim_ascii_end()
    );
    // Without the field (every manifest written before remote compaction): never compacted.
    let text = String::from_utf8(golden("manifest_compacted.json")).unwrap();
    let plain = text.replace(",\n  \"compacted_at_ms\": 1700000100000", "");
    assert_ne!(plain, text);
    assert_eq!(
        SegmentManifest::from_bytes(plain.as_bytes())
            .unwrap()
            .compacted_at_ms,
        None
    );
}

#[test]
fn a_replacement_record_reads_with_exact_fields() {
    let r = decode_replacement(&golden("replacement.json")).unwrap();
    assert_eq!(r.format_version, 1);
    assert_eq!(r.manifests, vec![manifest()]);
    assert_eq!(
        serde_json::to_vec(&r).unwrap(),
        golden("replacement.json").trim_ascii_end()
    );
    // Another record version is refused (the catalog is then rebuilt from the bucket).
    let text = String::from_utf8(golden("replacement.json")).unwrap();
    let v2 = text.replace(
        "\"format_version\":1,\"manifests\"",
        "\"format_version\":2,\"manifests\"",
    );
    assert_ne!(v2, text);
    assert!(decode_replacement(v2.as_bytes()).is_err());
}
