//! Segment rolling (by size and age), retention (by time and size) and DeleteRecords.

mod common;

use common::*;
use strata_log::{LogConfig, LogError};

#[test]
fn rolls_by_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(500));
    for i in 0..10 {
        log.append(&mut batch(i, 1, 100), 0, 1).unwrap();
    }
    // 2 batches of 170 bytes fit in 500; the third rolls.
    assert_eq!(log.segment_count(), 5);
    for base in [0, 2, 4, 6, 8] {
        let len = std::fs::metadata(dir.path().join(seg(base, "log")))
            .unwrap()
            .len();
        assert_eq!(len, 340, "segment {base}");
        assert!(dir.path().join(seg(base, "index")).exists());
        assert!(dir.path().join(seg(base, "timeindex")).exists());
    }
    // A read never spans segments.
    let slice = log.read(0, usize::MAX, 10).unwrap();
    assert_eq!((slice.position, slice.len), (0, 340));
    let slice = log.read(3, usize::MAX, 10).unwrap();
    assert_eq!(
        (slice.position, slice.len, slice.first_offset),
        (170, 170, 3)
    );
    let slice = log.read(4, usize::MAX, 10).unwrap();
    assert_eq!((slice.position, slice.len, slice.first_offset), (0, 340, 4));
    assert_eq!(log.size_bytes(), 1700);
}

#[test]
fn rolls_by_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    log.append(&mut batch(10_000, 1, 10), 0, 10_000).unwrap();
    log.append(&mut batch(10_500, 1, 10), 0, 10_500).unwrap();
    log.append(&mut batch(11_000, 1, 10), 0, 11_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&mut batch(11_001, 1, 10), 0, 11_001).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert!(dir.path().join(seg(3, "log")).exists());
    // Retention also rolls an aged, non-empty active segment (and deletes nothing here).
    assert_eq!(log.apply_retention(12_002).unwrap(), 0);
    assert_eq!(log.segment_count(), 3);
    assert!(dir.path().join(seg(4, "log")).exists());
    // An empty active segment is never rolled.
    assert_eq!(log.apply_retention(20_000).unwrap(), 0);
    assert_eq!(log.segment_count(), 3);
}

#[test]
fn retention_by_time_advances_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1_000,
        ..small_segments(500)
    };
    let mut log = open(dir.path(), config);
    for ts in [1_000, 1_001, 2_000, 2_001, 3_000] {
        log.append(&mut batch(ts, 1, 100), 0, ts).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    // Segment 0 (max ts 1001) is 2000 ms old; segment 2 (max 2001) exactly 1000: kept.
    assert_eq!(log.apply_retention(3_001).unwrap(), 1);
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.log_start_offset(), 2);
    assert!(!dir.path().join(seg(0, "log")).exists());
    assert!(!dir.path().join(seg(0, "index")).exists());
    assert!(!dir.path().join(seg(0, "timeindex")).exists());
    let checkpoint =
        std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(checkpoint, "0\n2\n");
    assert!(matches!(
        log.read(1, 100, 5),
        Err(LogError::OffsetOutOfRange { log_start: 2, .. })
    ));
    assert_eq!(log.read(2, 100, 5).unwrap().first_offset, 2);
    // The active segment is never deleted, however old.
    assert_eq!(log.apply_retention(1_000_000).unwrap(), 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.apply_retention(2_000_000).unwrap(), 0);
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn retention_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: 700,
        retention_ms: -1,
        ..small_segments(500)
    };
    let mut log = open(dir.path(), config);
    for i in 0..10 {
        log.append(&mut batch(i, 1, 100), 0, 1).unwrap();
    }
    assert_eq!(log.size_bytes(), 1700);
    // 1000 bytes over: dropping 340 + 340 leaves 320 over, the next 340 would undershoot.
    assert_eq!(log.apply_retention(2).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.size_bytes(), 1020);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.apply_retention(2).unwrap(), 0);
}

#[test]
fn delete_records_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(500));
    for i in 0..6 {
        log.append(&mut batch(i, 1, 100), 0, 1).unwrap(); // segments 0-1, 2-3, 4-5
    }
    let held = log.read(0, usize::MAX, 6).unwrap();
    assert_eq!(log.delete_records_before(3).unwrap(), 3);
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.segment_count(), 2);
    assert!(!dir.path().join(seg(0, "log")).exists());
    // A slice taken before the deletion stays readable through its handle.
    assert_eq!(held.read_to_vec().unwrap().len(), 340);
    assert!(matches!(
        log.read(2, 100, 6),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    let slice = log.read(3, 1, 6).unwrap();
    assert_eq!((slice.position, slice.first_offset), (170, 3));
    // Lower targets are no-ops; beyond the high watermark is out of range.
    assert_eq!(log.delete_records_before(1).unwrap(), 3);
    let err = log.delete_records_before(7).unwrap_err();
    assert_eq!(err.kafka_error_code(), 1);
    // -1 means the high watermark; the active segment survives, empty of readable records.
    assert_eq!(log.delete_records_before(-1).unwrap(), 6);
    assert_eq!(log.segment_count(), 1);
    assert!(log.read(6, 100, 6).unwrap().is_empty());
    log.close().unwrap();
    let log = open(dir.path(), small_segments(500));
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn truncate_all_and_delete_removes_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("topic-0");
    let mut log = open(&part, LogConfig::default());
    log.append(&mut batch(0, 1, 10), 0, 1).unwrap();
    log.truncate_all_and_delete().unwrap();
    assert!(!part.exists());
}
