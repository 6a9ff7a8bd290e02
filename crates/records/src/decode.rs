//! Decoding the records of one batch: offset, timestamp, key, value and headers.
//!
//! The broker never re-encodes client batches; this is for reading its own internal logs (the
//! group coordinator replays `__consumer_offsets`) and for tools. Invariants: the CRC is checked
//! first; at most `records_count` records are read; every record lies wholly inside the
//! (decompressed, size-bounded) records section and every field inside its record; control
//! batches decode like any other (the caller decides what to do with them).

use crate::codec::decompress;
use crate::varint::Cursor;
use crate::{compute_crc, BatchHeader, RecordsError, BATCH_HEADER_LEN};

/// One decoded record with owned fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Absolute offset.
    pub offset: i64,
    /// Timestamp (the batch's max timestamp for LogAppendTime batches, as Kafka reports).
    pub timestamp: i64,
    /// Key (`None` = null).
    pub key: Option<Vec<u8>>,
    /// Value (`None` = null: a tombstone in a compacted log).
    pub value: Option<Vec<u8>>,
    /// Headers in wire order, duplicates kept.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn bytes_field(
    cursor: &mut Cursor<'_>,
    record_end: usize,
) -> Result<Option<Vec<u8>>, RecordsError> {
    let len = cursor.varint()?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if cursor.position() + len > record_end {
        return Err(RecordsError::InvalidRecord(
            "record field exceeds its record",
        ));
    }
    let start = cursor.position();
    cursor.skip(len)?;
    Ok(Some(cursor.slice(start, start + len).to_vec()))
}

/// Decodes every record of `batch` (one whole batch, possibly followed by other bytes).
pub fn decode_records(batch: &[u8]) -> Result<Vec<DecodedRecord>, RecordsError> {
    let header = BatchHeader::parse(batch)?;
    let total = header.total_len();
    if batch.len() < total {
        return Err(RecordsError::Truncated {
            need: total,
            have: batch.len(),
        });
    }
    let actual = compute_crc(&batch[..total]);
    if actual != header.crc {
        return Err(RecordsError::CorruptMessage {
            expected: header.crc,
            actual,
        });
    }
    if header.records_count < 0 {
        return Err(RecordsError::InvalidRecord("negative records count"));
    }
    if header.records_count == 0 {
        // An empty batch (the cleaner keeps its header) has no records section to decompress.
        return Ok(Vec::new());
    }
    let section = decompress(header.compression()?, &batch[BATCH_HEADER_LEN..total])?;
    let mut cursor = Cursor::new(&section);
    let count = header.records_count as usize;
    let mut out = Vec::with_capacity(count.min(section.len() / 7 + 1));
    for _ in 0..count {
        let len = cursor.varint()?;
        if len < 0 {
            return Err(RecordsError::InvalidRecord("negative record length"));
        }
        let len = len as usize;
        if len > cursor.remaining() {
            return Err(RecordsError::Truncated {
                need: len,
                have: cursor.remaining(),
            });
        }
        let end = cursor.position() + len;
        cursor.skip(1)?; // record attributes
        let timestamp_delta = cursor.varlong()?;
        let offset_delta = cursor.varint()?;
        let key = bytes_field(&mut cursor, end)?;
        let value = bytes_field(&mut cursor, end)?;
        let header_count = cursor.varint()?;
        if header_count < 0 {
            return Err(RecordsError::InvalidRecord("negative header count"));
        }
        let mut headers = Vec::with_capacity((header_count as usize).min(len));
        for _ in 0..header_count {
            let key = bytes_field(&mut cursor, end)?
                .ok_or(RecordsError::InvalidRecord("null header key"))?;
            let value = bytes_field(&mut cursor, end)?;
            headers.push((key, value));
        }
        if cursor.position() != end {
            return Err(RecordsError::InvalidRecord(
                "record length does not match its fields",
            ));
        }
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(timestamp_delta)
        };
        out.push(DecodedRecord {
            offset: header.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            key,
            value,
            headers,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{build_batch, BatchSpec, NewRecord};
    use crate::{patch_base_offset, Compression};

    #[test]
    fn round_trips_keys_values_headers_and_tombstones() {
        let headers: &[(&[u8], Option<&[u8]>)] = &[(b"h1", Some(b"x")), (b"h1", None)];
        let records = [
            NewRecord {
                key: Some(b"k0"),
                value: Some(b"v0"),
                headers,
                timestamp_delta: 0,
            },
            NewRecord {
                key: Some(b"k1"),
                value: None,
                headers: &[],
                timestamp_delta: 7,
            },
            NewRecord::default(),
        ];
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let spec = BatchSpec {
                compression: codec,
                ..BatchSpec::plain(1_000)
            };
            let mut batch = build_batch(&spec, &records).unwrap();
            patch_base_offset(&mut batch, 40);
            let decoded = decode_records(&batch).unwrap();
            assert_eq!(decoded.len(), 3, "{codec:?}");
            assert_eq!(decoded[0].offset, 40);
            assert_eq!(decoded[0].timestamp, 1_000);
            assert_eq!(decoded[0].key.as_deref(), Some(&b"k0"[..]));
            assert_eq!(decoded[0].value.as_deref(), Some(&b"v0"[..]));
            assert_eq!(
                decoded[0].headers,
                vec![
                    (b"h1".to_vec(), Some(b"x".to_vec())),
                    (b"h1".to_vec(), None)
                ]
            );
            assert_eq!((decoded[1].offset, decoded[1].timestamp), (41, 1_007));
            assert_eq!(decoded[1].value, None);
            assert_eq!(
                (decoded[2].key.clone(), decoded[2].value.clone()),
                (None, None)
            );
            let header = BatchHeader::parse(&batch).unwrap();
            assert_eq!((header.last_offset_delta, header.max_timestamp), (2, 1_007));
        }
    }

    #[test]
    fn refuses_corruption_and_empty_batches() {
        let mut batch = build_batch(
            &BatchSpec::plain(5),
            &[NewRecord {
                key: Some(b"k"),
                value: Some(b"v"),
                ..NewRecord::default()
            }],
        )
        .unwrap();
        let last = batch.len() - 1;
        batch[last] ^= 0xff;
        assert!(matches!(
            decode_records(&batch),
            Err(RecordsError::CorruptMessage { .. })
        ));
        assert!(decode_records(&batch[..30]).is_err());
        assert!(build_batch(&BatchSpec::plain(5), &[]).is_err());
    }
}
