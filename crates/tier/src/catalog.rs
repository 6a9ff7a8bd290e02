//! The sled catalog: per partition, the remote segments and their upload/delete state.
//!
//! Layout (format version 2, see migrations/FORMATS.md): tree `meta` holds `format_version`
//! (u32 big-endian); tree `segments` maps `topic id ‖ '/' ‖ partition (i32 BE) ‖ base offset
//! (i64 BE)` to a JSON [`CatalogEntry`]. Big-endian non-negative integers sort numerically, so
//! a reverse range scan from an offset finds the floor segment. Tree `replacements` (added in
//! version 2; a version 1 catalog is upgraded in place by creating it) maps a remote
//! compaction's run id to the JSON [`Replacement`] it is uploading.
//!
//! Invariants:
//! - the catalog is a cache of the bucket: everything in it can be rebuilt from the manifests
//!   (`rebuild`), so a missing or corrupt catalog is rebuilt, never fatal;
//! - readers see only `CopyFinished` entries; `CopyStarted` marks an upload that may have left
//!   objects behind (cleaned up on restart), `DeleteStarted` a deletion to finish;
//! - callers `flush()` before acting on what they wrote (deleting local data, acknowledging);
//! - a remote compaction's new segments are in `replacements` until [`Catalog::switch`]
//!   replaces the old entries with them in one sled transaction (with the `replacements` entry
//!   removed in the same transaction): readers see either every old segment of the run or
//!   every new one. A `replacements` entry left by a crash names uploads to delete.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::manifest::SegmentManifest;

/// Current catalog format.
pub const CATALOG_VERSION: u32 = 2;
/// Oldest catalog format still opened (upgraded in place).
pub const MIN_CATALOG_VERSION: u32 = 1;
const VERSION_KEY: &[u8] = b"format_version";

/// Where a remote segment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentState {
    /// Objects may be partially written; not readable.
    CopyStarted,
    /// All objects and the manifest are written; readable.
    CopyFinished,
    /// Being deleted; not readable.
    DeleteStarted,
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// State.
    pub state: SegmentState,
    /// The segment's manifest (as it will be, for `CopyStarted`).
    pub manifest: SegmentManifest,
}

/// The new segments of a remote compaction run, recorded before their upload starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// Format of this record (1).
    pub format_version: u32,
    /// The manifests of the new segments (their objects may be partly written).
    pub manifests: Vec<SegmentManifest>,
}

/// Format of [`Replacement`] records.
pub const REPLACEMENT_VERSION: u32 = 1;

/// Catalog failures; any of them means "rebuild from the bucket".
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// sled failed.
    #[error("catalog {context}: {source}")]
    Sled {
        /// What was being done.
        context: String,
        /// The cause.
        source: sled::Error,
    },
    /// Stored data is unreadable or of an unknown version.
    #[error("catalog is corrupt or of another version: {0}")]
    Corrupt(String),
}

fn sled_err(context: &str) -> impl FnOnce(sled::Error) -> CatalogError + '_ {
    move |source| CatalogError::Sled {
        context: context.to_string(),
        source,
    }
}

/// The catalog database.
#[derive(Debug, Clone)]
pub struct Catalog {
    db: sled::Db,
    segments: sled::Tree,
    replacements: sled::Tree,
}

fn partition_key(topic_id: &str, partition: i32) -> Vec<u8> {
    let mut k = topic_id.as_bytes().to_vec();
    k.push(b'/');
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

fn segment_key(topic_id: &str, partition: i32, base_offset: i64) -> Vec<u8> {
    let mut k = partition_key(topic_id, partition);
    k.extend_from_slice(&base_offset.to_be_bytes());
    k
}

/// The catalog's in-memory page cache (sled's `cache_capacity`).
pub const CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl Catalog {
    /// Opens (or creates) the catalog in `dir`. Fails on an unknown version or unreadable data.
    pub fn open(dir: &Path) -> Result<Catalog, CatalogError> {
        // sled's default page cache is 1 GiB, which the broker's RSS would grow into as the
        // catalog grows (measured with 1,000 tiered partitions, docs/benchmarks.md).
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(sled_err("open"))?;
        let meta = db.open_tree("meta").map_err(sled_err("open meta"))?;
        let segments = db
            .open_tree("segments")
            .map_err(sled_err("open segments"))?;
        let replacements = db
            .open_tree("replacements")
            .map_err(sled_err("open replacements"))?;
        match meta.get(VERSION_KEY).map_err(sled_err("read version"))? {
            Some(v) => {
                let v: [u8; 4] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| CatalogError::Corrupt("bad version key".into()))?;
                let version = u32::from_be_bytes(v);
                if !(MIN_CATALOG_VERSION..=CATALOG_VERSION).contains(&version) {
                    return Err(CatalogError::Corrupt(format!(
                        "format version {version}, this build reads {MIN_CATALOG_VERSION} to \
                         {CATALOG_VERSION}"
                    )));
                }
                if version < CATALOG_VERSION {
                    // Version 1 lacks only the `replacements` tree, created above.
                    meta.insert(VERSION_KEY, &CATALOG_VERSION.to_be_bytes())
                        .map_err(sled_err("upgrade version"))?;
                    db.flush().map_err(sled_err("flush"))?;
                }
            }
            None if segments.is_empty() => {
                meta.insert(VERSION_KEY, &CATALOG_VERSION.to_be_bytes())
                    .map_err(sled_err("write version"))?;
                db.flush().map_err(sled_err("flush"))?;
            }
            None => {
                return Err(CatalogError::Corrupt(
                    "segments without a version key".into(),
                ))
            }
        }
        let catalog = Catalog {
            db,
            segments,
            replacements,
        };
        // Every entry must parse; otherwise the caller rebuilds.
        for item in catalog.segments.iter() {
            let (_, v) = item.map_err(sled_err("scan"))?;
            decode_entry(&v)?;
        }
        catalog.replacements()?;
        Ok(catalog)
    }

    /// Inserts or replaces the entry of a segment.
    pub fn put(&self, entry: &CatalogEntry) -> Result<(), CatalogError> {
        let m = &entry.manifest;
        let value = serde_json::to_vec(entry).expect("catalog entries always serialize");
        self.segments
            .insert(segment_key(&m.topic_id, m.partition, m.base_offset), value)
            .map_err(sled_err("put"))?;
        Ok(())
    }

    /// Removes a segment's entry.
    pub fn remove(
        &self,
        topic_id: &str,
        partition: i32,
        base_offset: i64,
    ) -> Result<(), CatalogError> {
        self.segments
            .remove(segment_key(topic_id, partition, base_offset))
            .map_err(sled_err("remove"))?;
        Ok(())
    }

    /// Makes every earlier write durable.
    pub async fn flush(&self) -> Result<(), CatalogError> {
        self.db.flush_async().await.map_err(sled_err("flush"))?;
        Ok(())
    }

    /// All entries of a partition, by base offset.
    pub fn entries(
        &self,
        topic_id: &str,
        partition: i32,
    ) -> Result<Vec<CatalogEntry>, CatalogError> {
        self.segments
            .scan_prefix(partition_key(topic_id, partition))
            .map(|item| {
                let (_, v) = item.map_err(sled_err("scan"))?;
                decode_entry(&v)
            })
            .collect()
    }

    /// Every entry of every partition.
    pub fn all_entries(&self) -> Result<Vec<CatalogEntry>, CatalogError> {
        self.segments
            .iter()
            .map(|item| {
                let (_, v) = item.map_err(sled_err("scan"))?;
                decode_entry(&v)
            })
            .collect()
    }

    /// Readable (`CopyFinished`) segments of a partition, by base offset.
    pub fn finished(
        &self,
        topic_id: &str,
        partition: i32,
    ) -> Result<Vec<SegmentManifest>, CatalogError> {
        Ok(self
            .entries(topic_id, partition)?
            .into_iter()
            .filter(|e| e.state == SegmentState::CopyFinished)
            .map(|e| e.manifest)
            .collect())
    }

    /// The readable segment containing `offset`.
    pub fn floor(
        &self,
        topic_id: &str,
        partition: i32,
        offset: i64,
    ) -> Result<Option<SegmentManifest>, CatalogError> {
        let start = partition_key(topic_id, partition);
        let end = segment_key(topic_id, partition, offset.max(0));
        let Some(item) = self.segments.range(start..=end).next_back() else {
            return Ok(None);
        };
        let (_, v) = item.map_err(sled_err("floor"))?;
        let entry = decode_entry(&v)?;
        Ok(
            (entry.state == SegmentState::CopyFinished && offset < entry.manifest.end_offset)
                .then_some(entry.manifest),
        )
    }

    /// The first readable segment whose largest timestamp is at least `ts`.
    pub fn by_timestamp(
        &self,
        topic_id: &str,
        partition: i32,
        ts: i64,
    ) -> Result<Option<SegmentManifest>, CatalogError> {
        Ok(self
            .finished(topic_id, partition)?
            .into_iter()
            .find(|m| m.max_timestamp >= ts))
    }

    /// Deletes every entry (before a rebuild).
    pub fn clear(&self) -> Result<(), CatalogError> {
        self.replacements
            .clear()
            .map_err(sled_err("clear replacements"))?;
        self.segments.clear().map_err(sled_err("clear"))
    }

    /// Records the new segments of remote compaction run `run` before their upload starts.
    pub fn put_replacement(
        &self,
        run: &str,
        manifests: &[SegmentManifest],
    ) -> Result<(), CatalogError> {
        let value = serde_json::to_vec(&Replacement {
            format_version: REPLACEMENT_VERSION,
            manifests: manifests.to_vec(),
        })
        .expect("replacements always serialize");
        self.replacements
            .insert(run.as_bytes(), value)
            .map_err(sled_err("put replacement"))?;
        Ok(())
    }

    /// Every recorded replacement: `(run, its new segments)`.
    pub fn replacements(&self) -> Result<Vec<(String, Vec<SegmentManifest>)>, CatalogError> {
        self.replacements
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(sled_err("scan replacements"))?;
                let r = decode_replacement(&v)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), r.manifests))
            })
            .collect()
    }

    /// Drops the record of run `run` (its uploads were deleted).
    pub fn remove_replacement(&self, run: &str) -> Result<(), CatalogError> {
        self.replacements
            .remove(run.as_bytes())
            .map_err(sled_err("remove replacement"))?;
        Ok(())
    }

    /// In one transaction: removes the entries of the segments `old` (base offsets of
    /// partition `topic_id`/`partition`), puts `new` as `CopyFinished` entries, and drops the
    /// record of run `run`.
    pub fn switch(
        &self,
        run: &str,
        topic_id: &str,
        partition: i32,
        old: &[i64],
        new: &[SegmentManifest],
    ) -> Result<(), CatalogError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional;
        let values: Vec<(Vec<u8>, Vec<u8>)> = new
            .iter()
            .map(|m| {
                let entry = CatalogEntry {
                    state: SegmentState::CopyFinished,
                    manifest: m.clone(),
                };
                (
                    segment_key(&m.topic_id, m.partition, m.base_offset),
                    serde_json::to_vec(&entry).expect("catalog entries always serialize"),
                )
            })
            .collect();
        (&self.segments, &self.replacements)
            .transaction(|(segments, replacements)| {
                for &base in old {
                    segments.remove(segment_key(topic_id, partition, base))?;
                }
                for (k, v) in &values {
                    segments.insert(k.as_slice(), v.as_slice())?;
                }
                replacements.remove(run.as_bytes())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => CatalogError::Sled {
                    context: "switch to a compaction's segments".into(),
                    source: e,
                },
                TransactionError::Abort(()) => {
                    CatalogError::Corrupt("switch transaction aborted".into())
                }
            })
    }
}

/// Decodes one stored replacement record.
pub fn decode_replacement(v: &[u8]) -> Result<Replacement, CatalogError> {
    let r: Replacement = serde_json::from_slice(v)
        .map_err(|e| CatalogError::Corrupt(format!("replacement: {e}")))?;
    if r.format_version != REPLACEMENT_VERSION {
        return Err(CatalogError::Corrupt(format!(
            "replacement format version {}",
            r.format_version
        )));
    }
    Ok(r)
}

/// Decodes one stored entry (the value under a segment key).
pub fn decode_entry(v: &[u8]) -> Result<CatalogEntry, CatalogError> {
    serde_json::from_slice(v).map_err(|e| CatalogError::Corrupt(format!("entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::sample;

    fn finished(base: i64, end: i64) -> CatalogEntry {
        CatalogEntry {
            state: SegmentState::CopyFinished,
            manifest: sample(base, end),
        }
    }

    #[tokio::test]
    async fn floor_and_timestamp_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let t = "6f1d2c3b-0000-4000-8000-00000000a001";
        for (b, e) in [(0, 10), (10, 25), (25, 300)] {
            c.put(&finished(b, e)).unwrap();
        }
        c.put(&CatalogEntry {
            state: SegmentState::CopyStarted,
            manifest: sample(300, 400),
        })
        .unwrap();
        c.flush().await.unwrap();
        let base = |o: i64| c.floor(t, 0, o).unwrap().map(|m| m.base_offset);
        assert_eq!(base(0), Some(0));
        assert_eq!(base(9), Some(0));
        assert_eq!(base(10), Some(10));
        assert_eq!(base(299), Some(25));
        assert_eq!(base(300), None, "copy not finished");
        assert_eq!(base(1000), None);
        assert_eq!(c.floor(t, 1, 5).unwrap(), None, "other partition");
        assert_eq!(
            c.by_timestamp(t, 0, 1_015).unwrap().map(|m| m.base_offset),
            Some(10)
        );
        assert_eq!(c.by_timestamp(t, 0, 99_999).unwrap(), None);
        assert_eq!(c.finished(t, 0).unwrap().len(), 3);
        assert_eq!(c.entries(t, 0).unwrap().len(), 4);
        c.remove(t, 0, 0).unwrap();
        assert_eq!(base(5), None);
        drop(c);
        let c = reopened(|| Catalog::open(dir.path()));
        assert_eq!(c.finished(t, 0).unwrap().len(), 2, "survives reopen");
    }

    /// `open` retried while another handle's file lock is still held: sled releases it from a
    /// background thread shortly after the last handle is dropped.
    fn reopened<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match open() {
                Ok(v) => return v,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("reopening: {e:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_version_1_catalog_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let t = "6f1d2c3b-0000-4000-8000-00000000a001";
        {
            let c = Catalog::open(dir.path()).unwrap();
            c.put(&finished(0, 10)).unwrap();
            c.flush().await.unwrap();
        }
        {
            // What a version 1 build left: no `replacements` tree, version 1.
            let db = reopened(|| sled::open(dir.path()));
            db.drop_tree("replacements").unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(VERSION_KEY, &1u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let c = reopened(|| Catalog::open(dir.path()));
        assert_eq!(c.finished(t, 0).unwrap().len(), 1, "entries kept");
        c.put_replacement("e0-run", &[sample(10, 20)]).unwrap();
        assert_eq!(c.replacements().unwrap().len(), 1);
        c.switch("e0-run", t, 0, &[0], &[sample(0, 20)]).unwrap();
        assert!(c.replacements().unwrap().is_empty());
        let bounds: Vec<_> = c
            .finished(t, 0)
            .unwrap()
            .iter()
            .map(|m| (m.base_offset, m.end_offset))
            .collect();
        assert_eq!(bounds, vec![(0, 20)]);
        drop(c);
        let db = reopened(|| sled::open(dir.path()));
        let v = db
            .open_tree("meta")
            .unwrap()
            .get(VERSION_KEY)
            .unwrap()
            .unwrap();
        assert_eq!(v.as_ref(), &2u32.to_be_bytes());
    }
}
