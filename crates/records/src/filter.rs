//! Rewriting a batch with a subset of its records (the log cleaner's `filterTo`).
//!
//! A filtered batch keeps everything Kafka's `MemoryRecords.filterTo` keeps for v2: the base
//! offset, the last offset delta (so the producer's last sequence and offset survive), the
//! producer id, epoch and base sequence, the attributes (codec, timestamp type,
//! transactional, control), the partition leader epoch and the base timestamp. Kept records are
//! copied byte for byte (their offset and timestamp deltas are relative to the unchanged base),
//! then the section is compressed again with the batch's codec. The records count and the max
//! timestamp (CreateTime: the largest kept; LogAppendTime: unchanged) are recomputed, and the CRC.
//! A batch with no kept record becomes Kafka's empty batch: the header alone, records count 0.

use crate::builder::{assemble, compress, HeaderSpec};
use crate::codec::decompress;
use crate::varint::Cursor;
use crate::{compute_crc, BatchHeader, RecordsError, BATCH_HEADER_LEN};

/// One record of a batch, as the cleaner sees it.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Absolute offset.
    pub offset: i64,
    /// Timestamp (the batch's max timestamp for LogAppendTime batches).
    pub timestamp: i64,
    /// Key (`None` = null).
    pub key: Option<&'a [u8]>,
    /// False for a null value (a tombstone).
    pub has_value: bool,
    /// The record's encoding, length prefix included.
    pub bytes: &'a [u8],
}

/// The decompressed records section of a whole batch (CRC checked).
pub fn records_section(batch: &[u8]) -> Result<Vec<u8>, RecordsError> {
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
    if header.records_count == 0 {
        return Ok(Vec::new());
    }
    Ok(decompress(header.compression()?, &batch[BATCH_HEADER_LEN..total])?.into_owned())
}

fn skip_bytes(cursor: &mut Cursor<'_>, end: usize) -> Result<Option<(usize, usize)>, RecordsError> {
    let len = cursor.varint()?;
    if len < 0 {
        return Ok(None);
    }
    let start = cursor.position();
    if start + len as usize > end {
        return Err(RecordsError::InvalidRecord(
            "record field exceeds its record",
        ));
    }
    cursor.skip(len as usize)?;
    Ok(Some((start, start + len as usize)))
}

/// Splits a records section (from [`records_section`]) of the batch `header` into records.
pub fn raw_records<'a>(
    header: &BatchHeader,
    section: &'a [u8],
) -> Result<Vec<RawRecord<'a>>, RecordsError> {
    let mut cursor = Cursor::new(section);
    let count = header.records_count.max(0) as usize;
    let mut out = Vec::with_capacity(count.min(section.len() / 7 + 1));
    for _ in 0..count {
        let start = cursor.position();
        let len = cursor.varint()?;
        if len < 0 || len as usize > cursor.remaining() {
            return Err(RecordsError::InvalidRecord("bad record length"));
        }
        let end = cursor.position() + len as usize;
        cursor.skip(1)?;
        let timestamp_delta = cursor.varlong()?;
        let offset_delta = cursor.varint()?;
        let key = skip_bytes(&mut cursor, end)?.map(|(s, e)| &section[s..e]);
        let has_value = skip_bytes(&mut cursor, end)?.is_some();
        cursor.skip(end - cursor.position())?;
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(timestamp_delta)
        };
        out.push(RawRecord {
            offset: header.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            key,
            has_value,
            bytes: &section[start..end],
        });
    }
    Ok(out)
}

/// Builds the filtered copy of the batch `header` holding `kept` (in order; see the module
/// docs). An empty `kept` gives the header-only empty batch.
pub fn filter_batch(header: &BatchHeader, kept: &[RawRecord<'_>]) -> Result<Vec<u8>, RecordsError> {
    let mut plain = Vec::with_capacity(kept.iter().map(|r| r.bytes.len()).sum());
    for record in kept {
        plain.extend_from_slice(record.bytes);
    }
    let section = if kept.is_empty() {
        Vec::new()
    } else {
        compress(header.compression()?, &plain)?
    };
    let max_ts = if header.is_log_append_time() {
        header.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(header.max_timestamp)
    };
    let spec = HeaderSpec {
        attributes: header.attributes,
        last_offset_delta: header.last_offset_delta,
        base_ts: header.base_timestamp,
        max_ts,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        records_count: kept.len() as i32,
    };
    let mut out = assemble(&spec, &section);
    // Base offset and leader epoch sit outside the CRC's coverage.
    out[0..8].copy_from_slice(&header.base_offset.to_be_bytes());
    out[12..16].copy_from_slice(&header.partition_leader_epoch.to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        build_batch, decode_records, patch_base_offset, BatchSpec, Compression, NewRecord,
    };

    fn batch(codec: Compression) -> Vec<u8> {
        let records: Vec<NewRecord<'_>> = (0..4)
            .map(|i| NewRecord {
                key: Some(if i % 2 == 0 { b"a" } else { b"b" }),
                value: (i != 3).then_some(b"v".as_slice()),
                headers: &[],
                timestamp_delta: i,
            })
            .collect();
        let spec = BatchSpec {
            compression: codec,
            base_timestamp: 1000,
            producer_id: 7,
            producer_epoch: 2,
            base_sequence: 10,
        };
        let mut b = build_batch(&spec, &records).unwrap();
        patch_base_offset(&mut b, 100);
        b
    }

    #[test]
    fn keeps_offsets_producer_fields_and_codec() {
        for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let b = batch(codec);
            let header = BatchHeader::parse(&b).unwrap();
            let section = records_section(&b).unwrap();
            let records = raw_records(&header, &section).unwrap();
            assert_eq!(records.len(), 4);
            assert!(!records[3].has_value);
            let kept = [records[1], records[2]];
            let out = filter_batch(&header, &kept).unwrap();
            let h = BatchHeader::parse(&out).unwrap();
            assert_eq!(h.base_offset, 100);
            assert_eq!(h.last_offset(), 103);
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (7, 2, 10)
            );
            assert_eq!(h.records_count, 2);
            assert_eq!(h.compression().unwrap(), codec);
            assert_eq!(h.max_timestamp, 1002);
            let decoded = decode_records(&out).unwrap();
            let offsets: Vec<i64> = decoded.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, vec![101, 102]);
            assert_eq!(decoded[0].key.as_deref(), Some(b"b".as_slice()));
        }
    }

    #[test]
    fn empty_filter_keeps_the_header() {
        let b = batch(Compression::Zstd);
        let header = BatchHeader::parse(&b).unwrap();
        let out = filter_batch(&header, &[]).unwrap();
        assert_eq!(out.len(), BATCH_HEADER_LEN);
        let h = BatchHeader::parse(&out).unwrap();
        assert_eq!((h.records_count, h.last_offset()), (0, 103));
        assert!(decode_records(&out).unwrap().is_empty());
        assert!(records_section(&out).unwrap().is_empty());
    }
}
