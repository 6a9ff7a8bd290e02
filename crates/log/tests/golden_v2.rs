//! Golden files for the formats transactions added or changed (`migrations/golden/v2/partition-txn/`):
//! the aborted-transaction index `.txnindex` (Kafka's layout, entry version 0), producer state
//! snapshot version 2 (`producer-state.json`) and the per-segment snapshot `<offset>.snapshot`
//! (the same document, written at each roll).
//!
//! The read tests decode the golden bytes with exact values; the writer test replays the
//! generator into a fresh directory and requires the same bytes. The golden files must never
//! be regenerated to make a test pass (see `migrations/UPGRADING.md`).
//!
//! Regenerate (only when creating the golden set): `cargo test -p strata-log --test golden_v2
//! -- --ignored regenerate`

use std::path::{Path, PathBuf};

use strata_log::{
    parse_txn_index, AbortedTxnEntry, Durability, LogConfig, PartitionLog, TxnMarker,
};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a002";
const T: i64 = 1_700_000_000_000;
const NOW: i64 = T + 1_000;
const P1: i64 = 4242;
const P2: i64 = 4343;
/// The files compared byte for byte.
const FILES: [&str; 3] = [
    "00000000000000000000.txnindex",
    "00000000000000000004.snapshot",
    "producer-state.json",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v2/partition-txn")
}

fn txn_batch(pid: i64, seq: i32, records: usize) -> Vec<u8> {
    let recs: Vec<_> = (0..records)
        .map(|i| (None, Some(&b"txn"[..]), i as i64))
        .collect();
    let mut out = strata_records::testing::build_batch(T, &recs, pid, 0, seq);
    let attrs = i16::from_be_bytes([out[21], out[22]]) | 0x10;
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = strata_records::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn marker(pid: i64, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        commit,
        coordinator_epoch: 5,
    }
}

/// P1 writes 0..1 and P2 writes 2, P1 aborts (3), a roll at 4, P2 commits (4), P1 opens a
/// new transaction at 5 and stays open; then a clean close.
fn write_golden(dir: &Path) {
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir, TOPIC_ID, config, NOW).unwrap();
    log.append(&mut txn_batch(P1, 0, 2), 0, NOW).unwrap();
    log.append(&mut txn_batch(P2, 0, 1), 0, NOW).unwrap();
    let m = |log: &mut PartitionLog, pid, commit| {
        log.append_marker(&marker(pid, commit), 0, NOW, Durability::PageCache)
            .unwrap()
            .base_offset
    };
    assert_eq!(m(&mut log, P1, false), 3);
    assert_eq!(m(&mut log, P2, true), 4);
    assert_eq!(
        log.sealed_segments()[0].end_offset,
        4,
        "the roll must be at 4"
    );
    log.append(&mut txn_batch(P1, 2, 1), 0, NOW).unwrap();
    assert_eq!(log.last_stable_offset(), 5);
    log.close().unwrap();
}

#[test]
fn txn_index_golden_decodes_exactly() {
    let bytes = std::fs::read(golden_dir().join(FILES[0])).unwrap();
    assert_eq!(bytes.len(), 34);
    assert_eq!(
        parse_txn_index(&bytes).unwrap(),
        vec![AbortedTxnEntry {
            producer_id: P1,
            first_offset: 0,
            last_offset: 3,
            last_stable_offset: 2,
        }]
    );
}

#[test]
fn producer_snapshots_golden_decode_exactly() {
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(golden_dir().join(name)).unwrap()).unwrap()
    };
    let at_roll = read(FILES[1]);
    assert_eq!(at_roll["version"], 2);
    assert_eq!(at_roll["end_offset"], 4);
    // At the roll (before P2's COMMIT), P2's transaction is open from 2; P1's ended at 3.
    assert_eq!(at_roll["producers"][0]["producer_id"], P1);
    assert!(at_roll["producers"][0].get("txn_first_offset").is_none());
    assert_eq!(at_roll["producers"][0]["coordinator_epoch"], 5);
    assert_eq!(at_roll["producers"][1]["txn_first_offset"], 2);
    assert_eq!(at_roll["producers"][1]["coordinator_epoch"], -1);
    assert_eq!(at_roll["producers"][1]["last_timestamp"], T);
    let closed = read(FILES[2]);
    assert_eq!(closed["version"], 2);
    assert_eq!(closed["end_offset"], 6);
    assert_eq!(closed["producers"][0]["txn_first_offset"], 5);
    assert_eq!(closed["producers"][1]["coordinator_epoch"], 5);
}

#[test]
fn golden_partition_reopens_with_its_transaction_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p-0");
    write_golden(&dir);
    let log = PartitionLog::open(&dir, TOPIC_ID, LogConfig::default(), NOW).unwrap();
    assert_eq!(log.last_stable_offset(), 5);
    assert_eq!(log.aborted_transactions(0, 6).len(), 1);
}

#[test]
fn v2_writer_output_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p-0");
    write_golden(&dir);
    for name in FILES {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(golden_dir().join(name)).unwrap(),
            "{name} differs from the v2 golden file"
        );
    }
}

#[test]
#[ignore = "writes migrations/golden/v2/partition-txn; run explicitly to regenerate"]
fn regenerate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p-0");
    write_golden(&dir);
    std::fs::create_dir_all(golden_dir()).unwrap();
    for name in FILES {
        std::fs::copy(dir.join(name), golden_dir().join(name)).unwrap();
    }
}
