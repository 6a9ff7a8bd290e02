//! ListOffsets by timestamp and max timestamp, through the time index and across segments.

mod common;

use common::*;
use strata_log::LogConfig;
use strata_records::testing::build_batch;

fn ts_batch(base: i64, deltas: &[i64]) -> Vec<u8> {
    let recs: Vec<_> = deltas.iter().map(|&d| (None, Some(&b"x"[..]), d)).collect();
    build_batch(base, &recs, -1, -1, -1)
}

#[test]
fn offset_for_timestamp_uses_time_index_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 256,
        ..small_segments(2_000)
    };
    let mut log = open(dir.path(), config);
    for i in 0..40 {
        log.append(&mut batch(10_000 + 10 * i, 1, 100), 0, 1)
            .unwrap();
    }
    assert!(log.segment_count() > 1);
    for i in 0..40 {
        let ts = 10_000 + 10 * i;
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), Some((i, ts)));
        if i > 0 {
            assert_eq!(log.offset_for_timestamp(ts - 9).unwrap(), Some((i, ts)));
        }
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 10_000)));
    assert_eq!(log.offset_for_timestamp(10_391).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((39, 10_390)));
}

#[test]
fn timestamps_inside_a_batch_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append(&mut ts_batch(100, &[0, 1]), 0, 1).unwrap(); // 0:100 1:101
    log.append(&mut ts_batch(100, &[10, 50, 5]), 0, 1).unwrap(); // 2:110 3:150 4:105
    log.append(&mut ts_batch(120, &[0]), 0, 1).unwrap(); // 5:120
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((1, 101)));
    assert_eq!(log.offset_for_timestamp(104).unwrap(), Some((2, 110)));
    assert_eq!(log.offset_for_timestamp(111).unwrap(), Some((3, 150)));
    assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((3, 150)));
    assert_eq!(log.offset_for_timestamp(151).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((3, 150)));
    log.delete_records_before(4).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((4, 105)));
    assert_eq!(log.offset_for_timestamp(106).unwrap(), Some((5, 120)));
}

#[test]
fn empty_log_has_no_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
}

#[test]
fn time_queries_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(500);
    let mut log = open(dir.path(), config.clone());
    for i in 0..7 {
        log.append(&mut batch(1_000 + i, 1, 100), 0, 1).unwrap();
    }
    log.close().unwrap();
    let log = open(dir.path(), config);
    assert_eq!(log.max_timestamp().unwrap(), Some((6, 1_006)));
    assert_eq!(log.offset_for_timestamp(1_003).unwrap(), Some((3, 1_003)));
}
