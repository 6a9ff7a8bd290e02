//! A failed write takes the log offline: the partial batch is cut, nothing more is appended,
//! read or closed cleanly, and the next open recovers every acknowledged batch.
//!
//! The failure is real: `RLIMIT_FSIZE` makes the kernel refuse writes past a file size (EFBIG),
//! after a short write, exactly like a disk that fills up mid-batch. The limit is per process,
//! so this file holds a single test (nextest and `cargo test` both run it alone in its binary).

mod common;

use std::fs;

use common::*;
use strata_log::{LogConfig, LogError};

fn set_file_size_limit(bytes: u64) {
    // SIGXFSZ would kill the process; ignored, the write fails with EFBIG instead.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn failed_write_cuts_the_batch_and_takes_the_log_offline() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    let flag = log.offline_flag();
    // Files written before the limit (metadata, checkpoints) are small; the segment grows by 170.
    set_file_size_limit(3 * BATCH_170 as u64 + 90);
    for i in 0..3 {
        let info = log.append(&mut batch(1_000 + i, 1, 100), 0, 1).unwrap();
        assert_eq!(info.base_offset, i);
    }
    let err = log.append(&mut batch(2_000, 1, 100), 0, 1).unwrap_err();
    assert!(matches!(err, LogError::Io { .. }), "{err}");
    assert_eq!(err.kafka_error_code(), 56);
    assert!(log.is_offline());
    assert!(flag.load(std::sync::atomic::Ordering::Acquire));
    assert!(log.offline_reason().unwrap().contains("append to"));
    // The 90 bytes that did reach the file were cut; the high watermark never moved.
    let log_file = dir.path().join(seg(0, "log"));
    assert_eq!(fs::metadata(&log_file).unwrap().len(), 3 * BATCH_170 as u64);
    assert_eq!(log.high_watermark(), 3);

    // Everything answers Offline (KAFKA_STORAGE_ERROR) from now on, even with space again.
    set_file_size_limit(u64::MAX);
    let offline = |e: LogError| matches!(e, LogError::Offline { .. }) && e.kafka_error_code() == 56;
    assert!(offline(
        log.append(&mut batch(3_000, 1, 100), 0, 1).unwrap_err()
    ));
    assert!(offline(log.read(0, 1 << 20, 3).unwrap_err()));
    assert!(offline(log.offset_for_timestamp(0).unwrap_err()));
    assert!(offline(log.flush().unwrap_err()));
    assert!(!log.flush_if_due(i64::MAX).unwrap());
    assert_eq!(log.apply_retention(i64::MAX).unwrap(), 0);
    assert!(offline(log.close().unwrap_err()));
    assert!(!dir.path().join(".clean_shutdown").exists());

    // Restart: crash recovery keeps the three acknowledged batches and serves again.
    let mut log = open(dir.path(), config);
    assert!(!log.open_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), 3);
    assert!(!log.is_offline());
    let info = log.append(&mut batch(4_000, 1, 100), 0, 1).unwrap();
    assert_eq!(info.base_offset, 3);
    assert_eq!(log.read(0, 1 << 20, 4).unwrap().len, 4 * BATCH_170);
}
