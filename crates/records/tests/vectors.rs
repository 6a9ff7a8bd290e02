//! The reference hex vectors from `record_batch_vectors.txt`: parsing, CRC, validation,
//! patching and record timestamps.

use strata_records::*;

const PLAIN: &str = "00000000000000000000004b0000000002ac5d24150000000000010000018bcfe568000000018bcfe56805ffffffffffffffffffffffffffff0000000214000000046b31047631001c000a02046b320476320202680278";
const TXN: &str = "00000000000000000000003b0000000002428c752d0010000000000000018bcfe568000000018bcfe5680000000000000003e80000000000000000000112000000010674786e00";
const CONTROL: &str = "000000000000002a0000004200000000024e0746d70030000000000000018bcfe568640000018bcfe5686400000000000003e80000ffffffff000000012000000008000000010c00000000000500";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn plain_vector_fields() {
    let buf = hex(PLAIN);
    assert_eq!(buf.len(), 87);
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(
        h,
        BatchHeader {
            base_offset: 0,
            batch_length: 75,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 2891785237,
            attributes: 0,
            last_offset_delta: 1,
            base_timestamp: 1700000000000,
            max_timestamp: 1700000000005,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: 2,
        }
    );
    assert_eq!(h.total_len(), 87);
    assert_eq!(h.last_offset(), 1);
    assert_eq!(h.compression().unwrap(), Compression::None);
    assert!(!h.is_transactional() && !h.is_control() && !h.is_log_append_time());
    assert_eq!(h.last_sequence(), -1);
    assert_eq!(compute_crc(&buf), 2891785237);
    assert_eq!(validate_client_batch(&buf).unwrap(), h);
}

#[test]
fn transactional_vector_fields() {
    let buf = hex(TXN);
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(
        h,
        BatchHeader {
            base_offset: 0,
            batch_length: 59,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0x428c752d,
            attributes: 0x10,
            last_offset_delta: 0,
            base_timestamp: 1700000000000,
            max_timestamp: 1700000000000,
            producer_id: 1000,
            producer_epoch: 0,
            base_sequence: 0,
            records_count: 1,
        }
    );
    assert_eq!(h.total_len(), buf.len());
    assert!(h.is_transactional() && !h.is_control());
    assert_eq!(h.last_sequence(), 0);
    assert_eq!(compute_crc(&buf), h.crc);
    assert_eq!(validate_client_batch(&buf).unwrap(), h);
    assert_eq!(record_timestamps(&buf).unwrap(), vec![(0, 1700000000000)]);
}

#[test]
fn control_vector_fields_and_rejection() {
    let mut buf = hex(CONTROL);
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(
        h,
        BatchHeader {
            base_offset: 42,
            batch_length: 66,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0x4e0746d7,
            attributes: 0x30,
            last_offset_delta: 0,
            base_timestamp: 1700000000100,
            max_timestamp: 1700000000100,
            producer_id: 1000,
            producer_epoch: 0,
            base_sequence: -1,
            records_count: 1,
        }
    );
    assert!(h.is_control() && h.is_transactional());
    assert_eq!(compute_crc(&buf), h.crc);
    assert_eq!(record_timestamps(&buf).unwrap(), vec![(42, 1700000000100)]);
    let err = validate_client_batch(&buf).unwrap_err();
    assert!(matches!(err, RecordsError::InvalidRecord(m) if m.contains("base offset")));
    patch_base_offset(&mut buf, 0);
    let err = validate_client_batch(&buf).unwrap_err();
    assert!(matches!(err, RecordsError::InvalidRecord(m) if m.contains("control")));
    assert_eq!(err.kafka_error_code(), 87);
}

#[test]
fn bit_flip_is_corrupt_message() {
    let buf = hex(PLAIN);
    for at in [21, 30, 60, 61, 86] {
        let mut bad = buf.clone();
        bad[at] ^= 0x04;
        let err = validate_client_batch(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                RecordsError::CorruptMessage {
                    expected: 2891785237,
                    ..
                }
            ),
            "flip at {at}: {err:?}"
        );
        assert_eq!(err.kafka_error_code(), 2);
    }
}

#[test]
fn patches_outside_crc_keep_it_valid() {
    let mut buf = hex(PLAIN);
    patch_base_offset(&mut buf, 1234);
    patch_leader_epoch(&mut buf, 7);
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(h.base_offset, 1234);
    assert_eq!(h.last_offset(), 1235);
    assert_eq!(h.partition_leader_epoch, 7);
    assert_eq!(h.crc, 2891785237);
    assert_eq!(compute_crc(&buf), h.crc);
    assert_eq!(&buf[0..8], &1234i64.to_be_bytes());
    assert_eq!(&buf[12..16], &7i32.to_be_bytes());
    assert_eq!(&buf[16..], &hex(PLAIN)[16..]);
    assert_eq!(
        record_timestamps(&buf).unwrap(),
        vec![(1234, 1700000000000), (1235, 1700000000005)]
    );
}

#[test]
fn log_append_time_recomputes_crc() {
    let mut buf = hex(PLAIN);
    set_log_append_time(&mut buf, 1800000000000);
    let h = BatchHeader::parse(&buf).unwrap();
    assert!(h.is_log_append_time());
    assert_eq!(h.attributes, 0x08);
    assert_eq!(h.max_timestamp, 1800000000000);
    assert_eq!(h.base_timestamp, 1700000000000);
    assert_ne!(h.crc, 2891785237);
    assert_eq!(compute_crc(&buf), h.crc);
    validate_client_batch(&buf).unwrap();
    assert_eq!(
        record_timestamps(&buf).unwrap(),
        vec![(0, 1800000000000), (1, 1800000000000)]
    );
}

#[test]
fn plain_record_timestamps() {
    assert_eq!(
        record_timestamps(&hex(PLAIN)).unwrap(),
        vec![(0, 1700000000000), (1, 1700000000005)]
    );
}

#[test]
fn iterates_concatenated_batches_and_reports_partial_tail() {
    let mut all = hex(PLAIN);
    all.extend(hex(TXN));
    all.extend(hex(CONTROL));
    let found: Vec<(usize, i64)> = batches(&all)
        .map(|r| r.map(|(pos, h)| (pos, h.base_offset)).unwrap())
        .collect();
    assert_eq!(found, vec![(0, 0), (87, 0), (158, 42)]);
    assert_eq!(all.len(), 158 + 78);

    let cut = &all[..all.len() - 5];
    let mut iter = batches(cut);
    assert!(iter.next().unwrap().is_ok());
    assert!(iter.next().unwrap().is_ok());
    assert!(matches!(
        iter.next(),
        Some(Err(RecordsError::Truncated { need: 78, have: 73 }))
    ));
    assert!(iter.next().is_none());

    let mut iter = batches(&all[..100]);
    assert!(iter.next().unwrap().is_ok());
    assert!(matches!(
        iter.next(),
        Some(Err(RecordsError::Truncated { need: 61, have: 13 }))
    ));
    assert!(iter.next().is_none());
    assert_eq!(batches(&[]).count(), 0);
}

#[test]
fn header_parse_errors() {
    let buf = hex(PLAIN);
    assert!(matches!(
        BatchHeader::parse(&buf[..60]),
        Err(RecordsError::Truncated { need: 61, have: 60 })
    ));
    let mut bad = buf.clone();
    bad[16] = 1;
    assert!(matches!(
        BatchHeader::parse(&bad),
        Err(RecordsError::BadMagic(1))
    ));
    let mut bad = buf.clone();
    bad[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert!(matches!(
        BatchHeader::parse(&bad),
        Err(RecordsError::BadLength(48))
    ));
    bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert!(matches!(
        BatchHeader::parse(&bad),
        Err(RecordsError::BadLength(-5))
    ));
}
