//! Crash recovery: torn and corrupt tails, lost indexes, and the clean-shutdown fast path.
//! A "crash" is dropping the log without `close()`: written data is in the page cache but no
//! clean marker exists.

mod common;

use std::fs::{self, OpenOptions};

use common::*;
use strata_log::LogConfig;

fn write_five(dir: &std::path::Path, config: LogConfig) {
    let mut log = open(dir, config);
    for i in 0..5 {
        log.append(&mut batch(2_000 + i, 1, 100), 0, 1).unwrap();
    }
    drop(log);
}

fn flip(path: &std::path::Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_tail_is_cut_to_last_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_five(dir.path(), LogConfig::default());
    let log_file = dir.path().join(seg(0, "log"));
    OpenOptions::new()
        .write(true)
        .open(&log_file)
        .unwrap()
        .set_len(4 * 170 + 50)
        .unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let report = log.open_report();
    assert!(!report.clean_shutdown);
    assert_eq!(report.truncated_bytes, 50);
    assert_eq!(report.scanned_batches, 4);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.high_watermark(), 4);
    assert_eq!(fs::metadata(&log_file).unwrap().len(), 680);
    let info = log.append(&mut batch(3_000, 1, 100), 0, 1).unwrap();
    assert_eq!(info.base_offset, 4);
    let slice = log.read(4, 1, 5).unwrap();
    assert_eq!((slice.position, slice.len), (680, 170));
}

#[test]
fn corrupt_batch_truncates_it_and_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    write_five(dir.path(), LogConfig::default());
    let log_file = dir.path().join(seg(0, "log"));
    flip(&log_file, 4 * 170 + 100); // payload of the last batch
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.open_report().truncated_bytes, 170);
    assert_eq!(log.log_end_offset(), 4);
    drop(log);

    flip(&log_file, 2 * 170 + 30); // a CRC-covered header byte of batch 2
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.open_report().truncated_bytes, 340);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(fs::metadata(&log_file).unwrap().len(), 340);
    assert_eq!(log.read(0, usize::MAX, 2).unwrap().len, 340);
}

#[test]
fn lost_indexes_are_rebuilt_identically() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 300,
        ..small_segments(1_500)
    };
    let mut log = open(dir.path(), config.clone());
    for i in 0..20 {
        log.append(&mut batch(5_000 + i, 1, 100), 0, 1).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    log.close().unwrap();
    let bases = [0, 8, 16];
    let mut originals = Vec::new();
    for base in bases {
        for ext in ["index", "timeindex"] {
            let path = dir.path().join(seg(base, ext));
            originals.push(fs::read(&path).unwrap());
            fs::remove_file(&path).unwrap();
        }
    }
    assert!(originals.iter().any(|bytes| !bytes.is_empty()));

    let log = open(dir.path(), config.clone());
    let report = log.open_report();
    assert!(report.clean_shutdown);
    assert_eq!(report.rebuilt_indexes, 3);
    assert_eq!(report.scanned_batches, 20);
    let mut rebuilt = Vec::new();
    for base in bases {
        for ext in ["index", "timeindex"] {
            rebuilt.push(fs::read(dir.path().join(seg(base, ext))).unwrap());
        }
    }
    assert_eq!(rebuilt, originals);
    for offset in 0..20 {
        let slice = log.read(offset, 1, 20).unwrap();
        assert_eq!(slice.first_offset, offset);
        assert_eq!(slice.position, (offset as u64 % 8) * 170);
    }
    assert_eq!(log.offset_for_timestamp(5_011).unwrap(), Some((11, 5_011)));
    assert_eq!(log.max_timestamp().unwrap(), Some((19, 5_019)));

    // A corrupt (partial-entry) index is rebuilt too.
    drop(log);
    let index = dir.path().join(seg(8, "index"));
    let mut bytes = fs::read(&index).unwrap();
    bytes.push(0);
    fs::write(&index, bytes).unwrap();
    let log = open(dir.path(), config);
    // Dropped without close: every segment is recovered, so all three are rebuilt.
    assert_eq!(log.open_report().rebuilt_indexes, 3);
    assert_eq!(log.read(12, 1, 20).unwrap().first_offset, 12);
}

#[test]
fn clean_close_reopens_without_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(500);
    let mut log = open(dir.path(), config.clone());
    for i in 0..5 {
        log.append(&mut batch(2_000 + i, 1, 100), 0, 1).unwrap();
    }
    log.close().unwrap();
    let marker = dir.path().join(".clean_shutdown");
    assert_eq!(fs::read_to_string(&marker).unwrap(), "version: 1\n");
    // Damage the active segment's last payload: a clean open must not CRC-scan it.
    flip(&dir.path().join(seg(4, "log")), 100);

    let mut log = open(dir.path(), config.clone());
    let report = log.open_report();
    assert!(report.clean_shutdown);
    assert_eq!(report.scanned_batches, 0);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.rebuilt_indexes, 0);
    assert!(!report.producer_state_rebuilt);
    assert!(!marker.exists());
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(
        log.append(&mut batch(9, 1, 100), 0, 1).unwrap().base_offset,
        5
    );
    drop(log);

    // Without the marker the next open scans and truncates the damaged batch (and the one
    // written after it).
    let log = open(dir.path(), config);
    assert!(!log.open_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn empty_log_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.segment_count(), 1);
    drop(log);
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), 0);
}

/// Three segments of 8 batches each (the last holds 4), dropped without close.
fn write_three_segments(dir: &std::path::Path) -> LogConfig {
    let config = small_segments(1_500);
    let mut log = open(dir, config.clone());
    for i in 0..20 {
        log.append(&mut batch(7_000 + i, 1, 100), 0, 1).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    drop(log);
    config
}

/// Bytes past the last whole batch of a non-active segment (a write that failed mid-batch
/// before the segment rolled) are cut by crash recovery; nothing else is lost.
#[test]
fn invalid_tail_of_a_sealed_segment_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_three_segments(dir.path());
    let first = dir.path().join(seg(0, "log"));
    let mut bytes = fs::read(&first).unwrap();
    bytes.extend_from_slice(&[0xAB; 77]);
    fs::write(&first, bytes).unwrap();

    let log = open(dir.path(), config);
    let report = log.open_report();
    assert_eq!(report.recovered_segments, 3, "{report:?}");
    assert_eq!(report.truncated_bytes, 77, "{report:?}");
    assert_eq!(report.segments_moved_aside, 0, "{report:?}");
    assert_eq!(report.scanned_batches, 20, "{report:?}");
    assert_eq!(fs::metadata(&first).unwrap().len(), 8 * 170);
    assert_eq!((log.segment_count(), log.log_end_offset()), (3, 20));
    for offset in 0..20 {
        assert_eq!(log.read(offset, 1, 20).unwrap().first_offset, offset);
    }
}

/// A corrupt batch inside a non-active segment cuts that segment there; the later segments
/// would leave an offset gap, so they are moved aside (kept as `*.log.unrecovered`).
#[test]
fn corrupt_batch_in_a_sealed_segment_moves_later_segments_aside() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_three_segments(dir.path());
    flip(&dir.path().join(seg(8, "log")), 5 * 170 + 100); // payload of offset 13

    let mut log = open(dir.path(), config);
    let report = log.open_report();
    assert_eq!(report.truncated_bytes, 3 * 170, "{report:?}");
    assert_eq!(report.segments_moved_aside, 1, "{report:?}");
    assert_eq!((log.segment_count(), log.log_end_offset()), (2, 13));
    let aside = dir.path().join(format!("{}.unrecovered", seg(16, "log")));
    assert_eq!(fs::metadata(aside).unwrap().len(), 4 * 170);
    assert!(!dir.path().join(seg(16, "log")).exists());
    assert!(!dir.path().join(seg(16, "index")).exists());
    // The log goes on at the cut point, in the (still active) segment 8.
    let info = log.append(&mut batch(9_000, 1, 100), 0, 1).unwrap();
    assert_eq!(info.base_offset, 13);
    log.close().unwrap();
    let log = open(dir.path(), small_segments(1_500));
    assert_eq!((log.segment_count(), log.log_end_offset()), (2, 14));
}

/// The recovery point tracks what is fsynced, and bounds crash recovery: segments that end at
/// or below it are trusted, later ones are CRC-checked.
#[test]
fn recovery_point_bounds_crash_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(1_500);
    let mut log = open(dir.path(), config.clone());
    assert_eq!(log.recovery_point(), 0);
    for i in 0..20 {
        log.append(&mut batch(7_000 + i, 1, 100), 0, 1).unwrap();
    }
    // Rolls at 8 and 16 fsynced the sealed segments; nothing since.
    assert_eq!(log.recovery_point(), 16);
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 20);
    drop(log);

    // Damage inside segment 0, which ends below the recovery point: trusted, not scanned.
    flip(&dir.path().join(seg(0, "log")), 2 * 170 + 100);
    let log = strata_log::PartitionLog::open_with_recovery_point(
        dir.path(),
        TOPIC,
        config.clone(),
        1_000,
        Some(16),
    )
    .unwrap();
    let report = log.open_report();
    assert_eq!(report.recovered_segments, 1, "{report:?}");
    assert_eq!(report.scanned_batches, 4, "{report:?}");
    assert_eq!((log.log_end_offset(), log.recovery_point()), (20, 20));
    drop(log);

    // Without a recovery point every segment is checked: the damage is found and cut there,
    // and the two later segments are moved aside.
    let log = open(dir.path(), config);
    let report = log.open_report();
    assert_eq!(report.recovered_segments, 1, "{report:?}");
    assert_eq!(report.segments_moved_aside, 2, "{report:?}");
    assert_eq!(log.log_end_offset(), 2);
}
