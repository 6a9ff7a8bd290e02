//! Facts about a local segment file needed for its manifest: CRC-32C of the whole file, the
//! smallest batch timestamp and the last batch's leader epoch, read with positional reads (the
//! file may be large; it is streamed, never loaded whole).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use strata_records::{BatchHeader, BATCH_HEADER_LEN};

use crate::error::TierError;

/// What the manifest records about a `.log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFacts {
    /// Bytes in the file.
    pub size: u64,
    /// CRC-32C of the file.
    pub crc32c: u32,
    /// Smallest batch base timestamp (-1 when empty).
    pub min_timestamp: i64,
    /// Leader epoch of the last batch (-1 when empty).
    pub leader_epoch: i32,
}

/// Reads the facts of the segment file at `path`.
pub fn segment_facts(path: &Path) -> Result<SegmentFacts, TierError> {
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
    while pos + BATCH_HEADER_LEN as u64 <= size {
        file.read_exact_at(&mut header, pos)
            .map_err(|e| TierError::io(ctx("read header in"), e))?;
        let h = BatchHeader::parse(&header)
            .map_err(|e| TierError::Corrupt(format!("{} at {pos}: {e}", path.display())))?;
        min_timestamp = min_timestamp.min(h.base_timestamp);
        leader_epoch = h.partition_leader_epoch;
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
    })
}
