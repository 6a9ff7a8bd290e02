//! Golden file for the v1 metadata journal (`migrations/golden/v1/meta/metadata.log`).
//!
//! The replay tests read a COPY of the golden journal and check the exact records and
//! [`MetadataState`], so they fail if a change stops this build from reading what v1 wrote
//! (including a renamed or newly required field in a [`MetadataRecord`]: such an entry no longer
//! decodes and replay would stop there). The encode test requires that encoding the same
//! records yields the golden bytes, so it fails if the writer's format changes. A deliberate
//! format change needs a version bump and new golden files under `migrations/golden/v2/`
//! (see `migrations/UPGRADING.md`); never regenerate the v1 file to make a test pass.
//!
//! The journal is written with `Journal` and fixed records rather than `MetadataStore`, whose
//! cluster ids and topic ids are random. Regenerate (only when creating the golden set):
//! `cargo test -p strata-meta --test golden_v1 -- --ignored regenerate`

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use strata_meta::journal::{self, Journal, FORMAT_VERSION, MAGIC};
use strata_meta::{MetadataRecord, MetadataState, MetadataStore, TopicRecord};

const CLUSTER_ID: &str = "R29sZGVuQ2x1c3RlcklkMQ";
const ORDERS_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a001";
const AUDIT_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a002";
const SCRATCH_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a003";

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v1/meta/metadata.log")
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The records of the golden journal, in order: one of every record type.
fn golden_records() -> Vec<MetadataRecord> {
    vec![
        MetadataRecord::ClusterInitialized {
            cluster_id: CLUSTER_ID.into(),
            node_id: 1,
        },
        MetadataRecord::TopicCreated(TopicRecord {
            topic_id: ORDERS_ID.into(),
            name: "orders".into(),
            partitions: 3,
            replication_factor: 1,
            configs: configs(&[("cleanup.policy", "delete"), ("retention.ms", "86400000")]),
            replicas: vec![],
            leadership: vec![],
        }),
        MetadataRecord::TopicCreated(TopicRecord {
            topic_id: AUDIT_ID.into(),
            name: "audit.log".into(),
            partitions: 1,
            replication_factor: 1,
            configs: BTreeMap::new(),
            replicas: vec![],
            leadership: vec![],
        }),
        MetadataRecord::PartitionsIncreased {
            topic_id: ORDERS_ID.into(),
            partitions: 6,
            replicas: vec![],
        },
        MetadataRecord::TopicConfigsReplaced {
            topic_id: ORDERS_ID.into(),
            configs: configs(&[
                ("max.message.bytes", "2097152"),
                ("retention.ms", "3600000"),
            ]),
        },
        MetadataRecord::TopicCreated(TopicRecord {
            topic_id: SCRATCH_ID.into(),
            name: "scratch".into(),
            partitions: 2,
            replication_factor: 1,
            configs: configs(&[("segment.bytes", "1048576")]),
            replicas: vec![],
            leadership: vec![],
        }),
        MetadataRecord::ProducerIdsAllocated { next: 1000 },
        MetadataRecord::TopicDeleted {
            topic_id: SCRATCH_ID.into(),
        },
        MetadataRecord::ProducerIdsAllocated { next: 2000 },
    ]
}

/// The image the golden journal replays to.
fn golden_state() -> MetadataState {
    let mut topics = BTreeMap::new();
    topics.insert(
        "audit.log".to_string(),
        TopicRecord {
            topic_id: AUDIT_ID.into(),
            name: "audit.log".into(),
            partitions: 1,
            replication_factor: 1,
            configs: BTreeMap::new(),
            replicas: vec![],
            leadership: vec![],
        },
    );
    topics.insert(
        "orders".to_string(),
        TopicRecord {
            topic_id: ORDERS_ID.into(),
            name: "orders".into(),
            partitions: 6,
            replication_factor: 1,
            configs: configs(&[
                ("max.message.bytes", "2097152"),
                ("retention.ms", "3600000"),
            ]),
            replicas: vec![],
            leadership: vec![],
        },
    );
    MetadataState {
        cluster_id: Some(CLUSTER_ID.into()),
        node_id: 1,
        topics,
        next_producer_id: 2000,
        brokers: Default::default(),
        fenced: Default::default(),
        reassignments: Default::default(),
        scram: Default::default(),
        acls: Default::default(),
    }
}

/// Writes the golden journal at `path` (which must not exist yet).
fn write_golden_journal(path: &Path) {
    let (mut journal, existing) = Journal::open(path).unwrap();
    assert!(existing.is_empty());
    for record in golden_records() {
        journal.append(&record).unwrap();
    }
}

/// Copies the golden journal into a fresh directory (tests never touch the original).
fn golden_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metadata.log");
    fs::copy(golden_path(), &path).unwrap();
    (tmp, path)
}

fn replay(records: &[MetadataRecord]) -> MetadataState {
    let mut state = MetadataState::default();
    for r in records {
        state.apply(r);
    }
    state
}

/// The golden file decoded with the layout documented in `migrations/FORMATS.md`.
#[test]
fn golden_journal_matches_documented_layout() {
    let data = fs::read(golden_path()).unwrap();
    assert_eq!(&data[..8], b"STRATAMJ");
    assert_eq!(u16::from_be_bytes([data[8], data[9]]), 1);
    let mut pos = 10;
    let mut payloads = Vec::new();
    while pos < data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_be_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        let payload = &data[pos + 8..pos + 8 + len];
        assert_eq!(crc32c::crc32c(payload), crc, "entry at {pos}");
        payloads.push(serde_json::from_slice::<serde_json::Value>(payload).unwrap());
        pos += 8 + len;
    }
    assert_eq!(pos, data.len());
    assert_eq!(payloads.len(), 9);
    assert_eq!(
        payloads[0],
        serde_json::json!({"type": "ClusterInitialized", "cluster_id": CLUSTER_ID, "node_id": 1})
    );
    assert_eq!(
        payloads[1],
        serde_json::json!({
            "type": "TopicCreated",
            "topic_id": ORDERS_ID,
            "name": "orders",
            "partitions": 3,
            "replication_factor": 1,
            "configs": {"cleanup.policy": "delete", "retention.ms": "86400000"},
        })
    );
    assert_eq!(
        payloads[3],
        serde_json::json!({"type": "PartitionsIncreased", "topic_id": ORDERS_ID, "partitions": 6})
    );
    assert_eq!(
        payloads[4],
        serde_json::json!({
            "type": "TopicConfigsReplaced",
            "topic_id": ORDERS_ID,
            "configs": {"max.message.bytes": "2097152", "retention.ms": "3600000"},
        })
    );
    assert_eq!(
        payloads[6],
        serde_json::json!({"type": "ProducerIdsAllocated", "next": 1000})
    );
    assert_eq!(
        payloads[7],
        serde_json::json!({"type": "TopicDeleted", "topic_id": SCRATCH_ID})
    );
}

/// `Journal::open` on v1 data returns every record, keeps the file as it is, and the fold
/// gives the exact image.
#[test]
fn v1_journal_replays_to_exact_state() {
    let (_tmp, path) = golden_copy();
    let golden = fs::read(golden_path()).unwrap();
    let (journal, records) = Journal::open(&path).unwrap();
    drop(journal);
    assert_eq!(records, golden_records());
    assert_eq!(replay(&records), golden_state());
    assert_eq!(
        fs::read(&path).unwrap(),
        golden,
        "replay must not truncate v1 data"
    );

    let (decoded, good_len) = journal::decode(&golden).unwrap();
    assert_eq!(decoded, golden_records());
    assert_eq!(good_len, golden.len());
}

/// The store replays v1 data without writing (the cluster is already initialised) and
/// continues from the persisted producer id block.
#[test]
fn v1_journal_opens_in_metadata_store() {
    let (tmp, path) = golden_copy();
    let golden = fs::read(golden_path()).unwrap();
    let mut store = MetadataStore::open(tmp.path(), 7).unwrap();
    assert_eq!(store.state(), &golden_state());
    assert_eq!(fs::read(&path).unwrap(), golden);
    assert_eq!(store.topic("orders").unwrap().partitions, 6);
    assert!(store.topic("scratch").is_none());
    assert_eq!(store.allocate_producer_id().unwrap(), 2000);
    drop(store);
    let (_, records) = Journal::open(&path).unwrap();
    assert_eq!(records.len(), 10);
    assert_eq!(
        records[9],
        MetadataRecord::ProducerIdsAllocated { next: 3000 }
    );
}

/// Encoding the golden records gives the golden bytes, both through `encode_entry` and
/// through a real `Journal` (guards the writer side of the v1 format).
#[test]
fn v1_encoding_is_byte_identical() {
    let golden = fs::read(golden_path()).unwrap();
    let mut encoded = MAGIC.to_vec();
    encoded.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    for record in golden_records() {
        encoded.extend_from_slice(&journal::encode_entry(&record).unwrap());
    }
    assert_eq!(encoded, golden);

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metadata.log");
    write_golden_journal(&path);
    assert_eq!(fs::read(&path).unwrap(), golden);
}

/// Regenerates `migrations/golden/v1/meta/metadata.log`. Never rerun this to make a failing
/// golden test pass: a failure means the v1 format changed (see `migrations/UPGRADING.md`).
#[test]
#[ignore = "writes migrations/golden/v1/meta; run explicitly to regenerate"]
fn regenerate() {
    let path = golden_path();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    if path.exists() {
        fs::remove_file(&path).unwrap();
    }
    write_golden_journal(&path);
}
