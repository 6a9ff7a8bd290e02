//! Tiering support: sealed segment listing, local retention gated on uploads, reads below the
//! local start, and a log start that survives reopen while data lives remotely.

mod common;

use common::*;
use strata_log::{LogConfig, LogError};

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
    strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, 4242, &[], 5).unwrap();
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
        strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, 1, &[], 5).is_err(),
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
    strata_log::restore_partition(&pdir, TOPIC, tiered(600), 0, 106, &[h, h2], 5).unwrap();
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
