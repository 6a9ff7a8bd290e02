//! v1 golden files of the tiering formats: the segment manifest and the catalog entry. A change
//! that cannot read them is a format break (bump the version; see migrations/UPGRADING.md).

use std::path::PathBuf;

use strata_tier::catalog::{Catalog, CatalogEntry, SegmentState};
use strata_tier::keys::SegmentKeys;
use strata_tier::manifest::SegmentManifest;

fn golden(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations/golden/v1/tier")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn v1_manifest_parses_with_exact_fields_and_keys() {
    let m = SegmentManifest::from_bytes(&golden("manifest.json")).unwrap();
    assert_eq!(m.format_version, 1);
    assert_eq!((m.partition, m.base_offset, m.end_offset), (3, 1200, 1450));
    assert_eq!(
        (m.min_timestamp, m.max_timestamp),
        (1_700_000_000_000, 1_700_000_999_999)
    );
    assert_eq!(
        (m.size, m.crc32c, m.leader_epoch),
        (1_048_576, 2_891_785_237, 0)
    );
    let keys: SegmentKeys = m.keys();
    assert_eq!(
        keys.log,
        "v1/6f1d2c3b-0000-4000-8000-00000000a001/3/00000000000000001200-0f8fad5bd9cb469fa16570867728950e.log"
    );
    // Writing it again yields a manifest that reads back identically.
    assert_eq!(SegmentManifest::from_bytes(&m.to_bytes()).unwrap(), m);
}

#[tokio::test]
async fn v1_catalog_entry_parses_and_is_found_by_floor() {
    let entry: CatalogEntry = serde_json::from_slice(&golden("catalog_entry.json")).unwrap();
    assert_eq!(entry.state, SegmentState::CopyFinished);
    assert_eq!(
        entry.manifest,
        SegmentManifest::from_bytes(&golden("manifest.json")).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    c.put(&entry).unwrap();
    c.flush().await.unwrap();
    let t = "6f1d2c3b-0000-4000-8000-00000000a001";
    assert_eq!(
        c.floor(t, 3, 1300).unwrap().map(|m| m.base_offset),
        Some(1200)
    );
    assert_eq!(c.floor(t, 3, 1450).unwrap(), None);
    // The stored value is the golden JSON byte for byte.
    assert_eq!(
        serde_json::to_vec(&entry).unwrap(),
        golden("catalog_entry.json").trim_ascii_end()
    );
}

#[test]
fn v1_manifest_with_producer_batches() {
    let m = SegmentManifest::from_bytes(&golden("manifest_with_producers.json")).unwrap();
    assert_eq!(m.producer_batches.len(), 1);
    let b = m.producer_batches[0];
    assert_eq!(
        (
            b.producer_id,
            b.producer_epoch,
            b.base_sequence,
            b.base_offset,
            b.last_offset_delta
        ),
        (4242, 1, 7, 1440, 9)
    );
    // The field is optional: the plain golden manifest reads with none.
    let plain = SegmentManifest::from_bytes(&golden("manifest.json")).unwrap();
    assert!(plain.producer_batches.is_empty());
    assert_eq!(SegmentManifest::from_bytes(&m.to_bytes()).unwrap(), m);
}
