//! Transaction control batches: the COMMIT and ABORT markers a transaction coordinator writes
//! to every partition of a transaction (Kafka `EndTransactionMarker`, `ControlRecordType`).
//!
//! Layout of a marker batch: attributes `0x30` (control | transactional, uncompressed,
//! CreateTime), the transaction's producer id and epoch, base sequence -1, exactly one record
//! whose key is `[version i16 = 0, type i16]` (0 = ABORT, 1 = COMMIT) and whose value is
//! `[version i16 = 0, coordinator epoch i32]`. Control types 2..4 (KRaft's own) and unknown
//! versions are not transaction markers: [`parse_end_txn_marker`] answers `None` for them.
//!
//! Only the broker builds these ([`build_end_txn_marker`]); client batches with the control bit
//! are refused by [`crate::validate_client_batch`].

use crate::builder::{assemble, encode_records, HeaderSpec};
use crate::{decode_records, BatchHeader, NewRecord, RecordsError};

const CONTROL_TRANSACTIONAL: i16 = 0x30;
const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// The content of a COMMIT or ABORT control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// COMMIT (true) or ABORT (false).
    pub commit: bool,
    /// Epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

/// Builds the marker batch for `producer_id`/`producer_epoch` stamped `timestamp` (base offset
/// and leader epoch 0: the log patches both).
pub fn build_end_txn_marker(
    producer_id: i64,
    producer_epoch: i16,
    timestamp: i64,
    marker: EndTxnMarker,
) -> Vec<u8> {
    let kind = if marker.commit { COMMIT } else { ABORT };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let record = NewRecord {
        key: Some(&key),
        value: Some(&value),
        headers: &[],
        timestamp_delta: 0,
    };
    let header = HeaderSpec {
        attributes: CONTROL_TRANSACTIONAL,
        last_offset_delta: 0,
        base_ts: timestamp,
        max_ts: timestamp,
        producer_id,
        producer_epoch,
        base_sequence: -1,
        records_count: 1,
    };
    assemble(&header, &encode_records(&[record]))
}

/// Reads the marker of a whole control batch; `None` if the batch is not a control batch or
/// its record is not a version-0 COMMIT/ABORT.
pub fn parse_end_txn_marker(batch: &[u8]) -> Result<Option<EndTxnMarker>, RecordsError> {
    let header = BatchHeader::parse(batch)?;
    if !header.is_control() {
        return Ok(None);
    }
    let records = decode_records(batch)?;
    let Some(record) = records.first() else {
        return Ok(None);
    };
    let (Some(key), Some(value)) = (&record.key, &record.value) else {
        return Ok(None);
    };
    if key.len() < 4 || value.len() < 6 {
        return Ok(None);
    }
    let key_version = i16::from_be_bytes([key[0], key[1]]);
    let kind = i16::from_be_bytes([key[2], key[3]]);
    let value_version = i16::from_be_bytes([value[0], value[1]]);
    if key_version != 0 || value_version != 0 || !(kind == ABORT || kind == COMMIT) {
        return Ok(None);
    }
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Ok(Some(EndTxnMarker {
        commit: kind == COMMIT,
        coordinator_epoch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compute_crc, patch_base_offset};

    /// The COMMIT vector of the wire reference (`record_batch_vectors.txt`), checked by
    /// kafka-python: offset 42, pid 1000, epoch 0, coordinator epoch 5.
    const COMMIT_VECTOR: &str = "000000000000002a0000004200000000024e0746d70030000000000000018bcfe568640000018bcfe5686400000000000003e80000ffffffff000000012000000008000000010c00000000000500";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn commit_marker_matches_the_reference_bytes() {
        let marker = EndTxnMarker {
            commit: true,
            coordinator_epoch: 5,
        };
        let mut batch = build_end_txn_marker(1000, 0, 1_700_000_000_100, marker);
        patch_base_offset(&mut batch, 42);
        assert_eq!(batch, unhex(COMMIT_VECTOR));
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.crc, compute_crc(&batch));
        assert_eq!(parse_end_txn_marker(&batch).unwrap(), Some(marker));
    }

    #[test]
    fn abort_marker_round_trips_and_data_batches_are_not_markers() {
        let marker = EndTxnMarker {
            commit: false,
            coordinator_epoch: -1,
        };
        let batch = build_end_txn_marker(7, 3, 10, marker);
        let header = BatchHeader::parse(&batch).unwrap();
        assert!(header.is_control() && header.is_transactional());
        assert_eq!((header.producer_id, header.producer_epoch), (7, 3));
        assert_eq!(header.base_sequence, -1);
        assert_eq!(parse_end_txn_marker(&batch).unwrap(), Some(marker));
        let data = crate::build_batch(
            &crate::BatchSpec::plain(0),
            &[NewRecord {
                value: Some(b"v"),
                ..NewRecord::default()
            }],
        )
        .unwrap();
        assert_eq!(parse_end_txn_marker(&data).unwrap(), None);
    }
}
