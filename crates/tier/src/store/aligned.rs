//! Receiving a ranged GET's body into page-aligned memory.
//!
//! A cold read writes every fetched chunk to the cache directory with `O_DIRECT`
//! (`chunk_file.rs`), which needs a 4 KiB-aligned source buffer. Collecting the body into
//! aligned memory in the first place lets that write take the bytes as they are, instead of
//! copying the whole chunk into an aligned buffer first: one pass over the memory fewer per
//! byte read from the bucket.
//!
//! Buffers of a megabyte or more are kept for reuse when their last `Bytes` is dropped (at
//! most [`POOLED`] of them): a fresh 16 MiB allocation per chunk cost the broker a page fault
//! per 4 KiB, about 15 % of its CPU in a cold replay (docs/benchmarks.md).
//!
//! Invariants: the returned `Bytes` starts at a [`ALIGN`]-aligned address and holds exactly
//! the body; a body longer than expected is an error (nothing is written past the buffer), a
//! shorter one is returned as it is (the caller checks the length); a reused buffer's old
//! contents are never visible (only the bytes written for this body are); idle pooled memory
//! is at most [`POOLED`] buffers.

use bytes::Bytes;
use futures::StreamExt;
use object_store::GetResult;

/// Alignment of the buffer (`O_DIRECT`'s block size).
pub const ALIGN: usize = 4096;

/// One aligned block.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; ALIGN]);

/// Most idle buffers kept for reuse.
pub const POOLED: usize = 4;
/// Buffers smaller than this are not pooled.
const POOL_MIN_BYTES: usize = 1 << 20;

/// Idle buffers, for reuse.
static POOL: std::sync::Mutex<Vec<Box<[Block]>>> = std::sync::Mutex::new(Vec::new());

/// An aligned buffer holding `len` bytes of body (initialised memory: zeroed when new, old
/// bodies' bytes when reused; only `..len` is ever read).
struct AlignedBuf {
    blocks: Box<[Block]>,
    len: usize,
}

impl AlignedBuf {
    fn with_capacity(capacity: usize) -> AlignedBuf {
        let n = capacity.div_ceil(ALIGN).max(1);
        let reused = {
            let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
            // A pooled buffer that fits without wasting more than half of it.
            let at = pool.iter().position(|b| b.len() >= n && b.len() / 2 < n);
            at.map(|i| pool.swap_remove(i))
        };
        let blocks = reused.unwrap_or_else(|| {
            let blocks = Box::<[Block]>::new_zeroed_slice(n);
            // SAFETY: `Block` is plain bytes, for which all-zero is a valid value.
            unsafe { blocks.assume_init() }
        });
        AlignedBuf { blocks, len: 0 }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = std::mem::size_of_val(&*self.blocks);
        // SAFETY: `Block` is `repr(C)` around `[u8; ALIGN]` with no padding, so the blocks are
        // `len` initialised, contiguous bytes, borrowed mutably for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<u8>(), len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if std::mem::size_of_val(&*self.blocks) < POOL_MIN_BYTES {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOLED {
            pool.push(std::mem::take(&mut self.blocks));
        }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        let len = std::mem::size_of_val(&*self.blocks);
        // SAFETY: as in `bytes_mut`, shared; `self.len <= len`.
        let all = unsafe { std::slice::from_raw_parts(self.blocks.as_ptr().cast::<u8>(), len) };
        &all[..self.len]
    }
}

/// Reads the body of `result` into aligned memory of `expected` bytes. `Err(actual)` with
/// the number of bytes seen so far if the body is longer.
pub async fn collect(
    result: GetResult,
    expected: usize,
) -> object_store::Result<Result<Bytes, usize>> {
    let mut buf = AlignedBuf::with_capacity(expected);
    let mut stream = result.into_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        let end = buf.len + piece.len();
        if end > expected {
            return Ok(Err(end));
        }
        let at = buf.len;
        buf.bytes_mut()[at..end].copy_from_slice(&piece);
        buf.len = end;
    }
    Ok(Ok(Bytes::from_owner(buf)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

    use super::*;

    #[tokio::test]
    async fn bodies_land_aligned_and_exact() {
        let store = Arc::new(InMemory::new());
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let path = Path::from("o");
        store
            .put(&path, PutPayload::from(data.clone()))
            .await
            .unwrap();
        for (start, end) in [
            (0usize, 100_000usize),
            (1, 4097),
            (5000, 5001),
            (4096, 8192),
        ] {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(start as u64..end as u64)),
                ..GetOptions::default()
            };
            let got = store.get_opts(&path, opts).await.unwrap();
            let bytes = collect(got, end - start).await.unwrap().unwrap();
            assert_eq!(bytes.as_ptr() as usize % ALIGN, 0);
            assert_eq!(&bytes[..], &data[start..end]);
        }
        // A body longer than expected is refused, not written past the buffer.
        let got = store.get_opts(&path, GetOptions::default()).await.unwrap();
        assert_eq!(collect(got, 10).await.unwrap(), Err(100_000));
        // Reused buffers show only the new body.
        for round in 0..3u8 {
            let big: Vec<u8> = vec![round + 1; 2 << 20];
            store
                .put(&path, PutPayload::from(big.clone()))
                .await
                .unwrap();
            let got = store.get_opts(&path, GetOptions::default()).await.unwrap();
            let bytes = collect(got, big.len()).await.unwrap().unwrap();
            assert_eq!(bytes.as_ptr() as usize % ALIGN, 0);
            assert_eq!(&bytes[..], &big[..]);
            let small = &big[..(1 << 20) + 5];
            store
                .put(&path, PutPayload::from(small.to_vec()))
                .await
                .unwrap();
            let got = store.get_opts(&path, GetOptions::default()).await.unwrap();
            let bytes = collect(got, small.len()).await.unwrap().unwrap();
            assert_eq!(&bytes[..], small);
        }
        assert!(POOL.lock().unwrap().len() <= POOLED);
    }
}
