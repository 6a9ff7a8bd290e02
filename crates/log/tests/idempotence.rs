//! Idempotent producer checks: duplicates, sequence gaps, epochs, and persistence.

mod common;

use common::*;
use strata_log::{LogConfig, LogError};

#[test]
fn duplicate_of_recent_batch_returns_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let first = log.append(&mut idem(7, 0, 0, 3), 0, 1).unwrap();
    assert_eq!((first.base_offset, first.last_offset), (0, 2));
    let second = log.append(&mut idem(7, 0, 3, 2), 0, 1).unwrap();
    assert_eq!((second.base_offset, second.last_offset), (3, 4));
    let size = log.size_bytes();
    let dup = log.append(&mut idem(7, 0, 0, 3), 0, 1).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (0, 2));
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn only_last_five_batches_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    for seq in 0..6 {
        log.append(&mut idem(7, 0, seq, 1), 0, 1).unwrap();
    }
    let dup = log.append(&mut idem(7, 0, 1, 1), 0, 1).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, 1);
    let err = log.append(&mut idem(7, 0, 0, 1), 0, 1).unwrap_err();
    assert!(matches!(
        err,
        LogError::OutOfOrderSequence {
            producer_id: 7,
            expected: 6,
            found: 0
        }
    ));
    assert_eq!(err.kafka_error_code(), 45);
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn sequence_gaps_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append(&mut idem(7, 0, 0, 2), 0, 1).unwrap();
    assert!(matches!(
        log.append(&mut idem(7, 0, 3, 1), 0, 1),
        Err(LogError::OutOfOrderSequence {
            expected: 2,
            found: 3,
            ..
        })
    ));
    assert!(matches!(
        log.append(&mut idem(7, 1, 5, 1), 0, 1),
        Err(LogError::OutOfOrderSequence {
            expected: 0,
            found: 5,
            ..
        })
    ));
    log.append(&mut idem(7, 1, 0, 1), 0, 1).unwrap();
    let err = log.append(&mut idem(7, 0, 2, 1), 0, 1).unwrap_err();
    assert!(matches!(
        err,
        LogError::InvalidProducerEpoch {
            producer_id: 7,
            current: 1,
            found: 0
        }
    ));
    assert_eq!(err.kafka_error_code(), 47);
    assert!(matches!(
        log.append(&mut idem(8, 0, 3, 1), 0, 1),
        Err(LogError::OutOfOrderSequence { expected: 0, .. })
    ));
    // Non-idempotent batches are never checked.
    log.append(&mut batch(0, 1, 1), 0, 1).unwrap();
    log.append(&mut batch(0, 1, 1), 0, 1).unwrap();
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn producer_state_survives_reopen() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), LogConfig::default());
        for seq in [0, 2, 4] {
            log.append(&mut idem(7, 3, seq, 2), 0, 1).unwrap();
        }
        log.append(&mut idem(11, 0, 0, 1), 0, 1).unwrap();
        if clean {
            log.close().unwrap();
            assert!(dir.path().join("producer-state.json").exists());
        } else {
            drop(log);
        }
        let mut log = open(dir.path(), LogConfig::default());
        assert_eq!(log.open_report().producer_state_rebuilt, !clean);
        assert!(!dir.path().join("producer-state.json").exists());
        let dup = log.append(&mut idem(7, 3, 2, 2), 0, 1).unwrap();
        assert!(dup.duplicate, "clean={clean}");
        assert_eq!((dup.base_offset, dup.last_offset), (2, 3));
        assert!(matches!(
            log.append(&mut idem(7, 2, 0, 1), 0, 1),
            Err(LogError::InvalidProducerEpoch { .. })
        ));
        assert!(matches!(
            log.append(&mut idem(7, 3, 7, 1), 0, 1),
            Err(LogError::OutOfOrderSequence { expected: 6, .. })
        ));
        assert_eq!(
            log.append(&mut idem(11, 0, 1, 1), 0, 1)
                .unwrap()
                .base_offset,
            7
        );
    }
}
