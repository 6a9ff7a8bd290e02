//! The read-ahead window of cold replays: parallel ranged GETs ahead of each sequential reader.
//!
//! A replay from the bucket is a sequence of reads, each starting where the previous one
//! ended. Fetching one chunk at a time caps a replay at the store's single-stream speed, so
//! after each read the window asks the chunk cache to prefetch every chunk covering the next
//! `bytes` of the partition's remote log — the rest of this segment, then the following
//! segments (found by catalog floor lookups) — and those GETs run in parallel while the reader
//! consumes the chunks before them.
//!
//! Invariants:
//! - only chunks the reader will reach if it keeps reading are fetched, each once (the cache
//!   coalesces and skips what it holds), so a whole replay still costs `size / chunk` GETs;
//! - a read that is not sequential (a seek: no position hint) prefetches only up to the next
//!   chunk, so random reads do not pull a window each; a window of 0 prefetches nothing;
//! - the window is at most half the cache capacity, so prefetched chunks are not evicted before
//!   the reader gets to them; the cache bounds the prefetches in flight across all readers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cache::ChunkCache;
use crate::catalog::Catalog;
use crate::manifest::SegmentManifest;

/// Default window (`strata.cold.read.ahead.bytes`): 128 MiB, eight 16 MiB chunks.
pub const DEFAULT_READ_AHEAD_BYTES: u64 = 128 << 20;

/// The read-ahead window of one broker's cold reads.
#[derive(Debug, Clone)]
pub struct ReadAhead {
    cache: ChunkCache,
    catalog: Catalog,
    bytes: Arc<AtomicU64>,
}

impl ReadAhead {
    /// A window of [`DEFAULT_READ_AHEAD_BYTES`] (capped at half the cache).
    pub fn new(cache: ChunkCache, catalog: Catalog) -> ReadAhead {
        let ra = ReadAhead {
            cache,
            catalog,
            bytes: Arc::new(AtomicU64::new(0)),
        };
        ra.set_bytes(DEFAULT_READ_AHEAD_BYTES);
        ra
    }

    /// Sets the window; 0 turns read-ahead off.
    pub fn set_bytes(&self, bytes: u64) {
        let cap = self.cache.capacity_bytes() / 2;
        self.bytes.store(bytes.min(cap), Ordering::Relaxed);
    }

    /// The window in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Called after a read of segment `m` of `topic_id`/`partition` that ended at byte `pos`
    /// of its `.log` object; `sequential` when the read continued the previous one. Starts the
    /// prefetches; never waits for them. Returns how many GETs it started.
    pub fn after_read(
        &self,
        topic_id: &str,
        partition: i32,
        m: &SegmentManifest,
        pos: u64,
        sequential: bool,
    ) -> usize {
        let chunk = self.cache.chunk_bytes();
        let window = match self.bytes() {
            0 => return 0,
            bytes if sequential => bytes.max(chunk),
            _ => chunk,
        };
        let mut started = 0;
        // Bytes of the window not yet covered, counted from `pos`.
        let mut left = window;
        let mut seg = m.clone();
        let mut from = pos;
        loop {
            let key = seg.keys().log;
            let mut idx = from / chunk;
            while left > 0 && idx * chunk < seg.size {
                let chunk_end = ((idx + 1) * chunk).min(seg.size);
                if self.cache.prefetch(&key, seg.size, idx) {
                    started += 1;
                }
                left = left.saturating_sub(chunk_end - from.max(idx * chunk));
                idx += 1;
            }
            if left == 0 {
                break;
            }
            // The window goes on into the next segment.
            match self.catalog.floor(topic_id, partition, seg.end_offset) {
                Ok(Some(next)) if next.base_offset > seg.base_offset => {
                    seg = next;
                    from = 0;
                }
                _ => break,
            }
        }
        started
    }
}
