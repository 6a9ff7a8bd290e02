//! Append and read: byte-exact round trips, batch-containing reads, limits and bounds.

mod common;

use common::*;
use strata_log::{LogConfig, LogError};

#[test]
fn round_trip_is_byte_exact_with_patched_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let originals: Vec<Vec<u8>> = (0..3)
        .map(|i| batch(5_000 + i, i as usize + 1, 10))
        .collect();
    let mut expected = Vec::new();
    let mut base = 0;
    for original in &originals {
        let mut buf = original.clone();
        let info = log.append(&mut buf, 3, 5_000).unwrap();
        assert_eq!(info.base_offset, base);
        assert!(!info.duplicate);
        assert_eq!(info.log_append_time, -1);
        assert_eq!(info.log_start_offset, 0);
        assert_eq!(buf, patched(original, base, 3));
        expected.extend(patched(original, base, 3));
        base = info.last_offset + 1;
    }
    assert_eq!(base, 6);
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(log.size_bytes(), expected.len() as u64);

    let slice = log.read(0, usize::MAX, log.high_watermark()).unwrap();
    assert_eq!(slice.position, 0);
    assert_eq!(slice.first_offset, 0);
    assert_eq!(slice.len, expected.len());
    assert_eq!(slice.read_to_vec().unwrap(), expected);
}

#[test]
fn read_from_middle_of_batch_returns_containing_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let a = batch(1, 2, 10);
    let b = batch(2, 3, 10);
    log.append(&mut a.clone(), 0, 1).unwrap(); // offsets 0..=1
    log.append(&mut b.clone(), 0, 1).unwrap(); // offsets 2..=4
    for offset in 2..=4 {
        let slice = log.read(offset, usize::MAX, 5).unwrap();
        assert_eq!(slice.position, a.len() as u64);
        assert_eq!(slice.first_offset, 2);
        assert_eq!(slice.read_to_vec().unwrap(), patched(&b, 2, 0));
    }
    let slice = log.read(1, usize::MAX, 5).unwrap();
    assert_eq!((slice.position, slice.len), (0, a.len() + b.len()));
}

#[test]
fn max_bytes_limits_but_returns_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    for i in 0..4 {
        let mut buf = batch(i, 1, 100);
        assert_eq!(buf.len(), BATCH_170);
        log.append(&mut buf, 0, 1).unwrap();
    }
    let len = |max| log.read(0, max, 4).unwrap().len;
    assert_eq!(len(1), 170);
    assert_eq!(len(0), 170);
    assert_eq!(len(339), 170);
    assert_eq!(len(340), 340);
    assert_eq!(len(679), 510);
    assert_eq!(len(10_000), 680);
    let slice = log.read(3, 1, 4).unwrap();
    assert_eq!(
        (slice.position, slice.len, slice.first_offset),
        (510, 170, 3)
    );
}

#[test]
fn upper_bound_and_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    for i in 0..3 {
        log.append(&mut batch(i, 2, 10), 0, 1).unwrap(); // 0-1, 2-3, 4-5
    }
    let per = batch(0, 2, 10).len();
    assert_eq!(log.read(0, usize::MAX, 4).unwrap().len, 2 * per);
    assert_eq!(log.read(0, usize::MAX, 3).unwrap().len, per);
    let empty = log.read(4, usize::MAX, 4).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.first_offset, 4);
    let at_end = log.read(6, usize::MAX, 6).unwrap();
    assert_eq!((at_end.len, at_end.position), (0, 3 * per as u64));
    assert_eq!(at_end.read_to_vec().unwrap(), Vec::<u8>::new());
    let err = log.read(7, 100, 6).unwrap_err();
    assert!(matches!(
        err,
        LogError::OffsetOutOfRange {
            offset: 7,
            log_start: 0,
            log_end: 6
        }
    ));
    assert_eq!(err.kafka_error_code(), 1);
    assert!(matches!(
        log.read(-1, 100, 6),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn offset_index_is_sparse_and_lookups_work_for_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1024,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for i in 0..200 {
        log.append(&mut batch(10_000 + i, 1, 100), 0, 1).unwrap();
    }
    // An entry is written before a batch once > 1024 bytes (7 batches) accumulated: batches
    // 7, 14, ..., 196 → 28 entries of (relative offset, position).
    let index = std::fs::read(dir.path().join(seg(0, "index"))).unwrap();
    assert_eq!(index.len(), 28 * 8);
    for (k, entry) in index.chunks(8).enumerate() {
        let offset = 7 * (k as u32 + 1);
        assert_eq!(&entry[..4], &offset.to_be_bytes());
        assert_eq!(&entry[4..], &(offset * 170).to_be_bytes());
    }
    let timeindex = std::fs::read(dir.path().join(seg(0, "timeindex"))).unwrap();
    assert_eq!(timeindex.len(), 28 * 12);
    assert_eq!(&timeindex[..8], &10_007i64.to_be_bytes());
    assert_eq!(&timeindex[8..12], &7u32.to_be_bytes());
    for offset in 0..200 {
        let slice = log.read(offset, 1, 200).unwrap();
        assert_eq!(slice.position, offset as u64 * 170, "offset {offset}");
        assert_eq!(slice.len, 170);
        assert_eq!(slice.first_offset, offset);
        let bytes = slice.read_to_vec().unwrap();
        assert_eq!(&bytes[..8], &offset.to_be_bytes());
    }
}

#[test]
fn oversized_batch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 169,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let err = log.append(&mut batch(0, 1, 100), 0, 1).unwrap_err();
    assert!(matches!(
        err,
        LogError::MessageTooLarge {
            size: 170,
            max: 169
        }
    ));
    assert_eq!(err.kafka_error_code(), 10);
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn log_append_time_stamps_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type_log_append: true,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let info = log.append(&mut batch(5, 2, 10), 1, 777_000).unwrap();
    assert_eq!(info.log_append_time, 777_000);
    let bytes = log.read(0, usize::MAX, 2).unwrap().read_to_vec().unwrap();
    let header = strata_records::BatchHeader::parse(&bytes).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, 777_000);
    assert_eq!(strata_records::compute_crc(&bytes), header.crc);
    assert_eq!(
        log.offset_for_timestamp(777_000).unwrap(),
        Some((0, 777_000))
    );
}

#[test]
fn flush_every_batch_policy_appends() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 1,
        flush_ms: 0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for i in 0..3 {
        log.append(&mut batch(i, 1, 10), 0, i).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn append_shared_writes_the_same_bytes_without_touching_the_input() {
    for log_append_time in [false, true] {
        let config = LogConfig {
            message_timestamp_type_log_append: log_append_time,
            ..LogConfig::default()
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let mut in_place = open(a.path(), config.clone());
        let mut shared = open(b.path(), config);
        for i in 0..4 {
            let original = batch(7_000 + i, 3, 50);
            let mut patched = original.clone();
            let x = in_place.append(&mut patched, 2, 9_000).unwrap();
            let y = shared.append_shared(&original, 2, 9_000).unwrap();
            assert_eq!(
                (x.base_offset, x.last_offset, x.log_append_time),
                (y.base_offset, y.last_offset, y.log_append_time)
            );
            assert_eq!(original, batch(7_000 + i, 3, 50), "input untouched");
        }
        let hw = in_place.high_watermark();
        let ra = in_place
            .read(0, 1 << 20, hw)
            .unwrap()
            .read_to_vec()
            .unwrap();
        let rb = shared.read(0, 1 << 20, hw).unwrap().read_to_vec().unwrap();
        assert_eq!(ra, rb);
        for item in strata_records::batches(&rb) {
            let (pos, h) = item.unwrap();
            let len = h.total_len();
            assert_eq!(
                strata_records::compute_crc(&rb[pos..pos + len]),
                h.crc,
                "CRC valid"
            );
            assert_eq!(h.is_log_append_time(), log_append_time);
        }
    }
}
