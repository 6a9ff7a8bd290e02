//! Parquet archives beside uploaded segments (`parquet.rs`), over an in-memory store and a
//! real local partition log:
//!
//! - every uploaded segment gets its archive, named in its manifest (size and CRC-32C) and in
//!   the catalog, with exactly the segment's rows; a catalog rebuild keeps the field; remote
//!   retention deletes the archives with their segments;
//! - a segment uploaded before the topic had Parquet on, and no longer local, gets its archive
//!   from the bucket;
//! - a conversion failure never blocks uploads; local retention waits for the missing archive
//!   only within `max_lag_segments`, and the lag is reported.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata_log::{LogConfig, PartitionLog};
use strata_tier::manifest::AuxObject;
use strata_tier::store::{RemoteStore, StoreOptions};
use strata_tier::{ParquetPolicy, PartitionRef, Tier, TierConfig};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000f0a1";
const TOPIC: &str = "archive";
const RECORDS_PER_BATCH: i64 = 10;
const ON: ParquetPolicy = ParquetPolicy {
    enable: true,
    max_lag_segments: 10,
};

fn store() -> (Arc<InMemory>, RemoteStore) {
    let inner = Arc::new(InMemory::new());
    let store = RemoteStore::from_object_store(
        inner.clone() as Arc<dyn ObjectStore>,
        "",
        StoreOptions {
            max_retries: 1,
            retry_base: Duration::from_millis(10),
            ..StoreOptions::default()
        },
    );
    (inner, store)
}

fn config(dir: &Path) -> TierConfig {
    TierConfig {
        catalog_dir: dir.join("catalog"),
        cache_dir: dir.join("cache"),
        cache_bytes: 64 << 20,
        chunk_bytes: 1 << 20,
        upload_concurrency: 1,
        upload_bytes_per_sec: u64::MAX,
        cold_read_concurrency: 2,
        cold_read_timeout: Duration::from_secs(10),
        orphan_min_age: Duration::from_secs(3600),
    }
}

/// A tiered log whose local retention deletes every uploaded segment.
fn open_log(dir: &Path) -> Mutex<PartitionLog> {
    let config = LogConfig {
        segment_bytes: 4096,
        remote_storage_enable: true,
        retention_ms: -1,
        local_retention_ms: -1,
        local_retention_bytes: 0,
        ..LogConfig::default()
    };
    Mutex::new(PartitionLog::open(&dir.join("archive-0"), TOPIC_ID, config, 1_000).unwrap())
}

/// Appends `batches` batches of 10 keyed records (3 batches per 4 KiB segment).
fn fill(log: &Mutex<PartitionLog>, batches: usize) {
    let mut log = log.lock().unwrap();
    let value = vec![b'v'; 100];
    for b in 0..batches {
        let keys: Vec<Vec<u8>> = (0..RECORDS_PER_BATCH)
            .map(|i| format!("k{b}-{i}").into_bytes())
            .collect();
        let recs: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (Some(k.as_slice()), Some(value.as_slice()), i as i64))
            .collect();
        let mut batch = strata_records::testing::build_batch(1_000 + b as i64, &recs, -1, -1, -1);
        log.append(&mut batch, 0, 1_000).unwrap();
    }
    log.flush().unwrap();
}

fn part(log: &Mutex<PartitionLog>) -> PartitionRef<'_> {
    PartitionRef {
        topic: TOPIC,
        topic_id: TOPIC_ID,
        partition: 0,
        log,
        leader_epoch: 0,
    }
}

async fn keys(inner: &Arc<InMemory>, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = inner
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.retain(|k| k.starts_with(prefix));
    keys.sort();
    keys
}

/// The offsets in a Parquet file.
fn offsets(file: Bytes) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let col = b
            .column_by_name("offset")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        out.extend(col.values().iter().copied());
    }
    out
}

/// Every finished manifest names an archive that exists with its size and CRC and holds
/// exactly the segment's offsets.
async fn check_archives(tier: &Tier) -> usize {
    let manifests = tier.catalog().finished(TOPIC_ID, 0).unwrap();
    for m in &manifests {
        let aux = m.parquet.expect("archive named in the manifest");
        let data = tier.store().get(&m.parquet_key()).await.unwrap();
        assert_eq!(AuxObject::of(&data), aux);
        assert_eq!(
            offsets(data),
            (m.base_offset..m.end_offset).collect::<Vec<_>>()
        );
        // The bucket's manifest says so too (what a rebuild reads).
        let in_bucket = strata_tier::manifest::SegmentManifest::from_bytes(
            &tier.store().get(&m.keys().manifest).await.unwrap(),
        )
        .unwrap();
        assert_eq!(in_bucket.parquet, Some(aux));
    }
    manifests.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_follow_uploads_rebuild_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let (inner, store) = store();
    let log = open_log(dir.path());
    fill(&log, 12);
    let tier = Tier::open(store.clone(), config(dir.path())).await.unwrap();
    tier.reconcile().await.unwrap();
    let r = tier
        .sync_partition_with(part(&log), -1, -1, ON)
        .await
        .unwrap();
    assert!(r.uploaded >= 3, "{r:?}");
    assert_eq!(r.parquet_written, r.uploaded);
    assert_eq!(r.parquet_lag_segments, 0);
    assert_eq!(check_archives(&tier).await, r.uploaded);
    let files = keys(&inner, "parquet/").await;
    assert_eq!(files.len(), r.uploaded);
    assert_eq!(
        files[0],
        "parquet/topic=archive/partition=0/00000000000000000000.parquet"
    );
    // A catalog rebuilt from the bucket keeps the archives.
    tier.rebuild_catalog().await.unwrap();
    assert_eq!(check_archives(&tier).await, r.uploaded);
    // Remote retention (retention.bytes=0) deletes them with their segments.
    let r2 = tier
        .sync_partition_with(part(&log), -1, 0, ON)
        .await
        .unwrap();
    assert_eq!(r2.deleted, r.uploaded, "{r2:?}");
    assert!(keys(&inner, "parquet/").await.is_empty());
    assert!(keys(&inner, "v1/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_of_segments_gone_locally_come_from_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let (inner, store) = store();
    let log = open_log(dir.path());
    fill(&log, 12);
    let tier = Tier::open(store.clone(), config(dir.path())).await.unwrap();
    tier.reconcile().await.unwrap();
    // Uploaded without Parquet, then deleted locally.
    let r = tier.sync_partition(part(&log), -1, -1).await.unwrap();
    assert!(r.uploaded >= 3, "{r:?}");
    let deleted = log.lock().unwrap().apply_retention(2_000).unwrap();
    assert_eq!(deleted, r.uploaded);
    assert!(keys(&inner, "parquet/").await.is_empty());
    // Parquet turned on: every archive is written from the uploaded segment.
    let r2 = tier
        .sync_partition_with(part(&log), -1, -1, ON)
        .await
        .unwrap();
    assert_eq!(r2.parquet_written, r.uploaded, "{r2:?}");
    assert_eq!(check_archives(&tier).await, r.uploaded);
}

/// Flips a byte in the records of the first batch of the first local segment: uploads (which
/// copy bytes) go on, its conversion (which checks batch CRCs) fails.
fn corrupt_first_segment(log: &Mutex<PartitionLog>) {
    let path = log.lock().unwrap().sealed_segments()[0].log_path.clone();
    let mut data = std::fs::read(&path).unwrap();
    data[100] ^= 0xff;
    std::fs::write(&path, data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_archive_holds_local_retention_only_within_the_bound() {
    for (max_lag, held) in [(10, true), (0, false)] {
        let dir = tempfile::tempdir().unwrap();
        let (_inner, store) = store();
        let log = open_log(dir.path());
        fill(&log, 12);
        corrupt_first_segment(&log);
        let tier = Tier::open(store.clone(), config(dir.path())).await.unwrap();
        tier.reconcile().await.unwrap();
        let policy = ParquetPolicy {
            enable: true,
            max_lag_segments: max_lag,
        };
        let r = tier
            .sync_partition_with(part(&log), -1, -1, policy)
            .await
            .unwrap();
        assert!(r.uploaded >= 3, "uploads go on: {r:?}");
        // The pass stops at the first failure; every uploaded segment still lacks its archive.
        assert_eq!(r.parquet_written, 0, "{r:?}");
        assert_eq!(r.parquet_lag_segments, r.uploaded, "{r:?}");
        let deleted = log.lock().unwrap().apply_retention(2_000).unwrap();
        if held {
            // Within the bound: the local log still has the segment (and the later ones).
            assert_eq!(deleted, 0, "max_lag {max_lag}");
            assert_eq!(log.lock().unwrap().remote_upload_end(), Some(0));
        } else {
            assert_eq!(deleted, r.uploaded, "max_lag {max_lag}");
        }
    }
}
