//! Facts about a local segment file needed for its manifest: CRC-32C of the whole file, the
//! smallest batch timestamp and the last batch's leader epoch, read with positional reads (the
//! file may be large; it is streamed, never loaded whole).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use strata_records::{BatchHeader, BATCH_HEADER_LEN};

use crate::error::TierError;
use crate::manifest::ProducerBatch;

/// What the manifest records about a `.log` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFacts {
    /// Bytes in the file.
    pub size: u64,
    /// CRC-32C of the file.
    pub crc32c: u32,
    /// Smallest batch base timestamp (-1 when empty).
    pub min_timestamp: i64,
    /// Leader epoch of the last batch (-1 when empty).
    pub leader_epoch: i32,
    /// Each idempotent producer's last (up to 5) batches, in offset order.
    pub producer_batches: Vec<ProducerBatch>,
}

/// Batches kept per producer (Kafka's `NUM_BATCHES_TO_RETAIN`).
const BATCHES_PER_PRODUCER: usize = 5;

/// Reads the facts of the segment file at `path`.
pub(crate) fn segment_facts(path: &Path) -> Result<SegmentFacts, TierError> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    let mut file = File::open(path).map_err(|e| TierError::io(ctx("open"), e))?;
    let size = file
        .metadata()
        .map_err(|e| TierError::io(ctx("stat"), e))?
        .len();
    let mut crc = 0u32;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| TierError::io(ctx("read"), e))?;
        if n == 0 {
            break;
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
    let mut min_timestamp = i64::MAX;
    let mut leader_epoch = -1;
    let mut pos = 0u64;
    let mut header = [0u8; BATCH_HEADER_LEN];
    let mut producers: std::collections::HashMap<i64, std::collections::VecDeque<ProducerBatch>> =
        std::collections::HashMap::new();
    while pos + BATCH_HEADER_LEN as u64 <= size {
        file.read_exact_at(&mut header, pos)
            .map_err(|e| TierError::io(ctx("read header in"), e))?;
        let h = BatchHeader::parse(&header)
            .map_err(|e| TierError::Corrupt(format!("{} at {pos}: {e}", path.display())))?;
        min_timestamp = min_timestamp.min(h.base_timestamp);
        leader_epoch = h.partition_leader_epoch;
        if h.producer_id >= 0 && h.base_sequence >= 0 && !h.is_control() {
            let batches = producers.entry(h.producer_id).or_default();
            batches.push_back(ProducerBatch {
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                base_sequence: h.base_sequence,
                base_offset: h.base_offset,
                last_offset_delta: h.last_offset_delta,
            });
            if batches.len() > BATCHES_PER_PRODUCER {
                batches.pop_front();
            }
        }
        pos += h.total_len() as u64;
    }
    Ok(SegmentFacts {
        size,
        crc32c: crc,
        min_timestamp: if min_timestamp == i64::MAX {
            -1
        } else {
            min_timestamp
        },
        leader_epoch,
        producer_batches: {
            let mut all: Vec<ProducerBatch> = producers.into_values().flatten().collect();
            all.sort_by_key(|b| b.base_offset);
            all
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_records::testing::build_batch;

    #[test]
    fn facts_of_a_segment_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let mut data = Vec::new();
        let mut offset = 0;
        // Plain batch, then seven idempotent batches of one producer, then one of another.
        let mut batches = vec![build_batch(5_000, &[(None, Some(b"a"), 0)], -1, -1, -1)];
        for seq in 0..7 {
            batches.push(build_batch(
                4_000 + seq as i64,
                &[(None, Some(b"b"), 0)],
                9,
                2,
                seq,
            ));
        }
        batches.push(build_batch(
            6_000,
            &[(None, Some(b"c"), 0), (None, Some(b"d"), 1)],
            11,
            0,
            0,
        ));
        for mut b in batches {
            strata_records::patch_base_offset(&mut b, offset);
            strata_records::patch_leader_epoch(&mut b, 3);
            offset += strata_records::BatchHeader::parse(&b)
                .unwrap()
                .last_offset_delta as i64
                + 1;
            data.extend_from_slice(&b);
        }
        std::fs::write(&path, &data).unwrap();
        let f = segment_facts(&path).unwrap();
        assert_eq!(f.size, data.len() as u64);
        assert_eq!(f.crc32c, crc32c::crc32c(&data));
        assert_eq!((f.min_timestamp, f.leader_epoch), (4_000, 3));
        // Producer 9 keeps its last five batches (sequences 2..=6 at offsets 3..=7), then 11.
        let seen: Vec<(i64, i32, i64)> = f
            .producer_batches
            .iter()
            .map(|b| (b.producer_id, b.base_sequence, b.base_offset))
            .collect();
        assert_eq!(
            seen,
            vec![
                (9, 2, 3),
                (9, 3, 4),
                (9, 4, 5),
                (9, 5, 6),
                (9, 6, 7),
                (11, 0, 8)
            ]
        );
        assert_eq!(f.producer_batches[5].last_offset_delta, 1);
    }
}
