//! The cold-read cache: fixed-size chunks of remote objects kept on local disk.
//!
//! A read of `[start, end)` of an object is served from chunk-aligned pieces; each missing chunk
//! is fetched with one ranged GET of `chunk_bytes` (the last chunk of an object may be shorter).
//!
//! Invariants:
//! - identical in-flight chunk fetches are coalesced: one GET, every waiter gets its bytes;
//! - total cached bytes stay ≤ `capacity_bytes`, least recently used chunks evicted first;
//! - the last [`ChunkCache::prefetch_slots`] chunks fetched also stay in memory after their
//!   file is written, so a sequential reader gets prefetched chunks without a disk read;
//! - background fetches ([`ChunkCache::prefetch`], the read-ahead window of `read_ahead.rs`)
//!   hold at most [`ChunkCache::prefetch_slots`] chunks in flight (a quarter of the capacity, at
//!   least 2): a prefetch finding no free slot is dropped, not queued, so prefetch memory and
//!   GET concurrency stay bounded however many replays run;
//! - chunk files are written to a temporary name and renamed, so a crash never leaves a short
//!   chunk under a real name; the cache directory is wiped at startup (it is only a cache).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::TierError;
use crate::store::RemoteStore;

type ChunkId = (String, u64);
type InFlight = Arc<OnceCell<Bytes>>;

#[derive(Debug, Default)]
struct State {
    /// Cached chunks: id → size on disk.
    sizes: HashMap<ChunkId, u64>,
    /// Recency order, least recent first (may hold stale duplicates; `sizes` is the truth).
    order: VecDeque<ChunkId>,
    bytes: u64,
    in_flight: HashMap<ChunkId, InFlight>,
    /// The chunks fetched last, kept in memory after their file is written (oldest first, at
    /// most `prefetch_slots` of them): a sequential reader reaches a prefetched chunk shortly
    /// after its GET, and reads it here instead of from disk.
    recent: VecDeque<(ChunkId, Bytes)>,
}

/// A disk cache of object chunks.
#[derive(Debug, Clone)]
pub struct ChunkCache {
    store: RemoteStore,
    dir: PathBuf,
    chunk_bytes: u64,
    capacity_bytes: u64,
    state: Arc<Mutex<State>>,
    /// Slots of background chunk fetches.
    prefetch: Arc<Semaphore>,
}

/// Most background chunk fetches in flight, whatever the capacity.
const MAX_PREFETCH_SLOTS: u64 = 64;

impl ChunkCache {
    /// Creates the cache in `dir` (emptied first).
    pub fn new(
        store: RemoteStore,
        dir: &Path,
        chunk_bytes: u64,
        capacity_bytes: u64,
    ) -> Result<ChunkCache, TierError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| TierError::io(format!("clear cache {}", dir.display()), e))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| TierError::io(format!("create cache {}", dir.display()), e))?;
        let chunk_bytes = chunk_bytes.max(1);
        let slots = (capacity_bytes / 4 / chunk_bytes).clamp(2, MAX_PREFETCH_SLOTS);
        Ok(ChunkCache {
            store,
            dir: dir.to_path_buf(),
            chunk_bytes,
            capacity_bytes,
            state: Arc::new(Mutex::new(State::default())),
            prefetch: Arc::new(Semaphore::new(slots as usize)),
        })
    }

    /// The cache capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// How many background chunk fetches may be in flight at once.
    pub fn prefetch_slots(&self) -> usize {
        (self.capacity_bytes / 4 / self.chunk_bytes).clamp(2, MAX_PREFETCH_SLOTS) as usize
    }

    /// Starts fetching chunk `idx` of `key` (total size `object_size`) in the background,
    /// unless it is cached, already being fetched, or every prefetch slot is taken. Returns
    /// whether a fetch was started.
    pub fn prefetch(&self, key: &str, object_size: u64, idx: u64) -> bool {
        if idx * self.chunk_bytes >= object_size {
            return false;
        }
        let id: ChunkId = (key.to_string(), idx);
        let permit = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.sizes.contains_key(&id) || st.in_flight.contains_key(&id) {
                return false;
            }
            let Ok(permit) = self.prefetch.clone().try_acquire_owned() else {
                metrics::counter!("strata_cold_prefetch_skipped_total").increment(1);
                return false;
            };
            // Registered now, so a second prefetch or a reader of the chunk joins this fetch.
            st.in_flight.insert(id, InFlight::default());
            permit
        };
        metrics::counter!("strata_cold_prefetch_total").increment(1);
        let this = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            if let Err(e) = this.read_chunk(&key, object_size, idx, 0, 0).await {
                tracing::debug!(key, chunk = idx, error = %e, "read-ahead failed");
            }
            drop(permit);
        });
        true
    }

    /// The chunk size.
    pub fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes
    }

    /// Reads `[start, end)` of object `key` whose total size is `object_size`.
    pub async fn read(
        &self,
        key: &str,
        object_size: u64,
        start: u64,
        end: u64,
    ) -> Result<Bytes, TierError> {
        let end = end.min(object_size);
        if start >= end {
            return Ok(Bytes::new());
        }
        let first = start / self.chunk_bytes;
        let last = (end - 1) / self.chunk_bytes;
        let mut pieces = Vec::with_capacity((last - first + 1) as usize);
        for idx in first..=last {
            let chunk_start = idx * self.chunk_bytes;
            let chunk_len = (chunk_start + self.chunk_bytes).min(object_size) - chunk_start;
            let from = start.max(chunk_start) - chunk_start;
            let to = end.min(chunk_start + chunk_len) - chunk_start;
            pieces.push(self.read_chunk(key, object_size, idx, from, to).await?);
        }
        // One chunk: hand out its slice as is; several: join them once.
        let out = if pieces.len() == 1 {
            pieces.pop().unwrap_or_default()
        } else {
            let mut joined = BytesMut::with_capacity((end - start) as usize);
            for p in &pieces {
                joined.extend_from_slice(p);
            }
            joined.freeze()
        };
        Ok(out)
    }

    /// Bytes `[from, to)` of chunk `idx`, fetching the chunk if it is not cached.
    async fn read_chunk(
        &self,
        key: &str,
        object_size: u64,
        idx: u64,
        from: u64,
        to: u64,
    ) -> Result<Bytes, TierError> {
        let id: ChunkId = (key.to_string(), idx);
        // A chunk just fetched stays in memory until its file is written.
        let fresh = {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.in_flight
                .get(&id)
                .and_then(|c| c.get().cloned())
                .or_else(|| {
                    st.recent
                        .iter()
                        .find(|(r, _)| *r == id)
                        .map(|(_, b)| b.clone())
                })
        };
        if let Some(chunk) = fresh {
            metrics::counter!("strata_cold_cache_hits_total").increment(1);
            return slice(key, idx, &chunk, from, to);
        }
        let cached = {
            let this = self.clone();
            let id = id.clone();
            tokio::task::spawn_blocking(move || this.cached_range(&id, from, to))
                .await
                .map_err(|e| TierError::Corrupt(format!("cache read task: {e}")))??
        };
        if let Some(bytes) = cached {
            metrics::counter!("strata_cold_cache_hits_total").increment(1);
            return Ok(bytes);
        }
        let cell = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.in_flight.entry(id.clone()).or_default().clone()
        };
        let result = cell
            .get_or_try_init(|| async {
                let start = idx * self.chunk_bytes;
                let end = (start + self.chunk_bytes).min(object_size);
                // Another reader may have fetched and stored it since this one looked.
                let stored = {
                    let this = self.clone();
                    let id = id.clone();
                    tokio::task::spawn_blocking(move || this.cached_range(&id, 0, end - start))
                        .await
                        .map_err(|e| TierError::Corrupt(format!("cache read task: {e}")))??
                };
                if let Some(bytes) = stored {
                    return Ok(bytes);
                }
                metrics::counter!("strata_cold_cache_misses_total").increment(1);
                let bytes = self.store.get_range(key, start..end).await?;
                metrics::counter!("strata_cold_cache_fill_bytes_total")
                    .increment(bytes.len() as u64);
                if bytes.len() as u64 != end - start {
                    return Err(TierError::Corrupt(format!(
                        "{key}: ranged GET returned {} bytes, expected {}",
                        bytes.len(),
                        end - start
                    )));
                }
                // Written to disk off the async workers and off the read's critical path.
                let this = self.clone();
                let (id, copy) = (id.clone(), bytes.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = this.insert(&id, &copy) {
                        tracing::debug!(error = %e, "cache insert failed");
                    }
                    let keep = this.prefetch_slots();
                    let mut st = this.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.in_flight.remove(&id);
                    st.recent.push_back((id, copy));
                    while st.recent.len() > keep {
                        st.recent.pop_front();
                    }
                });
                Ok::<Bytes, TierError>(bytes)
            })
            .await
            .cloned();
        let chunk = match result {
            Ok(chunk) => chunk,
            Err(e) => {
                // Let the next reader try again.
                self.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .in_flight
                    .remove(&id);
                return Err(e);
            }
        };
        slice(key, idx, &chunk, from, to)
    }

    fn path(&self, id: &ChunkId) -> PathBuf {
        let mut name: String =
            id.0.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
        name.push_str(&format!("@{}", id.1));
        self.dir.join(name)
    }

    /// Bytes `[from, to)` of a cached chunk, read with one positional read.
    fn cached_range(&self, id: &ChunkId, from: u64, to: u64) -> Result<Option<Bytes>, TierError> {
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if !st.sizes.contains_key(id) {
                return Ok(None);
            }
            touch(&mut st, id);
        }
        let read = std::fs::File::open(self.path(id)).and_then(|f| {
            let mut buf = vec![0u8; (to - from) as usize];
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, from)?;
            Ok(buf)
        });
        match read {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(size) = st.sizes.remove(id) {
                    st.bytes -= size;
                }
                Ok(None)
            }
            Err(e) => Err(TierError::io("read cached chunk", e)),
        }
    }

    fn insert(&self, id: &ChunkId, bytes: &Bytes) -> Result<(), TierError> {
        if bytes.len() as u64 > self.capacity_bytes {
            return Ok(());
        }
        let path = self.path(id);
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        crate::chunk_file::write_chunk(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| TierError::io(format!("write cache chunk {}", path.display()), e))?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.sizes.insert(id.clone(), bytes.len() as u64).is_none() {
            st.bytes += bytes.len() as u64;
        }
        touch(&mut st, id);
        while st.bytes > self.capacity_bytes {
            let Some(victim) = st.order.pop_front() else {
                break;
            };
            if &victim == id || st.order.contains(&victim) {
                continue; // a newer use of this chunk is further back in the queue
            }
            // (`order` is kept within a small multiple of `sizes` by `touch`, so this scan is short.)
            if let Some(size) = st.sizes.remove(&victim) {
                st.bytes -= size;
                let _ = std::fs::remove_file(self.path(&victim));
                metrics::counter!("strata_cold_cache_evictions_total").increment(1);
            }
        }
        metrics::gauge!("strata_cold_cache_bytes").set(st.bytes as f64);
        Ok(())
    }
}

/// Marks a chunk most recently used. The queue holds one entry per use; when stale entries
/// outnumber live chunks it is rebuilt, keeping each chunk's latest position.
fn touch(st: &mut State, id: &ChunkId) {
    st.order.push_back(id.clone());
    if st.order.len() > 4 * st.sizes.len() + 16 {
        let mut seen = std::collections::HashSet::new();
        let mut rebuilt: VecDeque<ChunkId> = VecDeque::with_capacity(st.sizes.len());
        for c in st.order.iter().rev() {
            if st.sizes.contains_key(c) && seen.insert(c.clone()) {
                rebuilt.push_front(c.clone());
            }
        }
        st.order = rebuilt;
    }
}

fn slice(key: &str, idx: u64, chunk: &Bytes, from: u64, to: u64) -> Result<Bytes, TierError> {
    if to > chunk.len() as u64 || from > to {
        return Err(TierError::Corrupt(format!("{key}: chunk {idx} is short")));
    }
    Ok(chunk.slice(from as usize..to as usize))
}
