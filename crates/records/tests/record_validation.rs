//! `validate_records` rules, each on a hand-built hostile batch whose header and CRC are
//! correct, so the record-level walk is what catches it — for the plain and compressed paths.

use std::io::Write;

use strata_records::testing::{build_batch, build_compressed_batch};
use strata_records::*;

const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// A record body (after its length) with the given offset delta, key and value.
fn body(ts_delta: i64, offset_delta: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8];
    zigzag(&mut b, ts_delta);
    zigzag(&mut b, offset_delta);
    for f in [key, value] {
        match f {
            Some(bytes) => {
                zigzag(&mut b, bytes.len() as i64);
                b.extend_from_slice(bytes);
            }
            None => zigzag(&mut b, -1),
        }
    }
    zigzag(&mut b, 0); // no headers
    b
}

/// Length-prefixes a record body.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zigzag(&mut out, body.len() as i64);
    out.extend_from_slice(body);
    out
}

fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        }
        Compression::Snappy => snap::raw::Encoder::new().compress_vec(data).unwrap(),
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn codec_bits(codec: Compression) -> i16 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

/// A batch with the given header fields around `section` (compressed with `codec`), with a
/// correct length and CRC.
fn batch(
    codec: Compression,
    extra_attributes: i16,
    count: i32,
    base_ts: i64,
    max_ts: i64,
    section: &[u8],
) -> Vec<u8> {
    let section = compress(codec, section);
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((49 + section.len()) as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(codec_bits(codec) | extra_attributes).to_be_bytes());
    out.extend_from_slice(&(count - 1).to_be_bytes());
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&section);
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn check(buf: &[u8], rules: &RecordRules) -> Result<RecordsSummary, RecordsError> {
    let header = validate_client_batch(buf).expect("the header itself is valid");
    validate_records(buf, &header, rules, NOW)
}

/// The (index, reason) of a BadRecord error, for every codec.
fn bad_record(count: i32, section: &[u8]) -> (i32, &'static str) {
    let mut seen = None;
    for codec in CODECS {
        let b = batch(codec, 0, count, NOW, NOW, section);
        match check(&b, &RecordRules::default()) {
            Err(e @ RecordsError::BadRecord { index, reason }) => {
                assert_eq!(e.kafka_error_code(), 87, "{codec:?}");
                if let Some(prev) = seen {
                    assert_eq!(prev, (index, reason), "{codec:?} disagrees");
                }
                seen = Some((index, reason));
            }
            other => panic!("{codec:?}: expected BadRecord, got {other:?}"),
        }
    }
    seen.unwrap()
}

fn two_good() -> Vec<u8> {
    let mut s = framed(&body(0, 0, Some(b"k"), Some(b"v0")));
    s.extend(framed(&body(5, 1, None, Some(b"v1"))));
    s
}

#[test]
fn built_batches_pass_for_every_codec() {
    for codec in CODECS {
        let b = build_compressed_batch(
            codec,
            NOW,
            &[
                (Some(b"k"), Some(b"v"), 0),
                (None, None, 7),
                (None, Some(b"x"), 3),
            ],
            -1,
            -1,
            -1,
        );
        let summary = check(&b, &RecordRules::default()).unwrap();
        assert_eq!(summary.max_timestamp, NOW + 7, "{codec:?}");
        // Hand-built sections agree with the builder.
        let s = batch(codec, 0, 2, NOW, NOW + 5, &two_good());
        assert_eq!(
            check(&s, &RecordRules::default()).unwrap().max_timestamp,
            NOW + 5
        );
    }
}

#[test]
fn more_records_declared_than_present() {
    let (index, reason) = bad_record(3, &two_good());
    assert_eq!(index, 2);
    assert!(reason.contains("fewer records"), "{reason}");
}

#[test]
fn fewer_records_declared_than_present() {
    let (index, reason) = bad_record(1, &two_good());
    assert_eq!(index, 1);
    assert!(reason.contains("remain after"), "{reason}");
    // Trailing garbage that is not a record is caught the same way.
    let mut s = two_good();
    s.push(0x55);
    assert_eq!(bad_record(2, &s).0, 2);
}

#[test]
fn offset_deltas_must_count_from_zero() {
    let mut s = framed(&body(0, 0, None, Some(b"a")));
    s.extend(framed(&body(0, 2, None, Some(b"b"))));
    let (index, reason) = bad_record(2, &s);
    assert_eq!(index, 1);
    assert!(reason.contains("offset delta"), "{reason}");
    let first_wrong = framed(&body(0, 1, None, Some(b"a")));
    assert_eq!(bad_record(1, &first_wrong).0, 0);
}

#[test]
fn record_length_must_match_its_fields() {
    // Length claims one byte more than the fields, which is trailing junk in the record.
    let mut b = body(0, 0, None, Some(b"a"));
    b.push(0);
    let (index, reason) = bad_record(1, &framed(&b));
    assert_eq!(index, 0);
    assert!(reason.contains("does not match"), "{reason}");
    // Length claims fewer bytes than the fields take: the value spills out of the record.
    let b = body(0, 0, None, Some(b"abcdef"));
    let mut s = Vec::new();
    zigzag(&mut s, (b.len() - 3) as i64);
    s.extend_from_slice(&b);
    assert_eq!(bad_record(1, &s).0, 0);
    // Length beyond the end of the section.
    let b = body(0, 0, None, Some(b"a"));
    let mut s = Vec::new();
    zigzag(&mut s, (b.len() + 10) as i64);
    s.extend_from_slice(&b);
    assert_eq!(bad_record(1, &s).0, 0);
    // Negative length.
    let mut s = Vec::new();
    zigzag(&mut s, -3);
    s.extend_from_slice(&body(0, 0, None, None));
    assert!(bad_record(1, &s).1.contains("negative record length"));
}

#[test]
fn key_and_value_lengths_must_fit() {
    // Key length larger than the record (the record length is consistent with the bytes).
    let mut b = vec![0u8];
    zigzag(&mut b, 0);
    zigzag(&mut b, 0);
    zigzag(&mut b, 100); // key length 100, only 3 bytes follow
    b.extend_from_slice(b"abc");
    assert!(bad_record(1, &framed(&b)).1.contains("exceeds its record"));
    // -2 is neither null nor a length.
    let mut b = vec![0u8];
    zigzag(&mut b, 0);
    zigzag(&mut b, 0);
    zigzag(&mut b, -1);
    zigzag(&mut b, -2);
    zigzag(&mut b, 0);
    assert!(bad_record(1, &framed(&b)).1.contains("value length"));
}

fn with_headers(header_bytes: &[u8], count: i64) -> Vec<u8> {
    let mut b = vec![0u8];
    zigzag(&mut b, 0);
    zigzag(&mut b, 0);
    zigzag(&mut b, -1);
    zigzag(&mut b, -1);
    zigzag(&mut b, count);
    b.extend_from_slice(header_bytes);
    framed(&b)
}

#[test]
fn headers_are_checked() {
    let mut good = Vec::new();
    zigzag(&mut good, 1);
    good.push(b'h');
    zigzag(&mut good, -1);
    let b = batch(Compression::None, 0, 1, NOW, NOW, &with_headers(&good, 1));
    check(&b, &RecordRules::default()).unwrap();

    assert!(bad_record(1, &with_headers(&good, -1))
        .1
        .contains("negative header count"));
    assert!(bad_record(1, &with_headers(&good, 1_000_000))
        .1
        .contains("header count"));
    let mut null_key = Vec::new();
    zigzag(&mut null_key, -1);
    zigzag(&mut null_key, -1);
    assert!(bad_record(1, &with_headers(&null_key, 1))
        .1
        .contains("header key"));
    let mut long_value = Vec::new();
    zigzag(&mut long_value, 1);
    long_value.push(b'h');
    zigzag(&mut long_value, 50);
    long_value.push(b'v');
    assert!(bad_record(1, &with_headers(&long_value, 1))
        .1
        .contains("exceeds its record"));
}

#[test]
fn overlong_varints_are_refused() {
    let mut b = vec![0u8];
    b.extend_from_slice(&[0xff; 11]); // timestamp delta: more than 10 varlong bytes
    b.push(0);
    let (index, reason) = bad_record(1, &framed(&b));
    assert_eq!(index, 0);
    assert!(reason.contains("varint"), "{reason}");
    // A record length varint that never ends.
    assert!(bad_record(1, &[0xff; 8]).1.contains("varint"));
}

#[test]
fn an_empty_section_with_a_count_is_refused() {
    assert!(bad_record(1, &[]).1.contains("fewer records"));
}

#[test]
fn timestamps_outside_the_window_are_invalid_timestamp_with_record_errors() {
    let rules = RecordRules::default();
    // Record 0 now, record 1 two hours ahead, record 2 a minute ahead.
    let mut s = framed(&body(0, 0, None, Some(b"a")));
    s.extend(framed(&body(2 * HOUR, 1, None, Some(b"b"))));
    s.extend(framed(&body(60_000, 2, None, Some(b"c"))));
    for codec in CODECS {
        let b = batch(codec, 0, 3, NOW, NOW + 2 * HOUR, &s);
        let err = check(&b, &rules).unwrap_err();
        assert_eq!(err.kafka_error_code(), 32, "{codec:?}");
        assert_eq!(
            err.to_string(),
            "One or more records have been rejected due to invalid timestamp"
        );
        let errors = err.record_errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 1);
        assert_eq!(
            errors[0].1,
            format!(
                "Timestamp {} of message with offset 1 is out of range. The timestamp should be \
                 within [{}, {}]",
                NOW + 2 * HOUR,
                NOW - i64::MAX,
                NOW + HOUR
            )
        );
    }
    // Exactly at the bound is fine; with after.max.ms = Long.MAX anything goes.
    let edge = batch(
        Compression::None,
        0,
        1,
        NOW + HOUR,
        NOW + HOUR,
        &framed(&body(0, 0, None, None)),
    );
    check(&edge, &rules).unwrap();
    let lax = RecordRules {
        timestamp_after_max_ms: i64::MAX,
        ..rules
    };
    let far = batch(Compression::None, 0, 3, NOW, NOW + 2 * HOUR, &s);
    check(&far, &lax).unwrap();
    // before.max.ms bounds the past; -1 (no timestamp) is never checked.
    let strict = RecordRules {
        timestamp_before_max_ms: 1000,
        ..rules
    };
    let old = batch(
        Compression::None,
        0,
        1,
        NOW - 5000,
        NOW - 5000,
        &framed(&body(0, 0, None, None)),
    );
    let err = check(&old, &strict).unwrap_err();
    assert_eq!(err.record_errors()[0].0, 0);
    let none = batch(
        Compression::None,
        0,
        1,
        -1,
        -1,
        &framed(&body(0, 0, None, None)),
    );
    assert_eq!(check(&none, &strict).unwrap().max_timestamp, -1);
    // Extreme values do not overflow.
    let huge = batch(
        Compression::None,
        0,
        1,
        i64::MIN,
        i64::MIN,
        &framed(&body(0, 0, None, None)),
    );
    assert_eq!(check(&huge, &strict).unwrap_err().kafka_error_code(), 32);
}

#[test]
fn every_bad_timestamp_is_listed_up_to_the_cap() {
    let n = MAX_RECORD_ERRORS + 5;
    let mut s = Vec::new();
    for i in 0..n {
        s.extend(framed(&body(0, i as i64, None, None)));
    }
    let b = batch(
        Compression::None,
        0,
        n as i32,
        NOW + 3 * HOUR,
        NOW + 3 * HOUR,
        &s,
    );
    let err = check(&b, &RecordRules::default()).unwrap_err();
    let indexes: Vec<i32> = err.record_errors().iter().map(|e| e.0).collect();
    assert_eq!(indexes, (0..MAX_RECORD_ERRORS as i32).collect::<Vec<_>>());
}

#[test]
fn structure_errors_win_over_timestamp_errors() {
    let mut s = framed(&body(3 * HOUR, 0, None, None));
    s.extend(framed(&body(0, 5, None, None)));
    assert_eq!(bad_record(2, &s).0, 1);
}

#[test]
fn log_append_time_from_clients() {
    const LOG_APPEND: i16 = 0x08;
    let s = framed(&body(0, 0, None, Some(b"a")));
    let b = batch(Compression::None, LOG_APPEND, 1, NOW, NOW, &s);
    // CreateTime topic, valid timestamp: accepted (Kafka checks the timestamp first).
    check(&b, &RecordRules::default()).unwrap();
    // LogAppendTime topic: refused with a record error.
    let rules = RecordRules {
        log_append_time: true,
        ..RecordRules::default()
    };
    let err = check(&b, &rules).unwrap_err();
    assert_eq!(err.kafka_error_code(), 32);
    assert!(err.record_errors()[0].1.contains("LogAppendTime"));
    // A CreateTime batch on a LogAppendTime topic is not time-checked at all.
    let future = batch(Compression::None, 0, 1, NOW + 5 * HOUR, NOW + 5 * HOUR, &s);
    check(&future, &rules).unwrap();
}

#[test]
fn header_max_timestamp_is_reported_and_can_be_fixed() {
    let s = two_good();
    let mut b = batch(Compression::None, 0, 2, NOW, NOW + 999_999, &s);
    let summary = check(&b, &RecordRules::default()).unwrap();
    assert_eq!(summary.max_timestamp, NOW + 5);
    set_max_timestamp(&mut b, summary.max_timestamp);
    let header = validate_client_batch(&b).unwrap();
    assert_eq!(header.max_timestamp, NOW + 5);
}

#[test]
fn a_compression_bomb_stops_at_the_cap() {
    // 1 record declaring a value of 80 MiB of zeros: a few KiB compressed.
    let value_len = 80 << 20;
    let mut b = vec![0u8];
    zigzag(&mut b, 0);
    zigzag(&mut b, 0);
    zigzag(&mut b, -1);
    zigzag(&mut b, value_len);
    let mut head = Vec::new();
    zigzag(&mut head, (b.len() as i64) + value_len + 1);
    head.extend_from_slice(&b);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..80 {
        enc.write_all(&zeros).unwrap();
    }
    enc.write_all(&[0]).unwrap();
    let compressed = enc.finish().unwrap();
    assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
    // Assemble by hand: `batch()` compresses itself, so build an uncompressed one and swap.
    let mut out = batch(Compression::None, 0, 1, NOW, NOW, &compressed);
    out[22] = 4; // zstd
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    match check(&out, &RecordRules::default()) {
        Err(e @ RecordsError::Decompress(_)) => {
            assert!(e.to_string().contains("exceed"), "{e}");
            assert_eq!(e.kafka_error_code(), 87);
        }
        other => panic!("expected the cap to stop decompression, got {other:?}"),
    }
}

#[test]
fn a_snappy_block_cannot_claim_more_than_its_input_can_hold() {
    // A raw snappy block whose length prefix says 60 MiB, followed by almost nothing.
    let mut block = Vec::new();
    let mut len: u64 = 60 << 20;
    while len >= 0x80 {
        block.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    block.push(len as u8);
    block.extend_from_slice(&[0, 0, 0]);
    let mut out = batch(Compression::None, 0, 1, NOW, NOW, &block);
    out[22] = 2; // snappy
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    let err = check(&out, &RecordRules::default()).unwrap_err();
    assert!(matches!(err, RecordsError::Decompress(_)), "{err:?}");
}

#[test]
fn corrupt_compressed_data_is_invalid_record() {
    for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
        let good = compress(codec, &two_good());
        let mut junk = good.clone();
        let mid = junk.len() / 2;
        junk.truncate(mid);
        let mut out = batch(Compression::None, 0, 2, NOW, NOW, &junk);
        out[22] = codec_bits(codec) as u8;
        let crc = compute_crc(&out);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        let err = check(&out, &RecordRules::default()).unwrap_err();
        assert_eq!(err.kafka_error_code(), 87, "{codec:?}: {err:?}");
    }
}

#[test]
fn plain_builder_batches_still_pass() {
    let b = build_batch(NOW, &[(None, Some(b"a"), 0)], 7, 0, 0);
    check(&b, &RecordRules::default()).unwrap();
}
