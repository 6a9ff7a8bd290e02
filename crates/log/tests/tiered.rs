//! Tiering support: sealed segment listing, local retention gated on uploads, reads below the
//! local start, and a log start that survives reopen while data lives remotely.

mod common;

use common::*;
use strata_log::{Durability, LogConfig, LogError, ProducerSeed, TxnMarker};

fn tiered(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        remote_storage_enable: true,
        local_retention_bytes: 0,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn fill(log: &mut strata_log::PartitionLog, batches: usize) {
    for i in 0..batches {
        let mut b = batch(1_000 + i as i64, 2, 100);
        log.append(&mut b, 0, 1_000 + i as i64).unwrap();
    }
}

#[test]
fn local_retention_waits_for_uploads_and_keeps_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), tiered(600));
    fill(&mut log, 12);
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 3, "{} sealed", sealed.len());
    assert_eq!(sealed[0].base_offset, 0);
    for w in sealed.windows(2) {
        assert_eq!(w[0].end_offset, w[1].base_offset);
    }
    assert!(sealed[0].log_path.exists() && sealed[0].offset_index_path.exists());
    // Nothing uploaded: local retention (0 bytes) deletes nothing.
    assert_eq!(log.apply_retention(10_000).unwrap(), 0);
    assert_eq!(log.sealed_segments().len(), sealed.len());
    // Upload recorded for the first two segments: exactly those go, log start stays at 0.
    log.set_remote_upload_end(sealed[1].end_offset);
    assert_eq!(log.apply_retention(10_000).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.local_log_start_offset(), sealed[2].base_offset);
    assert!(!sealed[0].log_path.exists());
    match log.read(1, 1 << 20, log.high_watermark()) {
        Err(LogError::NotLocal {
            offset: 1,
            local_start,
        }) => assert_eq!(local_start, sealed[2].base_offset),
        other => panic!("{other:?}"),
    }
    let slice = log
        .read(sealed[2].base_offset, 1 << 20, log.high_watermark())
        .unwrap();
    assert_eq!(slice.first_offset, sealed[2].base_offset);
    let hw = log.high_watermark();
    let local_start = log.local_log_start_offset();
    drop(log);
    // A crash (no clean close) and reopen keep the global log start below the local one.
    let log = open(dir.path(), tiered(600));
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.local_log_start_offset(), local_start);
    assert_eq!(log.high_watermark(), hw);
}

#[test]
fn without_tiering_log_start_follows_local_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 600,
        retention_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    fill(&mut log, 12);
    let sealed = log.sealed_segments();
    let deleted = log.apply_retention(10_000).unwrap();
    assert_eq!(deleted, sealed.len());
    assert_eq!(log.log_start_offset(), log.local_log_start_offset());
    assert_eq!(log.log_start_offset(), sealed.last().unwrap().end_offset);
}

#[test]
fn total_retention_by_time_deletes_unuploaded_data_and_moves_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 100,
        ..tiered(600)
    };
    let mut log = open(dir.path(), config);
    fill(&mut log, 12);
    let sealed = log.sealed_segments();
    let deleted = log.apply_retention(1_000_000).unwrap();
    assert_eq!(deleted, sealed.len());
    assert_eq!(log.log_start_offset(), sealed.last().unwrap().end_offset);
}

#[test]
fn restored_partition_starts_at_remote_range() {
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("t-0");
    strata_log::restore_partition(
        &pdir,
        TOPIC,
        tiered(600),
        0,
        4242,
        ProducerSeed::default(),
        5,
    )
    .unwrap();
    let mut log = open(&pdir, tiered(600));
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.local_log_start_offset(), 4242);
    assert_eq!(log.log_end_offset(), 4242);
    assert!(matches!(
        log.read(10, 100, 4242),
        Err(LogError::NotLocal { .. })
    ));
    let mut b = batch(9, 1, 10);
    assert_eq!(log.append(&mut b, 0, 9).unwrap().base_offset, 4242);
    assert!(
        strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, 1, ProducerSeed::default(), 5)
            .is_err(),
        "not over existing data"
    );
}

#[test]
fn restored_partition_keeps_idempotent_producer_state() {
    // The producer wrote batches with sequences 0..=2 and 3..=5 at offsets 100 and 103.
    let mut h = strata_records::BatchHeader::parse(&idem(77, 1, 0, 3)).unwrap();
    h.base_offset = 100;
    let mut h2 = strata_records::BatchHeader::parse(&idem(77, 1, 3, 3)).unwrap();
    h2.base_offset = 103;
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("t-0");
    let seed = ProducerSeed {
        snapshot: None,
        history: &[h, h2],
    };
    let restored =
        strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, 106, seed, 5).unwrap();
    assert!(!restored.from_snapshot && restored.aborted.is_empty());
    let mut log = open(&pdir, tiered(600));
    // A retry of the last batch is a duplicate with its original offsets.
    let mut retry = idem(77, 1, 3, 3);
    let info = log.append(&mut retry, 0, 9).unwrap();
    assert!(info.duplicate);
    assert_eq!((info.base_offset, info.last_offset), (103, 105));
    // The next sequence continues; a gap is out of order.
    let mut gap = idem(77, 1, 9, 1);
    assert!(matches!(
        log.append(&mut gap, 0, 9),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    let mut next = idem(77, 1, 6, 2);
    assert_eq!(log.append(&mut next, 0, 9).unwrap().base_offset, 106);
}

/// The sealed segment's `<end>.snapshot` of a log whose producer 1000 has a transaction open
/// from offset 0, and that end offset.
fn snapshot_with_open_txn(dir: &std::path::Path) -> (i64, Vec<u8>) {
    let mut log = open(dir, tiered(600));
    let mut t = txn(1000, 3, 0, 3);
    assert_eq!(log.append(&mut t, 0, 1_000).unwrap().base_offset, 0);
    fill(&mut log, 8);
    let sealed = log.sealed_segments();
    let first = &sealed[0];
    let path = first
        .producer_snapshot_path
        .clone()
        .expect("a roll takes a snapshot");
    (first.end_offset, std::fs::read(path).unwrap())
}

#[test]
fn restore_from_a_remote_snapshot_keeps_epochs_and_aborts_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (end, snapshot) = snapshot_with_open_txn(&dir.path().join("src-0"));
    assert!(end > 3, "{end}");
    let pdir = dir.path().join("t-0");
    let seed = ProducerSeed {
        snapshot: Some((end, &snapshot)),
        history: &[],
    };
    let restored =
        strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, end, seed, 5).unwrap();
    // The transaction open at the restored end (from 0) can never end: it is aborted at `end`.
    assert_eq!(
        restored,
        strata_log::RestoredProducers {
            from_snapshot: true,
            aborted: vec![(1000, 0)]
        }
    );
    let mut log = open(&pdir, tiered(600));
    assert_eq!(log.log_end_offset(), end + 1);
    assert_eq!(log.local_log_start_offset(), end);
    assert_eq!(log.open_transactions(), 0);
    assert_eq!(log.last_stable_offset(), end + 1);
    // Its ABORT is in the restored log's index, covering the remote offsets.
    assert_eq!(
        log.aborted_transactions(0, end + 1),
        vec![strata_log::AbortedTxn {
            producer_id: 1000,
            first_offset: 0
        }]
    );
    // The epoch came from the snapshot: an older one is fenced, the same one goes on.
    let p = log.producers();
    assert_eq!((p[0].producer_id, p[0].producer_epoch), (1000, 3));
    let mut stale = txn(1000, 2, 0, 1);
    assert!(log.append(&mut stale, 0, 1_000).is_err());
    let mut next = txn(1000, 3, 3, 1);
    assert_eq!(
        log.append(&mut next, 0, 1_000).unwrap().base_offset,
        end + 1
    );
    assert_eq!(
        log.last_stable_offset(),
        end + 1,
        "a new transaction from end + 1"
    );
    let marker = TxnMarker {
        producer_id: 1000,
        producer_epoch: 3,
        commit: true,
        coordinator_epoch: 1,
    };
    log.append_marker(&marker, 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(log.last_stable_offset(), end + 3);
}

#[test]
fn a_snapshot_for_another_offset_falls_back_to_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let (end, snapshot) = snapshot_with_open_txn(&dir.path().join("src-0"));
    let mut h = strata_records::BatchHeader::parse(&idem(77, 1, 0, 3)).unwrap();
    h.base_offset = 100;
    let pdir = dir.path().join("t-0");
    // The snapshot was taken at `end`, the restore is at `end + 200`: not used.
    let seed = ProducerSeed {
        snapshot: Some((end, &snapshot)),
        history: &[h],
    };
    let restored =
        strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, end + 200, seed, 5).unwrap();
    assert!(!restored.from_snapshot && restored.aborted.is_empty());
    let log = open(&pdir, tiered(600));
    assert_eq!(log.open_transactions(), 0);
    assert_eq!(log.last_stable_offset(), end + 200);
    let p = log.producers();
    assert_eq!((p.len(), p[0].producer_id, p[0].last_sequence), (1, 77, 2));
}

#[test]
fn restart_from_tier_seeds_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (end, snapshot) = snapshot_with_open_txn(&dir.path().join("src-0"));
    let mut log = open(&dir.path().join("t-0"), tiered(600));
    fill(&mut log, 1);
    let seed = ProducerSeed {
        snapshot: Some((end, &snapshot)),
        history: &[],
    };
    assert!(log.restart_from_tier(0, end, seed).unwrap());
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.local_log_start_offset(), end);
    assert_eq!(log.open_transactions(), 1);
    assert_eq!(log.producers()[0].current_txn_start_offset, 0);
}
