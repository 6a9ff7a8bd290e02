//! Bounded decompression of a batch's records section.
//!
//! Invariant: no codec produces more than [`MAX_DECOMPRESSED_BYTES`]; larger output is an error
//! rather than an allocation. Snappy accepts both raw blocks and Kafka/xerial framing
//! (`82 53 4e 41 50 50 59 00`, two i32 versions, then `i32 length + raw block` chunks).

use std::borrow::Cow;
use std::io::Read;

use crate::{Compression, RecordsError};

/// Upper bound on decompressed records per batch (64 MiB).
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;

fn too_large() -> RecordsError {
    RecordsError::Decompress(format!(
        "decompressed records exceed {MAX_DECOMPRESSED_BYTES} bytes"
    ))
}

/// Decompresses `data` with `codec`, returning it borrowed when uncompressed.
pub(crate) fn decompress(codec: Compression, data: &[u8]) -> Result<Cow<'_, [u8]>, RecordsError> {
    match codec {
        Compression::None => Ok(Cow::Borrowed(data)),
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(data), "gzip"),
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(data), "lz4"),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data)
                .map_err(|e| RecordsError::Decompress(format!("zstd: {e}")))?;
            read_bounded(decoder, "zstd")
        }
        Compression::Snappy => snappy(data).map(Cow::Owned),
    }
}

fn read_bounded<R: Read>(reader: R, name: &str) -> Result<Cow<'static, [u8]>, RecordsError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RecordsError::Decompress(format!("{name}: {e}")))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    Ok(Cow::Owned(out))
}

fn snappy(data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    if data.len() >= XERIAL_HEADER_LEN && data[..8] == XERIAL_MAGIC {
        let mut out = Vec::new();
        let mut rest = &data[XERIAL_HEADER_LEN..];
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(RecordsError::Decompress(
                    "snappy: truncated chunk length".into(),
                ));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let chunk = rest
                .get(4..4 + len)
                .ok_or_else(|| RecordsError::Decompress("snappy: truncated chunk".into()))?;
            snappy_raw(chunk, &mut out)?;
            rest = &rest[4 + len..];
        }
        Ok(out)
    } else {
        let mut out = Vec::new();
        snappy_raw(data, &mut out)?;
        Ok(out)
    }
}

fn snappy_raw(block: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let len = snap::raw::decompress_len(block)
        .map_err(|e| RecordsError::Decompress(format!("snappy: {e}")))?;
    if out.len() + len > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| RecordsError::Decompress(format!("snappy: {e}")))?;
    Ok(())
}
