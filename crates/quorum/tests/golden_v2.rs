//! Golden files for the metadata quorum (`migrations/golden/v2/quorum/`): a whole
//! `__cluster_metadata` directory of a one-voter quorum (node 1), as the v2 code writes it.
//!
//! - `raft.log`: journal framing version 2, seven Raft entries: the membership entry openraft
//!   writes when it initialises the quorum (index 0, term 0), the blank entry of the first leader
//!   (index 1, term 1), and five normal entries (indexes 2-6, term 1), each the records of one
//!   metadata operation: the import of a version-1 journal (three records in one entry), a
//!   broker registration, a topic with replica assignments, a partition increase, and a
//!   producer-id block.
//! - `raft-vote.json`: the committed vote of term 1 for node 1.
//! - `raft-snapshot.json`: the snapshot at index 4 (image of entries 2-4, membership of
//!   entry 0).
//! - `raft-purged.json`: purge point index 2, so entries 0-2 are still in the file but are
//!   dead (the file is rewritten only once 4 MiB are dead).
//! - `raft-committed.json`: the commit hint, index 6.
//!
//! The read tests open a COPY through the real readers (`LogStore`, `StateMachine`,
//! `offline_image`, a real `Quorum`) and check exact values, so they fail if this build stops
//! reading what v2 wrote. The write tests require the crate's writers (and a real one-voter
//! node) to reproduce the golden bytes, so they fail if the writers' format changes. A
//! deliberate format change needs a version bump and new golden files under
//! `migrations/golden/v3/` (see `migrations/UPGRADING.md`); never regenerate the v2 files to
//! make a test pass.
//!
//! Regenerate (only when creating the golden set):
//! `cargo test -p strata-quorum --test golden_v2 -- --ignored regenerate`

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership, StoredMembership, Vote};
use serde_json::json;
use strata_meta::journal::{encode_json_entry, header_for, Journal, HEADER_LEN, MAGIC};
use strata_meta::journal_scan::{scan_as, ScanEnd};
use strata_meta::{BrokerRegistration, MetadataRecord, MetadataState, Operation, TopicRecord};
use strata_quorum::files::FILE_VERSION;
use strata_quorum::log_store::{LogStore, RAFT_LOG_FILE, RAFT_LOG_VERSION};
use strata_quorum::state_machine::{StateMachine, SNAPSHOT_FILE};
use strata_quorum::types::{Batch, Entry, LogId, NodeId};
use strata_quorum::{offline_image, Quorum, QuorumConfig};

const CLUSTER_ID: &str = "R29sZGVuQ2x1c3RlcklkMg";
const ORDERS_ID: &str = "6f1d2c3b-0000-4000-8000-00000000b001";
const AUDIT_ID: &str = "6f1d2c3b-0000-4000-8000-00000000b002";
/// The only voter.
const NODE: NodeId = 1;
/// Its cluster address as a one-voter quorum records it (`QuorumConfig::single`).
const ADDR: &str = "127.0.0.1:0";
/// Last index covered by the snapshot.
const SNAPSHOT_INDEX: u64 = 4;
/// Last purged index.
const PURGED_INDEX: u64 = 2;
/// Last index in the log (and the commit hint).
const LAST_INDEX: u64 = 6;

const VOTE_FILE: &str = "raft-vote.json";
const PURGED_FILE: &str = "raft-purged.json";
const COMMITTED_FILE: &str = "raft-committed.json";
/// Every file of the golden directory.
const FILES: [&str; 5] = [
    RAFT_LOG_FILE,
    VOTE_FILE,
    PURGED_FILE,
    SNAPSHOT_FILE,
    COMMITTED_FILE,
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v2/quorum")
}

fn golden(name: &str) -> Vec<u8> {
    fs::read(golden_dir().join(name)).unwrap()
}

/// Copies the golden directory into a fresh one (tests never touch the originals).
fn golden_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("__cluster_metadata");
    fs::create_dir(&dir).unwrap();
    for name in FILES {
        fs::copy(golden_dir().join(name), dir.join(name)).unwrap();
    }
    (tmp, dir)
}

fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

fn membership() -> Membership<NodeId, BasicNode> {
    Membership::new(
        vec![BTreeSet::from([NODE])],
        BTreeMap::from([(NODE, BasicNode { addr: ADDR.into() })]),
    )
}

fn golden_vote() -> Vote<NodeId> {
    Vote::new_committed(1, NODE)
}

fn audit_topic() -> TopicRecord {
    // As a version-1 journal recorded it: no replicas (the partition lives on node 1).
    TopicRecord {
        topic_id: AUDIT_ID.into(),
        name: "audit.log".into(),
        partitions: 1,
        replication_factor: 1,
        configs: BTreeMap::new(),
        replicas: vec![],
        leadership: vec![],
    }
}

fn orders_topic(partitions: i32) -> TopicRecord {
    TopicRecord {
        topic_id: ORDERS_ID.into(),
        name: "orders".into(),
        partitions,
        replication_factor: 1,
        configs: BTreeMap::from([("retention.ms".to_string(), "3600000".to_string())]),
        replicas: vec![vec![1]; partitions as usize],
        leadership: vec![],
    }
}

fn broker() -> BrokerRegistration {
    BrokerRegistration {
        node_id: 1,
        host: "broker-1.example".into(),
        port: 9092,
        rack: Some("rack-a".into()),
        endpoints: Vec::new(),
    }
}

/// The records of the normal entries at indexes 2..=6, one `Vec` per entry.
fn golden_batches() -> Vec<Vec<MetadataRecord>> {
    vec![
        // The import of a version-1 `metadata.log` (one entry for the whole journal).
        vec![
            MetadataRecord::ClusterInitialized {
                cluster_id: CLUSTER_ID.into(),
                node_id: 1,
            },
            MetadataRecord::TopicCreated(audit_topic()),
            MetadataRecord::ProducerIdsAllocated { next: 1000 },
        ],
        vec![MetadataRecord::BrokerRegistered(broker())],
        vec![MetadataRecord::TopicCreated(orders_topic(2))],
        vec![MetadataRecord::PartitionsIncreased {
            topic_id: ORDERS_ID.into(),
            partitions: 3,
            replicas: vec![vec![1]],
        }],
        vec![MetadataRecord::ProducerIdsAllocated { next: 2000 }],
    ]
}

/// Every entry of the golden `raft.log`, in order.
fn golden_entries() -> Vec<Entry> {
    let mut entries = vec![
        // What `Raft::initialize` appends: the first log id is the default one (term 0).
        Entry {
            log_id: log_id(0, 0, 0),
            payload: EntryPayload::Membership(membership()),
        },
        // The first leader's blank entry.
        Entry {
            log_id: log_id(1, NODE, 1),
            payload: EntryPayload::Blank,
        },
    ];
    for (i, records) in golden_batches().into_iter().enumerate() {
        entries.push(Entry {
            log_id: log_id(1, NODE, 2 + i as u64),
            payload: EntryPayload::Normal(Batch { records }),
        });
    }
    entries
}

/// The fold of the normal entries up to `index`.
fn fold_to(index: u64) -> MetadataState {
    let mut state = MetadataState::default();
    for (i, records) in golden_batches().iter().enumerate() {
        if 2 + i as u64 <= index {
            for r in records {
                state.apply(r);
            }
        }
    }
    state
}

/// Checks `image` field by field against the exact expected values, and that it is the fold of
/// the golden entries up to `index` (so any other field is at its default).
fn assert_image(image: &MetadataState, index: u64) {
    let (orders, next_producer_id) = match index {
        SNAPSHOT_INDEX => (orders_topic(2), 1000),
        LAST_INDEX => (orders_topic(3), 2000),
        _ => unreachable!(),
    };
    assert_eq!(image.cluster_id.as_deref(), Some(CLUSTER_ID));
    assert_eq!(image.node_id, 1);
    assert_eq!(
        image.topics,
        BTreeMap::from([
            ("audit.log".to_string(), audit_topic()),
            ("orders".to_string(), orders),
        ])
    );
    assert_eq!(image.next_producer_id, next_producer_id);
    assert_eq!(image.brokers, BTreeMap::from([(1, broker())]));
    assert!(image.fenced.is_empty());
    assert_eq!(image, &fold_to(index));
}

/// The membership entry, blank entry and normal entries as serde_json values: the documented
/// on-disk JSON, independent of the Rust types.
fn golden_payloads_json() -> Vec<serde_json::Value> {
    let id = |term: u64, node: u64, index: u64| json!({"leader_id": {"term": term, "node_id": node}, "index": index});
    let normal = |index: u64, records: serde_json::Value| json!({"log_id": id(1, 1, index), "payload": {"Normal": {"records": records}}});
    vec![
        json!({
            "log_id": id(0, 0, 0),
            "payload": {"Membership": {"configs": [[1]], "nodes": {"1": {"addr": ADDR}}}},
        }),
        json!({"log_id": id(1, 1, 1), "payload": "Blank"}),
        normal(
            2,
            json!([
                {"type": "ClusterInitialized", "cluster_id": CLUSTER_ID, "node_id": 1},
                {
                    "type": "TopicCreated", "topic_id": AUDIT_ID, "name": "audit.log",
                    "partitions": 1, "replication_factor": 1, "configs": {},
                },
                {"type": "ProducerIdsAllocated", "next": 1000},
            ]),
        ),
        normal(
            3,
            json!([{
                "type": "BrokerRegistered", "node_id": 1, "host": "broker-1.example",
                "port": 9092, "rack": "rack-a",
            }]),
        ),
        normal(
            4,
            json!([{
                "type": "TopicCreated", "topic_id": ORDERS_ID, "name": "orders",
                "partitions": 2, "replication_factor": 1,
                "configs": {"retention.ms": "3600000"}, "replicas": [[1], [1]],
            }]),
        ),
        normal(
            5,
            json!([{
                "type": "PartitionsIncreased", "topic_id": ORDERS_ID, "partitions": 3,
                "replicas": [[1]],
            }]),
        ),
        normal(6, json!([{"type": "ProducerIdsAllocated", "next": 2000}])),
    ]
}

/// Writes the golden directory into `dir` (which must hold no quorum files yet) with the
/// crate's own writers, in the order a node writes them.
async fn write_golden_dir(dir: &Path) {
    let mut log = LogStore::open(dir).unwrap();
    log.save_vote(&golden_vote()).await.unwrap();
    log.append_durably(golden_entries()).unwrap();
    let mut sm = StateMachine::open(dir).unwrap();
    let covered: Vec<Entry> = golden_entries()
        .into_iter()
        .take(SNAPSHOT_INDEX as usize + 1)
        .collect();
    sm.apply(covered).await.unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    log.purge(log_id(1, NODE, PURGED_INDEX)).await.unwrap();
    log.save_committed(Some(log_id(1, NODE, LAST_INDEX)))
        .await
        .unwrap();
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn snapshot_meta_json() -> serde_json::Value {
    json!({
        "last_log_id": {"leader_id": {"term": 1, "node_id": 1}, "index": SNAPSHOT_INDEX},
        "last_membership": {
            "log_id": {"leader_id": {"term": 0, "node_id": 0}, "index": 0},
            "membership": {"configs": [[1]], "nodes": {"1": {"addr": ADDR}}},
        },
        "snapshot_id": "T1-N1-4-1",
    })
}

fn snapshot_image_json() -> serde_json::Value {
    json!({
        "cluster_id": CLUSTER_ID,
        "node_id": 1,
        "topics": {
            "audit.log": {
                "topic_id": AUDIT_ID, "name": "audit.log", "partitions": 1,
                "replication_factor": 1, "configs": {},
            },
            "orders": {
                "topic_id": ORDERS_ID, "name": "orders", "partitions": 2,
                "replication_factor": 1, "configs": {"retention.ms": "3600000"},
                "replicas": [[1], [1]],
            },
        },
        "next_producer_id": 1000,
        "brokers": {"1": {"node_id": 1, "host": "broker-1.example", "port": 9092, "rack": "rack-a"}},
        "fenced": [],
    })
}

/// `raft.log` decoded with the layout documented in `migrations/FORMATS.md`.
#[test]
fn golden_raft_log_matches_documented_layout() {
    let data = golden(RAFT_LOG_FILE);
    assert_eq!(&data[..8], b"STRATAMJ");
    assert_eq!(u16::from_be_bytes([data[8], data[9]]), 2);
    assert_eq!(RAFT_LOG_VERSION, 2);
    let mut pos = HEADER_LEN;
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
    assert_eq!(payloads, golden_payloads_json());
}

/// The JSON files decoded with the documented layouts.
#[test]
fn golden_json_files_match_documented_layout() {
    let parse = |name: &str| serde_json::from_slice::<serde_json::Value>(&golden(name)).unwrap();
    assert_eq!(FILE_VERSION, 1);
    assert_eq!(
        parse(VOTE_FILE),
        json!({"version": 1, "body": {"vote": {
            "leader_id": {"term": 1, "node_id": 1}, "committed": true,
        }}})
    );
    assert_eq!(
        parse(PURGED_FILE),
        json!({"version": 1, "body": {"log_id": {
            "leader_id": {"term": 1, "node_id": 1}, "index": PURGED_INDEX,
        }}})
    );
    assert_eq!(
        parse(SNAPSHOT_FILE),
        json!({"version": 1, "body": {"meta": snapshot_meta_json(), "image": snapshot_image_json()}})
    );
    // The commit hint carries no version (see FORMATS.md): a reader that cannot parse it
    // ignores it.
    assert_eq!(
        parse(COMMITTED_FILE),
        json!({"log_id": {"leader_id": {"term": 1, "node_id": 1}, "index": LAST_INDEX}})
    );
}

/// The Raft log store opens the golden files to the exact log state, entries, vote and commit
/// hint, and changes nothing on disk.
#[tokio::test]
async fn golden_log_store_opens_to_exact_state() {
    let (_tmp, dir) = golden_copy();
    let mut log = LogStore::open(&dir).unwrap();

    let state = log.get_log_state().await.unwrap();
    assert_eq!(
        state.last_purged_log_id,
        Some(log_id(1, NODE, PURGED_INDEX))
    );
    assert_eq!(state.last_log_id, Some(log_id(1, NODE, LAST_INDEX)));
    assert_eq!(log.last_index(), LAST_INDEX);

    // Entries at or below the purge point are still in the file but no longer served.
    let entries = log.try_get_log_entries(0..).await.unwrap();
    let expected: Vec<Entry> = golden_entries()
        .into_iter()
        .skip(PURGED_INDEX as usize + 1)
        .collect();
    assert_eq!(entries, expected);
    assert_eq!(
        entries.iter().map(|e| e.log_id).collect::<Vec<_>>(),
        vec![
            log_id(1, NODE, 3),
            log_id(1, NODE, 4),
            log_id(1, NODE, 5),
            log_id(1, NODE, 6),
        ]
    );

    assert_eq!(log.read_vote().await.unwrap(), Some(golden_vote()));
    let vote = log.read_vote().await.unwrap().unwrap();
    assert_eq!(
        (vote.leader_id().term, vote.leader_id().voted_for()),
        (1, Some(NODE))
    );
    assert!(vote.is_committed());
    assert_eq!(
        log.read_committed().await.unwrap(),
        Some(log_id(1, NODE, LAST_INDEX))
    );
    drop(log);

    for name in FILES {
        assert_eq!(fs::read(dir.join(name)).unwrap(), golden(name), "{name}");
    }
}

/// The journal scanner (the reader `LogStore::open` and the offline tools share) returns every
/// entry of the file, purged ones included, with their exact offsets.
#[test]
fn golden_raft_log_scans_to_exact_entries() {
    let data = golden(RAFT_LOG_FILE);
    let scanned = scan_as::<Entry>(&data, RAFT_LOG_VERSION).unwrap();
    assert_eq!(scanned.end, ScanEnd::Clean);
    assert_eq!(scanned.intact_len, data.len());
    assert_eq!(scanned.records, golden_entries());
    let mut offset = HEADER_LEN;
    let mut offsets = Vec::new();
    for entry in golden_entries() {
        offsets.push(offset);
        offset += encode_json_entry(&entry).unwrap().len();
    }
    assert_eq!(scanned.offsets, offsets);
    let kinds: Vec<(u64, u64, &str)> = scanned
        .records
        .iter()
        .map(|e| {
            let kind = match &e.payload {
                EntryPayload::Blank => "blank",
                EntryPayload::Normal(_) => "normal",
                EntryPayload::Membership(_) => "membership",
            };
            (e.log_id.index, e.log_id.leader_id.term, kind)
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, 0, "membership"),
            (1, 1, "blank"),
            (2, 1, "normal"),
            (3, 1, "normal"),
            (4, 1, "normal"),
            (5, 1, "normal"),
            (6, 1, "normal"),
        ]
    );
}

/// The state machine opens the golden snapshot to the exact meta and image.
#[tokio::test]
async fn golden_snapshot_opens_to_exact_image() {
    let (_tmp, dir) = golden_copy();
    let mut sm = StateMachine::open(&dir).unwrap();

    let (image, applied) = sm.snapshot_image();
    assert_eq!(applied, SNAPSHOT_INDEX);
    assert_image(&image, SNAPSHOT_INDEX);

    let (last_applied, stored) = sm.applied_state().await.unwrap();
    assert_eq!(last_applied, Some(log_id(1, NODE, SNAPSHOT_INDEX)));
    assert_eq!(
        stored,
        StoredMembership::new(Some(log_id(0, 0, 0)), membership())
    );

    let snapshot = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.meta.snapshot_id, "T1-N1-4-1");
    assert_eq!(
        snapshot.meta.last_log_id,
        Some(log_id(1, NODE, SNAPSHOT_INDEX))
    );
    assert_eq!(snapshot.meta.last_membership, stored);
    // What a leader would send to a follower: the body of the file.
    let sent: serde_json::Value = serde_json::from_slice(snapshot.snapshot.get_ref()).unwrap();
    assert_eq!(
        sent,
        json!({"meta": snapshot_meta_json(), "image": snapshot_image_json()})
    );
    drop(sm);
    assert_eq!(
        fs::read(dir.join(SNAPSHOT_FILE)).unwrap(),
        golden(SNAPSHOT_FILE)
    );
}

/// The offline tools' reader gives the image of every entry: the snapshot, then the entries
/// after it.
#[test]
fn golden_dir_gives_the_exact_offline_image() {
    let (_tmp, dir) = golden_copy();
    let image = offline_image(&dir).unwrap();
    assert_image(&image, LAST_INDEX);
    for name in FILES {
        assert_eq!(fs::read(dir.join(name)).unwrap(), golden(name), "{name}");
    }
}

/// A real one-voter node starts from the golden directory and serves the image of every
/// committed entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_from_the_golden_dir() {
    let (_tmp, dir) = golden_copy();
    let q = Quorum::start(QuorumConfig::single(NODE, dir.clone()))
        .await
        .unwrap();
    q.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert_image(&q.image(), LAST_INDEX);
    let status = q.status();
    assert!(status.applied >= LAST_INDEX, "{status:?}");
    assert!(status.term >= 1, "{status:?}");
    assert_eq!(status.voters, BTreeMap::from([(NODE, ADDR.to_string())]));
    q.shutdown().await;
    // The golden entries are still the start of the log.
    let data = fs::read(dir.join(RAFT_LOG_FILE)).unwrap();
    assert!(data.starts_with(&golden(RAFT_LOG_FILE)));
}

/// The crate's writers reproduce every golden file byte for byte, and write nothing else.
#[tokio::test]
async fn writers_reproduce_the_golden_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("__cluster_metadata");
    write_golden_dir(&dir).await;
    assert_eq!(file_names(&dir), file_names(&golden_dir()));
    for name in FILES {
        assert_eq!(fs::read(dir.join(name)).unwrap(), golden(name), "{name}");
    }

    // The framing alone: header, then one encoded entry after the other.
    let mut encoded = header_for(RAFT_LOG_VERSION);
    assert_eq!(&encoded[..8], MAGIC);
    for entry in golden_entries() {
        encoded.extend_from_slice(&encode_json_entry(&entry).unwrap());
    }
    assert_eq!(encoded, golden(RAFT_LOG_FILE));
}

/// A real one-voter node, importing the golden batches as operations, writes the golden
/// `raft.log` (openraft's own membership and blank entries included), vote and commit hint.
/// `Operation::Import` is planned as-is, so this depends on openraft and the writers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_node_writes_the_golden_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("__cluster_metadata");
    let q = Quorum::start(QuorumConfig::single(NODE, dir.clone()))
        .await
        .unwrap();
    q.wait_ready(Duration::from_secs(10)).await.unwrap();
    for records in golden_batches() {
        q.execute(Operation::Import { records }).await.unwrap();
    }
    assert_image(&q.image(), LAST_INDEX);
    q.shutdown().await;
    assert_eq!(
        fs::read(dir.join(RAFT_LOG_FILE)).unwrap(),
        golden(RAFT_LOG_FILE)
    );
    assert_eq!(fs::read(dir.join(VOTE_FILE)).unwrap(), golden(VOTE_FILE));
    assert_eq!(
        fs::read(dir.join(COMMITTED_FILE)).unwrap(),
        golden(COMMITTED_FILE)
    );
}

/// A `raft.log` of another journal version is refused by every reader with an error naming
/// the version, and left untouched.
#[test]
fn raft_log_of_another_version_is_refused() {
    let (_tmp, dir) = golden_copy();
    let path = dir.join(RAFT_LOG_FILE);
    let mut data = golden(RAFT_LOG_FILE);
    data[8..10].copy_from_slice(&3u16.to_be_bytes());
    fs::write(&path, &data).unwrap();

    let err = LogStore::open(&dir).unwrap_err();
    assert!(
        err.message.contains(
            "metadata journal format version 3 is not supported here (this reader expects 2)"
        ),
        "{err}"
    );
    assert!(err.message.contains(&path.display().to_string()), "{err}");
    let err = offline_image(&dir).unwrap_err();
    assert!(err.message.contains("format version 3"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), data, "nothing rewritten");

    // And the version-1 reader (`metadata.log`) refuses a version-2 journal.
    let (_tmp2, dir2) = golden_copy();
    let err = Journal::open(&dir2.join(RAFT_LOG_FILE)).unwrap_err();
    assert!(
        err.message.contains(
            "metadata journal format version 2 is not supported here (this reader expects 1)"
        ),
        "{err}"
    );
    assert_eq!(
        fs::read(dir2.join(RAFT_LOG_FILE)).unwrap(),
        golden(RAFT_LOG_FILE)
    );
}

/// A vote, purge point or snapshot file of another version is refused with an error naming
/// the file and both versions, and left untouched.
#[test]
fn json_files_of_another_version_are_refused() {
    for name in [VOTE_FILE, PURGED_FILE, SNAPSHOT_FILE] {
        let (_tmp, dir) = golden_copy();
        let path = dir.join(name);
        let text = String::from_utf8(golden(name)).unwrap();
        assert!(
            text.starts_with(r#"{"version":1,"body":"#),
            "{name}: {text}"
        );
        let bumped = text.replacen(r#"{"version":1,"#, r#"{"version":2,"#, 1);
        fs::write(&path, &bumped).unwrap();

        let err = if name == SNAPSHOT_FILE {
            StateMachine::open(&dir).unwrap_err()
        } else {
            LogStore::open(&dir).unwrap_err()
        };
        let expected = format!(
            "{}: format version 2 is not supported (this build reads 1)",
            path.display()
        );
        assert!(err.message.contains(&expected), "{name}: {err}");
        if name == SNAPSHOT_FILE {
            let err = offline_image(&dir).unwrap_err();
            assert!(err.message.contains(&expected), "{name}: {err}");
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), bumped, "{name}");
    }
}

/// The commit hint has no version: one this build cannot parse, or none at all, reads as no
/// hint (the leader tells the commit index again).
#[tokio::test]
async fn an_unreadable_commit_hint_is_ignored() {
    let (_tmp, dir) = golden_copy();
    let path = dir.join(COMMITTED_FILE);
    for contents in [
        &br#"{"version":2,"body":{"log_id":{"leader_id":{"term":1,"node_id":1},"index":6}}}"#[..],
        &golden(COMMITTED_FILE)[..20],
    ] {
        fs::write(&path, contents).unwrap();
        let mut log = LogStore::open(&dir).unwrap();
        assert_eq!(log.read_committed().await.unwrap(), None);
    }
    fs::remove_file(&path).unwrap();
    let mut log = LogStore::open(&dir).unwrap();
    assert_eq!(log.read_committed().await.unwrap(), None);
}

/// Regenerates `migrations/golden/v2/quorum/`. Never rerun this to make a failing golden test
/// pass: a failure means a v2 format changed (see `migrations/UPGRADING.md`).
#[tokio::test]
#[ignore = "writes migrations/golden/v2/quorum; run explicitly to regenerate"]
async fn regenerate() {
    let dir = golden_dir();
    fs::create_dir_all(&dir).unwrap();
    for name in FILES {
        let path = dir.join(name);
        if path.exists() {
            fs::remove_file(&path).unwrap();
        }
    }
    write_golden_dir(&dir).await;
}
