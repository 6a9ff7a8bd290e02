//! Transactions on the partition side: open transactions and the last stable offset, COMMIT
//! and ABORT markers, the aborted-transaction index, and their survival through close, crash,
//! truncation, retention and the follower path. Offsets are exact.

mod common;

use common::{batch, idem, open, seg, small_segments, txn, TOPIC};
use strata_log::{
    AbortedTxn, Durability, LogConfig, LogError, PartitionLog, ProducerInfo, TxnMarker,
};

const P1: i64 = 1000;
const P2: i64 = 2000;

fn marker(pid: i64, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        commit,
        coordinator_epoch: 7,
    }
}

fn end_txn(log: &mut PartitionLog, pid: i64, commit: bool) -> i64 {
    let info = log
        .append_marker(&marker(pid, commit), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(info.base_offset, info.last_offset);
    info.base_offset
}

fn append(log: &mut PartitionLog, mut b: Vec<u8>) -> (i64, i64) {
    let info = log.append(&mut b, 0, 1_000).unwrap();
    (info.base_offset, info.last_offset)
}

fn aborted(pid: i64, first: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
    }
}

#[test]
fn open_transaction_holds_the_lso_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(append(&mut log, batch(0, 2, 10)), (0, 1));
    assert_eq!(append(&mut log, txn(P1, 0, 0, 3)), (2, 4));
    assert_eq!(append(&mut log, batch(0, 1, 10)), (5, 5));
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(
        log.last_stable_offset(),
        2,
        "the open transaction hides 2.."
    );
    assert_eq!(log.open_transactions(), 1);
    assert_eq!(append(&mut log, txn(P1, 0, 3, 1)), (6, 6));
    assert_eq!(log.last_stable_offset(), 2);

    assert_eq!(end_txn(&mut log, P1, true), 7);
    assert_eq!(log.high_watermark(), 8);
    assert_eq!(log.last_stable_offset(), 8);
    assert_eq!(log.open_transactions(), 0);
    assert!(log.aborted_transactions(0, 8).is_empty());
    assert!(!dir.path().join(seg(0, "txnindex")).exists());
    let p = log.producers();
    assert_eq!(
        p,
        vec![ProducerInfo {
            producer_id: P1,
            producer_epoch: 0,
            last_sequence: 3,
            last_timestamp: 2_000,
            coordinator_epoch: 7,
            current_txn_start_offset: -1,
        }]
    );
}

#[test]
fn abort_records_an_index_entry_and_the_lso_follows_the_oldest_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(append(&mut log, txn(P1, 0, 0, 2)), (0, 1));
    assert_eq!(append(&mut log, txn(P2, 0, 0, 1)), (2, 2));
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!(end_txn(&mut log, P1, false), 3);
    assert_eq!(log.last_stable_offset(), 2, "P2 is still open");
    assert_eq!(log.aborted_transactions(0, 4), vec![aborted(P1, 0)]);
    assert_eq!(log.aborted_transactions(2, 4), vec![aborted(P1, 0)]);
    assert!(log.aborted_transactions(4, 10).is_empty());
    let index = std::fs::read(dir.path().join(seg(0, "txnindex"))).unwrap();
    let entries = strata_log::parse_txn_index(&index).unwrap();
    assert_eq!(index.len(), 34);
    assert_eq!((entries[0].producer_id, entries[0].first_offset), (P1, 0));
    assert_eq!(
        (entries[0].last_offset, entries[0].last_stable_offset),
        (3, 2)
    );
    assert_eq!(end_txn(&mut log, P2, true), 4);
    assert_eq!(log.last_stable_offset(), 5);
    let p2 = log.producers().into_iter().find(|p| p.producer_id == P2);
    assert_eq!(p2.unwrap().current_txn_start_offset, -1);
}

#[test]
fn transaction_rules_refuse_mixed_batches_and_stale_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    append(&mut log, txn(P1, 1, 0, 1));
    let err = log.append(&mut idem(P1, 1, 1, 1), 0, 1_000).unwrap_err();
    assert!(matches!(err, LogError::InvalidTxnState { .. }), "{err}");
    assert_eq!(err.kafka_error_code(), 48);
    let stale = TxnMarker {
        producer_epoch: 0,
        ..marker(P1, true)
    };
    let err = log
        .append_marker(&stale, 0, 2_000, Durability::PageCache)
        .unwrap_err();
    assert_eq!(err.kafka_error_code(), 47, "{err}");
    assert_eq!(log.log_end_offset(), 1, "nothing written");
    let current = TxnMarker {
        producer_epoch: 1,
        ..marker(P1, true)
    };
    log.append_marker(&current, 0, 2_000, Durability::PageCache)
        .unwrap();
    let fenced = TxnMarker {
        coordinator_epoch: 6,
        ..current
    };
    let err = log
        .append_marker(&fenced, 0, 2_000, Durability::PageCache)
        .unwrap_err();
    assert_eq!(err.kafka_error_code(), 52, "{err}");
    // After the commit the producer writes non-transactionally again.
    append(&mut log, idem(P1, 1, 1, 1));
    // Clients can never send a control batch.
    let mut forged = strata_records::build_end_txn_marker(
        P1,
        1,
        0,
        strata_records::EndTxnMarker {
            commit: true,
            coordinator_epoch: 9,
        },
    );
    assert!(log.append(&mut forged, 0, 1_000).is_err());
}

#[test]
fn an_acks_all_marker_is_held_until_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    append(&mut log, txn(P1, 0, 0, 1));
    let info = log
        .append_marker(&marker(P1, true), 0, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!(info.sync_end, Some(2));
    assert_eq!(log.high_watermark(), 1);
    assert_eq!(
        log.last_stable_offset(),
        0,
        "the marker is not below the HW yet"
    );
    let plan = log.sync_plan().unwrap();
    plan.execute().unwrap();
    log.complete_sync(&plan, Ok(())).unwrap();
    assert_eq!((log.high_watermark(), log.last_stable_offset()), (2, 2));
}

/// A log with: P1 aborted in segment 0, a roll, P2 committed, P1 (epoch 0) open again.
fn write_mixed(log: &mut PartitionLog) {
    assert_eq!(append(log, txn(P1, 0, 0, 2)), (0, 1));
    assert_eq!(append(log, batch(0, 1, 10)), (2, 2));
    assert_eq!(end_txn(log, P1, false), 3);
    assert_eq!(append(log, txn(P2, 0, 0, 1)), (4, 4));
    assert_eq!(end_txn(log, P2, true), 5);
    assert_eq!(append(log, txn(P1, 0, 2, 1)), (6, 6));
    assert_eq!(append(log, txn(P2, 0, 1, 1)), (7, 7));
    assert_eq!(end_txn(log, P2, false), 8);
}

fn state(log: &PartitionLog) -> (i64, Vec<ProducerInfo>, Vec<AbortedTxn>, i64) {
    (
        log.last_stable_offset(),
        log.producers(),
        log.aborted_transactions(0, i64::MAX),
        log.log_end_offset(),
    )
}

#[test]
fn clean_close_and_crash_recovery_rebuild_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    // ~200-byte segments: every batch rolls, so there are per-segment snapshots.
    let config = small_segments(200);
    let mut log = open(dir.path(), config.clone());
    write_mixed(&mut log);
    assert!(log.segment_count() > 2);
    let expected = state(&log);
    assert_eq!(expected.0, 6, "P1's second transaction is open");
    assert_eq!(expected.2, vec![aborted(P1, 0), aborted(P2, 7)]);
    let files = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".txnindex"))
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect();
        names.sort();
        names
    };
    let indexes = files(dir.path());
    assert_eq!(indexes.len(), 2);

    log.close().unwrap();
    let log = open(dir.path(), config.clone());
    assert!(!log.open_report().producer_state_rebuilt);
    assert_eq!(state(&log), expected);

    // Crash: no close; the replay from the latest roll snapshot gives the same state and
    // rewrites the same index bytes.
    drop(log);
    let log = open(dir.path(), config.clone());
    assert!(log.open_report().producer_state_rebuilt);
    assert_eq!(state(&log), expected);
    assert_eq!(files(dir.path()), indexes);

    // Crash without any snapshot or index: a replay from the first segment rebuilds both
    // indexes byte for byte.
    drop(log);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let path = e.unwrap().path();
        if path
            .extension()
            .is_some_and(|x| x == "snapshot" || x == "txnindex")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let log = PartitionLog::open(dir.path(), TOPIC, config, 1_000).unwrap();
    assert_eq!(state(&log), expected);
    assert_eq!(files(dir.path()), indexes);
}

#[test]
fn truncation_removes_index_entries_and_reopens_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(200));
    write_mixed(&mut log);
    assert_eq!(log.truncate_to(8).unwrap(), 8);
    assert_eq!(log.aborted_transactions(0, i64::MAX), vec![aborted(P1, 0)]);
    assert_eq!(log.last_stable_offset(), 6);
    let p2 = log.producers().into_iter().find(|p| p.producer_id == P2);
    assert_eq!(
        p2.unwrap().current_txn_start_offset,
        7,
        "P2's abort was cut"
    );
    assert_eq!(log.truncate_to(3).unwrap(), 3);
    assert!(log.aborted_transactions(0, i64::MAX).is_empty());
    assert_eq!(log.last_stable_offset(), 0, "P1's abort was cut");
    assert!(!dir.path().join(seg(0, "txnindex")).exists());
    // No snapshot above the new end is left behind.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".snapshot") {
            assert!(stem.parse::<i64>().unwrap() <= 3, "{name}");
        }
    }
}

#[test]
fn retention_deletes_index_with_segment_and_keeps_the_seed_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(200));
    write_mixed(&mut log);
    let start = log.delete_records_before(4).unwrap();
    assert_eq!(start, 4);
    assert!(!dir.path().join(seg(0, "txnindex")).exists());
    assert_eq!(log.aborted_transactions(4, i64::MAX), vec![aborted(P2, 7)]);
    let first = log.sealed_segments()[0].base_offset;
    assert!(dir.path().join(seg(first, "snapshot")).exists());
    // A crash now replays from the seed snapshot: P1's open transaction is still known.
    let expected = state(&log);
    drop(log);
    let log = open(dir.path(), small_segments(200));
    assert_eq!(state(&log), expected);
    assert_eq!(log.last_stable_offset(), 6);
}

#[test]
fn follower_copies_keep_the_same_transaction_state() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), small_segments(200));
    write_mixed(&mut leader);
    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower = open(follower_dir.path(), small_segments(200));
    let mut offset = 0;
    while offset < leader.log_end_offset() {
        let slice = leader.read(offset, 1 << 20, i64::MAX).unwrap();
        let bytes = slice.read_to_vec().unwrap();
        let copied = follower
            .append_as_follower(&bytes, 1_000, Durability::PageCache)
            .unwrap();
        offset = copied.log_end;
    }
    assert_eq!(follower.log_end_offset(), 9);
    assert_eq!(state(&follower), state(&leader));
    let indexes = |dir: &std::path::Path| {
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "txnindex"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(indexes(follower_dir.path()).len(), 2);
    assert_eq!(indexes(follower_dir.path()), indexes(leader_dir.path()));
}
