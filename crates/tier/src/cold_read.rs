//! Serving fetches below the local log start from the bucket.
//!
//! Steps: the catalog's floor lookup finds the segment containing the offset; its offset index
//! (fetched once and kept in memory) gives a position at or before the offset's batch; the
//! `.log` object is read through the chunk cache from there; batch headers are walked to the
//! batch *containing* the offset and whole batches are returned — at least one, then up to
//! `max_bytes`, never one ending at or past `upper_bound` — exactly as they were produced.
//!
//! Invariant: bytes returned are whole, CRC-carrying batches copied from the object; nothing is
//! re-encoded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use strata_records::{BatchHeader, BATCH_HEADER_LEN};

use crate::cache::ChunkCache;
use crate::catalog::Catalog;
use crate::error::TierError;
use crate::manifest::SegmentManifest;
use crate::store::RemoteStore;

/// Offset index entries: (absolute last offset of a batch, position of that batch).
type OffsetIndex = Arc<Vec<(i64, u64)>>;

/// Reads remote segments.
#[derive(Debug, Clone)]
pub struct ColdReader {
    store: RemoteStore,
    catalog: Catalog,
    cache: ChunkCache,
    indexes: Arc<Mutex<HashMap<String, OffsetIndex>>>,
}

/// How many offset indexes stay in memory.
const MAX_CACHED_INDEXES: usize = 256;

impl ColdReader {
    /// A reader over `store` using `catalog` and `cache`.
    pub fn new(store: RemoteStore, catalog: Catalog, cache: ChunkCache) -> ColdReader {
        ColdReader {
            store,
            catalog,
            cache,
            indexes: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whole batches starting with the one containing `offset`; `None` if no remote segment
    /// holds it.
    pub async fn read(
        &self,
        topic_id: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
    ) -> Result<Option<(i64, Bytes)>, TierError> {
        let Some(m) = self.catalog.floor(topic_id, partition, offset)? else {
            return Ok(None);
        };
        metrics::counter!("strata_remote_reads_total").increment(1);
        let keys = m.keys();
        let index = self.offset_index(&m).await?;
        // Start at the last indexed batch that ends before `offset` (its successor may hold it).
        let mut pos = index
            .iter()
            .take_while(|(last, _)| *last < offset)
            .last()
            .map_or(0, |(_, p)| *p);
        let want = (max_bytes as u64).max(BATCH_HEADER_LEN as u64);
        let mut window = Window::new(&self.cache, &keys.log, m.size, pos);
        let mut out = BytesMut::new();
        let mut first_offset = -1;
        while pos < m.size {
            let hb = window.bytes(pos, BATCH_HEADER_LEN as u64, want).await?;
            let h = BatchHeader::parse(&hb)
                .map_err(|e| TierError::Corrupt(format!("{} at {pos}: {e}", keys.log)))?;
            let len = h.total_len() as u64;
            if h.last_offset() < offset {
                pos += len;
                continue;
            }
            if h.last_offset() >= upper_bound {
                break;
            }
            if !out.is_empty() && out.len() as u64 + len > want {
                break;
            }
            let batch = window.bytes(pos, len, want).await?;
            if out.is_empty() {
                first_offset = h.base_offset;
            }
            out.extend_from_slice(&batch);
            pos += len;
        }
        metrics::counter!("strata_remote_read_bytes_total").increment(out.len() as u64);
        Ok(Some((first_offset, out.freeze())))
    }

    /// The first record offset with timestamp ≥ `ts` in the remote tier, with its timestamp.
    pub async fn offset_for_timestamp(
        &self,
        topic_id: &str,
        partition: i32,
        ts: i64,
    ) -> Result<Option<(i64, i64)>, TierError> {
        for m in self.catalog.finished(topic_id, partition)? {
            if m.max_timestamp < ts {
                continue;
            }
            let keys = m.keys();
            let mut pos = 0u64;
            while pos < m.size {
                let hb = self
                    .cache
                    .read(&keys.log, m.size, pos, pos + BATCH_HEADER_LEN as u64)
                    .await?;
                let h = BatchHeader::parse(&hb)
                    .map_err(|e| TierError::Corrupt(format!("{} at {pos}: {e}", keys.log)))?;
                let len = h.total_len() as u64;
                if h.max_timestamp >= ts {
                    let batch = self.cache.read(&keys.log, m.size, pos, pos + len).await?;
                    let found = strata_records::record_timestamps(&batch)
                        .map_err(|e| TierError::Corrupt(format!("{}: {e}", keys.log)))?
                        .into_iter()
                        .find(|(_, t)| *t >= ts);
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                pos += len;
            }
        }
        Ok(None)
    }

    async fn offset_index(&self, m: &SegmentManifest) -> Result<OffsetIndex, TierError> {
        let key = m.keys().offset_index;
        if let Some(idx) = self
            .indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(idx.clone());
        }
        let raw = self.store.get(&key).await?;
        let entries: Vec<(i64, u64)> = raw
            .chunks_exact(8)
            .map(|e| {
                let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                (m.base_offset + rel as i64, pos as u64)
            })
            .collect();
        let idx = Arc::new(entries);
        let mut map = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CACHED_INDEXES {
            map.clear();
        }
        map.insert(key, idx.clone());
        Ok(idx)
    }

    /// The cache (for stats).
    pub fn cache(&self) -> &ChunkCache {
        &self.cache
    }

    /// Bytes (for tests): a whole remote object.
    pub async fn get_object(&self, key: &str) -> Result<Bytes, TierError> {
        Ok(self.store.get(key).await?)
    }
}

/// A sliding window over a remote object: reads ahead in large pieces so walking batch headers
/// costs one cache read per piece, not one per batch.
struct Window<'a> {
    cache: &'a ChunkCache,
    key: &'a str,
    size: u64,
    start: u64,
    data: Bytes,
}

/// Smallest read the window makes.
const MIN_WINDOW: u64 = 1 << 20;

impl<'a> Window<'a> {
    fn new(cache: &'a ChunkCache, key: &'a str, size: u64, start: u64) -> Self {
        Window {
            cache,
            key,
            size,
            start,
            data: Bytes::new(),
        }
    }

    /// `len` bytes at `pos`, refilling from `pos` (at least `hint` bytes) when not in the window.
    async fn bytes(&mut self, pos: u64, len: u64, hint: u64) -> Result<Bytes, TierError> {
        let end = pos + len;
        if pos < self.start || end > self.start + self.data.len() as u64 {
            let fill = len.max(hint).max(MIN_WINDOW);
            self.data = self
                .cache
                .read(self.key, self.size, pos, pos + fill)
                .await?;
            self.start = pos;
        }
        if end > self.start + self.data.len() as u64 {
            return Err(TierError::Corrupt(format!(
                "{}: object ends inside a batch at {pos}",
                self.key
            )));
        }
        let from = (pos - self.start) as usize;
        Ok(self.data.slice(from..from + len as usize))
    }
}
