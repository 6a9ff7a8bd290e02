//! `validate_client_batch` rules, each failure in isolation, in the documented order.

use strata_records::testing::build_batch;
use strata_records::*;

/// Rewrites bytes `at..at+bytes.len()` and fixes the CRC, so only the targeted rule fails.
fn edit(mut batch: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    batch[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

fn two_records() -> Vec<u8> {
    build_batch(
        1000,
        &[(None, Some(&b"a"[..]), 0), (Some(&b"k"[..]), None, 3)],
        -1,
        -1,
        -1,
    )
}

fn invalid(buf: &[u8]) -> &'static str {
    match validate_client_batch(buf) {
        Err(RecordsError::InvalidRecord(msg)) => msg,
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
}

#[test]
fn accepts_a_built_batch() {
    let batch = two_records();
    let h = validate_client_batch(&batch).unwrap();
    assert_eq!(h.records_count, 2);
    assert_eq!(h.last_offset_delta, 1);
    assert_eq!(h.base_timestamp, 1000);
    assert_eq!(h.max_timestamp, 1003);
    assert_eq!(
        record_timestamps(&batch).unwrap(),
        vec![(0, 1000), (1, 1003)]
    );
}

#[test]
fn exactly_one_batch() {
    let mut two = two_records();
    two.extend(two_records());
    assert!(invalid(&two).contains("exactly one batch"));
    let mut trailing = two_records();
    trailing.push(0);
    assert!(invalid(&trailing).contains("exactly one batch"));
    let short = two_records();
    assert!(invalid(&short[..short.len() - 1]).contains("exactly one batch"));
}

#[test]
fn base_offset_must_be_zero() {
    let mut batch = two_records();
    patch_base_offset(&mut batch, 5);
    assert!(invalid(&batch).contains("base offset"));
}

#[test]
fn offset_range_must_match_count() {
    let batch = edit(two_records(), 57, &3i32.to_be_bytes());
    assert!(invalid(&batch).contains("offset range"));
    let batch = edit(two_records(), 23, &0i32.to_be_bytes());
    assert!(invalid(&batch).contains("offset range"));
    let batch = edit(
        edit(two_records(), 57, &0i32.to_be_bytes()),
        23,
        &(-1i32).to_be_bytes(),
    );
    assert!(invalid(&batch).contains("offset range"));
}

#[test]
fn producer_id_requires_sequence() {
    let batch = build_batch(0, &[(None, Some(&b"v"[..]), 0)], 7, 0, -1);
    assert!(invalid(&batch).contains("sequence"));
    let ok = build_batch(0, &[(None, Some(&b"v"[..]), 0)], 7, 0, 0);
    validate_client_batch(&ok).unwrap();
}

#[test]
fn unknown_codec_is_unsupported_compression() {
    let batch = edit(two_records(), 21, &5i16.to_be_bytes());
    let err = validate_client_batch(&batch).unwrap_err();
    assert!(matches!(err, RecordsError::UnsupportedCompression(5)));
    assert_eq!(err.kafka_error_code(), 76);
    assert!(matches!(
        record_timestamps(&batch),
        Err(RecordsError::UnsupportedCompression(5))
    ));
}

#[test]
fn crc_is_checked_before_semantic_rules() {
    let mut batch = edit(two_records(), 57, &3i32.to_be_bytes());
    batch[40] ^= 1;
    assert!(matches!(
        validate_client_batch(&batch),
        Err(RecordsError::CorruptMessage { .. })
    ));
}

#[test]
fn error_codes() {
    assert_eq!(RecordsError::BadMagic(1).kafka_error_code(), 87);
    assert_eq!(RecordsError::BadLength(3).kafka_error_code(), 87);
    assert_eq!(
        RecordsError::Truncated { need: 1, have: 0 }.kafka_error_code(),
        87
    );
    assert_eq!(RecordsError::Decompress("x".into()).kafka_error_code(), 87);
}

#[test]
fn last_sequence_wraps_like_kafka() {
    let batch = build_batch(0, &[(None, None, 0); 4], 1, 0, i32::MAX - 1);
    let h = BatchHeader::parse(&batch).unwrap();
    assert_eq!(h.last_sequence(), 1);
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(5, 3), 8);
}
