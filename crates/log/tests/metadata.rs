//! Versioned partition files: metadata, leader epochs, and error code mapping.

mod common;

use std::fs;

use common::*;
use strata_log::{LogConfig, LogError, PartitionLog};

#[test]
fn partition_metadata_is_written_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("t-0");
    let log = open(&part, LogConfig::default());
    assert_eq!(
        fs::read_to_string(part.join("partition.metadata")).unwrap(),
        format!("version: 1\ntopic_id: {TOPIC}\nformat: strata-log-1\n")
    );
    log.close().unwrap();
    let err = PartitionLog::open(&part, "other", LogConfig::default(), 0).unwrap_err();
    assert!(matches!(err, LogError::Corrupt(_)));
    assert_eq!(err.kafka_error_code(), 56);
}

#[test]
fn leader_epochs_are_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(log.leader_epoch(), -1);
    assert_eq!(log.end_offset_for_epoch(0), (-1, -1));
    log.append(&mut batch(0, 3, 1), 0, 1).unwrap();
    log.append(&mut batch(0, 1, 1), 0, 1).unwrap();
    log.append(&mut batch(0, 2, 1), 2, 1).unwrap();
    let bytes = log.read(4, 100, 6).unwrap().read_to_vec().unwrap();
    assert_eq!(&bytes[12..16], &2i32.to_be_bytes());
    let checkpoint = dir.path().join("leader-epoch-checkpoint");
    assert_eq!(fs::read_to_string(&checkpoint).unwrap(), "0\n2\n0 0\n2 4\n");
    assert_eq!(log.leader_epoch(), 2);
    assert_eq!(log.end_offset_for_epoch(0), (0, 4));
    assert_eq!(log.end_offset_for_epoch(1), (0, 4));
    assert_eq!(log.end_offset_for_epoch(2), (2, 6));
    assert_eq!(log.end_offset_for_epoch(3), (-1, -1));
    drop(log);
    // After a crash that loses the epoch-2 data, the epoch entry beyond the log end goes too.
    let log_file = dir.path().join(seg(0, "log"));
    let len = fs::metadata(&log_file).unwrap().len();
    let last = batch(0, 2, 1).len() as u64;
    fs::OpenOptions::new()
        .write(true)
        .open(&log_file)
        .unwrap()
        .set_len(len - last)
        .unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.leader_epoch(), 0);
    assert_eq!(fs::read_to_string(&checkpoint).unwrap(), "0\n1\n0 0\n");
}

#[test]
fn error_codes() {
    let io = LogError::Io {
        context: "x".into(),
        source: std::io::Error::other("boom"),
    };
    assert_eq!(io.kafka_error_code(), 56);
    let records: LogError = strata_records::RecordsError::CorruptMessage {
        expected: 1,
        actual: 2,
    }
    .into();
    assert_eq!(records.kafka_error_code(), 2);
}
