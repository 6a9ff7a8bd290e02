//! Serving fetches below the local log start from the bucket.
//!
//! Steps: the catalog's floor lookup finds the segment containing the offset; its offset index
//! (fetched once and kept in memory) gives a position at or before the offset's batch; the
//! `.log` object is read through the chunk cache from there; batch headers are walked to the
//! batch *containing* the offset and whole batches are returned — at least one, then up to
//! `max_bytes`, never one ending at or past `upper_bound` — exactly as they were produced.
//! After each read, the read-ahead window (`read_ahead.rs`) starts parallel GETs of the chunks
//! a sequential reader reaches next.
//!
//! Invariant: bytes returned are whole, CRC-carrying batches copied from the object; nothing is
//! re-encoded.
//!
//! Aborted transactions (read_committed, [`ColdReader::aborted_transactions`]): Kafka's
//! `collectAbortedTransactions` over the remote segments, from the one containing the fetch
//! offset on, in offset order: the entries of each segment's uploaded `.txnindex` whose marker
//! is at or after the fetch offset and whose first offset is below the returned range's end,
//! until an entry's last stable offset reaches that end (no later entry can overlap). A segment
//! whose manifest names no transaction index (none aborted there, or a version 1 manifest)
//! costs no I/O. Indexes are read through the chunk cache, checked against the manifest's size
//! and CRC-32C, and kept parsed in memory, at most [`MAX_CACHED_TXN_ENTRIES`] entries in all.
//! When the remote segments run out before the search is complete, the caller goes on in the
//! local log (a transaction begun in a tiered segment may end in a local one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use strata_log::{collect_aborted, parse_txn_index, AbortedTxn, AbortedTxnEntry};
use strata_records::{BatchHeader, RecordsError, BATCH_HEADER_LEN};

use crate::cache::ChunkCache;
use crate::catalog::Catalog;
use crate::error::TierError;
use crate::manifest::SegmentManifest;
use crate::read_ahead::ReadAhead;
use crate::store::RemoteStore;

/// Offset index entries: (absolute last offset of a batch, position of that batch).
type OffsetIndex = Arc<Vec<(i64, u64)>>;

/// Parsed transaction indexes by object key, and their total entry count.
#[derive(Debug, Default)]
struct TxnIndexes {
    by_key: HashMap<String, Arc<Vec<AbortedTxnEntry>>>,
    entries: usize,
}

/// What one read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdSlice {
    /// Base offset of the first batch (-1 when no batch qualified).
    pub first_offset: i64,
    /// Whole batches.
    pub records: Bytes,
    /// The offset after the last returned batch (the read offset when none was returned).
    pub next_offset: i64,
}

/// Aborted transactions found in the remote tier for one read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteAborted {
    /// The overlapping transactions, in offset order of the segments, then marker order,
    /// without duplicates (overlapping uploads of one range list an entry twice).
    pub aborted: Vec<AbortedTxn>,
    /// Whether the search is complete; if not, the local log's segments may hold markers of
    /// transactions that begin in the range (see the module docs).
    pub complete: bool,
}

/// Reads remote segments.
#[derive(Debug, Clone)]
pub struct ColdReader {
    store: RemoteStore,
    catalog: Catalog,
    cache: ChunkCache,
    indexes: Arc<Mutex<HashMap<String, OffsetIndex>>>,
    /// `(object key, next offset)` → position where the last read of that object ended.
    hints: Arc<Mutex<HashMap<(String, i64), u64>>>,
    txn_indexes: Arc<Mutex<TxnIndexes>>,
    read_ahead: ReadAhead,
}

/// How many offset indexes stay in memory.
const MAX_CACHED_INDEXES: usize = 256;
/// How many parsed transaction index entries (32 bytes each) stay in memory (about 8 MiB), all
/// segments together; beyond it the map is emptied and refilled from the chunk cache.
pub const MAX_CACHED_TXN_ENTRIES: usize = 1 << 18;
/// How many read-position hints stay in memory.
const MAX_HINTS: usize = 4096;

impl ColdReader {
    /// A reader over `store` using `catalog` and `cache`.
    pub fn new(store: RemoteStore, catalog: Catalog, cache: ChunkCache) -> ColdReader {
        ColdReader {
            read_ahead: ReadAhead::new(cache.clone(), catalog.clone()),
            store,
            catalog,
            cache,
            indexes: Arc::new(Mutex::new(HashMap::new())),
            hints: Arc::new(Mutex::new(HashMap::new())),
            txn_indexes: Arc::new(Mutex::new(TxnIndexes::default())),
        }
    }

    /// The aborted transactions overlapping `[fetch_offset, upper)` recorded in the remote
    /// segments' transaction indexes (see the module docs).
    pub async fn aborted_transactions(
        &self,
        topic_id: &str,
        partition: i32,
        fetch_offset: i64,
        upper: i64,
    ) -> Result<RemoteAborted, TierError> {
        let mut out = RemoteAborted::default();
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        // Segment by segment from the one holding `fetch_offset`: each floor lookup decodes one
        // manifest, and the walk stops as soon as the search is complete (or at the remote end).
        let mut at = fetch_offset;
        while let Some(m) = self.catalog.floor(topic_id, partition, at)? {
            at = m.end_offset;
            let Some(entries) = self.txn_index(&m).await? else {
                continue;
            };
            found.clear();
            let complete = collect_aborted(&entries, fetch_offset, upper, &mut found);
            out.aborted
                .extend(found.drain(..).filter(|a| seen.insert(*a)));
            if complete {
                out.complete = true;
                break;
            }
        }
        Ok(out)
    }

    /// The parsed transaction index of a remote segment; `None` when its manifest names none.
    async fn txn_index(
        &self,
        m: &SegmentManifest,
    ) -> Result<Option<Arc<Vec<AbortedTxnEntry>>>, TierError> {
        let Some(object) = m.txn_index else {
            return Ok(None);
        };
        let key = m.keys().txn_index;
        if let Some(found) = self
            .txn_indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .get(&key)
        {
            return Ok(Some(found.clone()));
        }
        let raw = self.cache.read(&key, object.size, 0, object.size).await?;
        object.verify(&key, &raw).map_err(TierError::Corrupt)?;
        let entries =
            Arc::new(parse_txn_index(&raw).map_err(|e| TierError::Corrupt(format!("{key}: {e}")))?);
        let mut cached = self.txn_indexes.lock().unwrap_or_else(|p| p.into_inner());
        if cached.entries + entries.len() > MAX_CACHED_TXN_ENTRIES {
            cached.by_key.clear();
            cached.entries = 0;
        }
        if entries.len() <= MAX_CACHED_TXN_ENTRIES
            && cached.by_key.insert(key, entries.clone()).is_none()
        {
            cached.entries += entries.len();
        }
        Ok(Some(entries))
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
    ) -> Result<Option<ColdSlice>, TierError> {
        let Some(m) = self.catalog.floor(topic_id, partition, offset)? else {
            return Ok(None);
        };
        metrics::counter!("strata_remote_reads_total").increment(1);
        let keys = m.keys();
        // Where to start walking batch headers: the segment start, the position where the
        // previous read of this segment ended (a sequential consumer's next fetch), or else the
        // last indexed batch ending before `offset` — only random seeks fetch the index.
        let hint = self.hint(&keys.log, offset);
        let sequential = offset <= m.base_offset || hint.is_some();
        let mut pos = if offset <= m.base_offset {
            0
        } else if let Some(p) = hint {
            p
        } else {
            index_start(&self.offset_index(&m).await?, offset)
        };
        let mut walk = BatchWalk::new(offset, max_bytes, upper_bound);
        let mut window = Window::new(&self.cache, &keys.log, m.size, pos);
        while pos < m.size {
            let hb = window
                .bytes(pos, BATCH_HEADER_LEN as u64, walk.want)
                .await?;
            match walk
                .step(pos, &hb)
                .map_err(|e| TierError::Corrupt(format!("{} at {pos}: {e}", keys.log)))?
            {
                Some(next) => pos = next,
                None => break,
            }
        }
        let Some((first_offset, start, end_pos)) = walk.taken() else {
            return Ok(Some(ColdSlice {
                first_offset: -1,
                records: Bytes::new(),
                next_offset: offset,
            }));
        };
        let next_offset = walk.next_offset;
        // Usually one slice of the window (no copy); a re-read only when the response spans it.
        let out = window.bytes(start, end_pos - start, 0).await?;
        self.remember(&keys.log, next_offset, end_pos);
        self.read_ahead
            .after_read(topic_id, partition, &m, end_pos, sequential);
        metrics::counter!("strata_remote_read_bytes_total").increment(out.len() as u64);
        Ok(Some(ColdSlice {
            first_offset,
            records: out,
            next_offset,
        }))
    }

    /// The position where a previous read of `key` ended, if it ended at `offset`.
    fn hint(&self, key: &str, offset: i64) -> Option<u64> {
        self.hints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(key.to_string(), offset))
            .copied()
    }

    fn remember(&self, key: &str, next_offset: i64, position: u64) {
        let mut hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        if hints.len() >= MAX_HINTS {
            hints.clear();
        }
        hints.insert((key.to_string(), next_offset), position);
    }

    /// The read-ahead window of sequential replays.
    pub fn read_ahead(&self) -> &ReadAhead {
        &self.read_ahead
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
        let idx = Arc::new(parse_offset_index(&raw, m.base_offset));
        let mut map = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CACHED_INDEXES {
            map.clear();
        }
        map.insert(key, idx.clone());
        Ok(idx)
    }
}

/// Parses an uploaded `.index` object (8-byte entries: u32 offset relative to `base_offset`,
/// u32 position) into `(absolute last offset of a batch, position of that batch)`. A trailing
/// partial entry is ignored; nothing here trusts the entries to be ordered.
pub fn parse_offset_index(raw: &[u8], base_offset: i64) -> Vec<(i64, u64)> {
    raw.chunks_exact(8)
        .map(|e| {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            // Saturating: a corrupt or extreme base offset must not overflow (the entry then
            // sorts last and is never a start position for a smaller offset).
            (base_offset.saturating_add(i64::from(rel)), u64::from(pos))
        })
        .collect()
}

/// Where to start walking batch headers for `offset`: the position of the last indexed batch
/// ending before `offset` (in index order), or the segment start.
pub fn index_start(index: &[(i64, u64)], offset: i64) -> u64 {
    index
        .iter()
        .take_while(|(last, _)| *last < offset)
        .last()
        .map_or(0, |(_, p)| *p)
}

/// The batch walk of one read, apart from I/O: fed the header at each position, it says where
/// to go next; at the end, [`BatchWalk::taken`] is the byte range to return.
///
/// Invariants: positions only move forward (every parsed header is at least 61 bytes long);
/// the taken range starts at the batch containing `offset` and holds whole batches, at least
/// one, then up to `max_bytes`, none ending at or past `upper_bound`.
#[derive(Debug, Clone)]
pub struct BatchWalk {
    offset: i64,
    upper_bound: i64,
    /// Bytes wanted: `max_bytes`, but at least one header.
    pub want: u64,
    first: Option<(i64, u64)>,
    end_pos: u64,
    /// The offset after the last taken batch (`offset` until one is taken).
    pub next_offset: i64,
}

impl BatchWalk {
    /// A walk for a read at `offset` of up to `max_bytes`, stopping before `upper_bound`.
    pub fn new(offset: i64, max_bytes: usize, upper_bound: i64) -> BatchWalk {
        BatchWalk {
            offset,
            upper_bound,
            want: (max_bytes as u64).max(BATCH_HEADER_LEN as u64),
            first: None,
            end_pos: 0,
            next_offset: offset,
        }
    }

    /// Decides on the batch whose header (at least its first 61 bytes) is `header`, found at
    /// `pos`: `Some(next position)` to go on, `None` to stop.
    pub fn step(&mut self, pos: u64, header: &[u8]) -> Result<Option<u64>, RecordsError> {
        let h = BatchHeader::parse(header)?;
        let next = pos + h.total_len() as u64;
        if h.last_offset() < self.offset {
            return Ok(Some(next));
        }
        if h.last_offset() >= self.upper_bound {
            return Ok(None);
        }
        match self.first {
            Some((_, start)) if next - start > self.want => return Ok(None),
            Some(_) => {}
            None => self.first = Some((h.base_offset, pos)),
        }
        self.end_pos = next;
        self.next_offset = h.last_offset() + 1;
        Ok(Some(next))
    }

    /// `(first offset, start, end)` of the batches taken, if any.
    pub fn taken(&self) -> Option<(i64, u64, u64)> {
        self.first
            .map(|(first_offset, start)| (first_offset, start, self.end_pos))
    }
}

/// [`ColdReader::read`]'s walk over an object held whole in memory (`object`, starting at
/// `pos`): `(first offset, the bytes to return)`, `(-1, empty)` when no batch qualifies, or the
/// error the cold read returns for a corrupt object. Used by tests and the fuzz target.
pub fn read_in_object(
    object: &[u8],
    mut pos: u64,
    offset: i64,
    max_bytes: usize,
    upper_bound: i64,
) -> Result<(i64, &[u8]), TierError> {
    let size = object.len() as u64;
    let corrupt = |pos: u64| TierError::Corrupt(format!("object ends inside a batch at {pos}"));
    let mut walk = BatchWalk::new(offset, max_bytes, upper_bound);
    while pos < size {
        let header_end = pos + BATCH_HEADER_LEN as u64;
        if header_end > size {
            return Err(corrupt(pos));
        }
        match walk
            .step(pos, &object[pos as usize..header_end as usize])
            .map_err(|e| TierError::Corrupt(format!("at {pos}: {e}")))?
        {
            Some(next) => pos = next,
            None => break,
        }
    }
    let Some((first_offset, start, end)) = walk.taken() else {
        return Ok((-1, &[]));
    };
    if end > size {
        return Err(corrupt(start));
    }
    Ok((first_offset, &object[start as usize..end as usize]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use strata_records::testing::build_batch;

    /// Three 2-record batches at offsets 10, 12 and 14.
    fn object() -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut starts = Vec::new();
        for base in [10, 12, 14] {
            let mut b = build_batch(
                0,
                &[(None, Some(b"v"), 0), (None, Some(b"w"), 1)],
                -1,
                -1,
                -1,
            );
            strata_records::patch_base_offset(&mut b, base);
            starts.push(out.len());
            out.extend_from_slice(&b);
        }
        (out, starts)
    }

    #[test]
    fn walk_takes_whole_batches_from_the_one_containing_the_offset() {
        let (obj, starts) = object();
        // Offset 13 is in the second batch; max bytes 0 still returns one whole batch.
        let (first, out) = read_in_object(&obj, 0, 13, 0, i64::MAX).unwrap();
        assert_eq!(first, 12);
        assert_eq!(out, &obj[starts[1]..starts[2]]);
        // Enough bytes for everything, but the upper bound stops before the third batch.
        let (first, out) = read_in_object(&obj, 0, 10, 1 << 20, 15).unwrap();
        assert_eq!(first, 10);
        assert_eq!(out, &obj[..starts[2]]);
        // Past the end: nothing.
        assert_eq!(
            read_in_object(&obj, 0, 16, 1 << 20, i64::MAX).unwrap(),
            (-1, &[][..])
        );
        // A cut object: the batch containing the offset runs past the end.
        assert!(read_in_object(&obj[..obj.len() - 1], 0, 14, 1 << 20, i64::MAX).is_err());
    }

    #[test]
    fn uploaded_index_lookup() {
        let raw = [0u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 70, 9];
        let index = parse_offset_index(&raw, 10);
        assert_eq!(index, vec![(11, 0), (13, 70)]);
        assert_eq!(index_start(&index, 11), 0);
        assert_eq!(index_start(&index, 12), 0);
        assert_eq!(index_start(&index, 14), 70);
        // Found by the cold_read fuzz target: a base offset near i64::MAX overflowed.
        let index = parse_offset_index(
            &[0, 0, 0, 3, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9],
            i64::MAX - 1,
        );
        assert_eq!(index, vec![(i64::MAX, 4), (i64::MAX, 9)]);
        assert_eq!(index_start(&index, i64::MAX), 0);
    }
}
