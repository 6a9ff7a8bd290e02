//! Writing one cold-cache chunk file without copying it through the page cache.
//!
//! A cold replay writes every fetched chunk to the cache directory; with buffered writes the
//! kernel copies each byte into the page cache, which measured 2.7 s of CPU per GiB on the
//! benchmark machine (66 % of the broker's CPU in a cold replay, docs/benchmarks.md), more than
//! the GETs themselves. With `O_DIRECT` the disk reads the bytes straight from a page-aligned
//! buffer (0.07 s of CPU per GiB there); later reads of the file go through the page cache as
//! usual.
//!
//! Invariants: the file ends up holding exactly `bytes` (an `O_DIRECT` write is padded to whole
//! 4 KiB blocks, then the file is truncated to the real length); where the filesystem refuses
//! `O_DIRECT` (tmpfs, some overlays: `EINVAL` at open or write) the chunk is written with a
//! plain buffered write instead, so the result is the same, only the cost differs.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `O_DIRECT` alignment of buffer addresses, lengths and file offsets.
const BLOCK: usize = 4096;

/// One aligned block of the write buffer.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

thread_local! {
    /// The aligned write buffer of this (blocking-pool) thread, reused across chunks.
    static BUFFER: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Writes `bytes` to a new file at `path` (replacing any), bypassing the page cache where the
/// filesystem allows it.
pub(crate) fn write_chunk(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match write_direct(path, bytes) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => std::fs::write(path, bytes),
        Err(e) => Err(e),
    }
}

fn write_direct(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    // Bytes already in aligned memory (a ranged GET's body, `store::aligned`) are written as
    // they are, all but the last partial block; the rest goes through the aligned buffer.
    let direct = if (bytes.as_ptr() as usize).is_multiple_of(BLOCK) {
        bytes.len() / BLOCK * BLOCK
    } else {
        0
    };
    file.write_all(&bytes[..direct])?;
    let rest = &bytes[direct..];
    let blocks = rest.len().div_ceil(BLOCK);
    BUFFER.with(|buffer| -> std::io::Result<()> {
        let mut buffer = buffer.borrow_mut();
        if buffer.len() < blocks {
            buffer.resize(blocks, Block([0; BLOCK]));
        }
        let aligned = as_bytes_mut(&mut buffer[..blocks]);
        aligned[..rest.len()].copy_from_slice(rest);
        aligned[rest.len()..].fill(0);
        file.write_all(aligned)
    })?;
    file.set_len(bytes.len() as u64)
}

/// The bytes of `blocks`.
fn as_bytes_mut(blocks: &mut [Block]) -> &mut [u8] {
    let len = std::mem::size_of_val(blocks);
    // SAFETY: `Block` is `repr(C)` around a `[u8; BLOCK]` with no padding (its size is BLOCK,
    // its alignment divides it), so `blocks` is `len` initialised, contiguous bytes, borrowed
    // mutably for the returned slice's lifetime.
    unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr().cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use super::write_chunk;

    #[test]
    fn aligned_sources_are_written_as_they_are() {
        // Aligned memory (as a ranged GET's body is received), then unaligned slices of it.
        #[repr(C, align(4096))]
        struct Page([u8; 4096]);
        let mut pages: Vec<Page> = (0..4).map(|_| Page([0; 4096])).collect();
        for (i, p) in pages.iter_mut().enumerate() {
            p.0.iter_mut()
                .enumerate()
                .for_each(|(j, b)| *b = ((i * 31 + j) % 251) as u8);
        }
        // SAFETY: `Page` is `repr(C)` plain bytes without padding.
        let all: &[u8] =
            unsafe { std::slice::from_raw_parts(pages.as_ptr().cast::<u8>(), 4 * 4096) };
        let dir = tempfile::tempdir().unwrap();
        for (from, to) in [(0, 16384), (0, 10000), (0, 4096), (0, 100), (1, 9000)] {
            let path = dir.path().join(format!("c-{from}-{to}"));
            write_chunk(&path, &all[from..to]).unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                &all[from..to],
                "{from}..{to}"
            );
        }
    }

    #[test]
    fn files_hold_exactly_the_bytes_whatever_their_length() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, 1 << 20, (1 << 20) + 123] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("chunk-{len}"));
            // Twice: a shorter rewrite must not keep the old tail.
            write_chunk(&path, &vec![0xAB; len + 5000]).unwrap();
            write_chunk(&path, &bytes).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "length {len}");
        }
    }
}
