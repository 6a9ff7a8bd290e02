//! Building the batches a coordinator appends: keyed records, uncompressed, optionally
//! transactional (a transactional offset commit is written with its producer's id and epoch
//! and the transactional attribute, so the COMMIT or ABORT marker the transaction coordinator
//! writes later resolves it, in the log and on replay).

use strata_records::{build_batch, compute_crc, BatchSpec, NewRecord, RecordsError};

/// Offset of the attributes field in a v2 batch header, and of the CRC that covers it.
const ATTRIBUTES_AT: usize = 21;
const CRC_AT: usize = 17;
/// Attributes bit 4: the batch belongs to a transaction.
const TRANSACTIONAL: i16 = 0x10;

/// The transactional producer a batch is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnProducer {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
}

/// One batch of `(key, value)` records (`None` value = tombstone) stamped `now_ms`, marked
/// transactional for `txn` if given.
pub fn build_records(
    records: &[(Vec<u8>, Option<Vec<u8>>)],
    now_ms: i64,
    txn: Option<TxnProducer>,
) -> Result<Vec<u8>, RecordsError> {
    let new: Vec<NewRecord<'_>> = records
        .iter()
        .map(|(key, value)| NewRecord {
            key: Some(key),
            value: value.as_deref(),
            headers: &[],
            timestamp_delta: 0,
        })
        .collect();
    let mut spec = BatchSpec::plain(now_ms);
    if let Some(t) = txn {
        spec.producer_id = t.producer_id;
        spec.producer_epoch = t.producer_epoch;
    }
    let mut batch = build_batch(&spec, &new)?;
    if txn.is_some() {
        let attrs = i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]]);
        batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2]
            .copy_from_slice(&(attrs | TRANSACTIONAL).to_be_bytes());
        let crc = compute_crc(&batch);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_records::BatchHeader;

    #[test]
    fn transactional_batches_carry_the_producer_and_a_valid_crc() {
        let records = vec![(b"k".to_vec(), Some(b"v".to_vec())), (b"t".to_vec(), None)];
        let txn = TxnProducer {
            producer_id: 42,
            producer_epoch: 3,
        };
        let batch = build_records(&records, 1_000, Some(txn)).unwrap();
        let h = BatchHeader::parse(&batch).unwrap();
        assert!(h.is_transactional());
        assert!(!h.is_control());
        assert_eq!((h.producer_id, h.producer_epoch), (42, 3));
        assert_eq!(h.crc, compute_crc(&batch));
        let plain = build_records(&records, 1_000, None).unwrap();
        let h = BatchHeader::parse(&plain).unwrap();
        assert!(!h.is_transactional());
        assert_eq!(h.producer_id, -1);
    }
}
