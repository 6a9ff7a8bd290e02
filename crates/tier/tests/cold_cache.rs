//! The cold-read chunk cache over an in-memory store with a call counter: a sequential read of
//! an object costs one GET per chunk, identical concurrent reads share one GET, a warm re-read
//! costs none, and the disk stays within its capacity; prefetches fetch each missing chunk once
//! and never more at a time than the cache's prefetch slots.

use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use strata_tier::cache::ChunkCache;
use strata_tier::store::faults::{FaultPlan, FaultyStore};
use strata_tier::store::{RemoteStore, StoreOptions};

const CHUNK: u64 = 1 << 20;

fn object(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
}

async fn setup(capacity: u64) -> (ChunkCache, Arc<FaultPlan>, Bytes, tempfile::TempDir) {
    let plan = FaultPlan::new();
    let faulty = FaultyStore::new(Arc::new(InMemory::new()), plan.clone());
    let store = RemoteStore::from_object_store(Arc::new(faulty), "", StoreOptions::default());
    let data = object((5 * CHUNK + 12_345) as usize);
    store.put("v1/t/0/seg.log", data.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = ChunkCache::new(store, &dir.path().join("cache"), CHUNK, capacity).unwrap();
    (cache, plan, data, dir)
}

/// Waits for background cache writes and read-ahead to settle.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_read_costs_one_get_per_chunk_and_warm_reads_none() {
    let (cache, plan, data, _dir) = setup(64 * CHUNK).await;
    let size = data.len() as u64;
    let before = plan.calls();
    let mut pos = 0u64;
    while pos < size {
        let end = (pos + 100_000).min(size);
        let got = cache.read("v1/t/0/seg.log", size, pos, end).await.unwrap();
        assert_eq!(
            &got[..],
            &data[pos as usize..end as usize],
            "bytes at {pos}"
        );
        pos = end;
    }
    settle().await;
    let chunks = size.div_ceil(CHUNK);
    assert_eq!(
        plan.calls() - before,
        chunks,
        "one GET per chunk (read-ahead included)"
    );
    let warm = plan.calls();
    let all = cache.read("v1/t/0/seg.log", size, 0, size).await.unwrap();
    assert_eq!(all, data);
    assert_eq!(plan.calls(), warm, "a warm re-read issues no GET");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_reads_share_one_get() {
    let (cache, plan, data, _dir) = setup(64 * CHUNK).await;
    let size = data.len() as u64;
    let before = plan.calls();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = cache.clone();
        tasks.push(tokio::spawn(async move {
            c.read("v1/t/0/seg.log", size, 10, 20).await
        }));
    }
    for t in tasks {
        assert_eq!(&t.await.unwrap().unwrap()[..], &data[10..20]);
    }
    settle().await;
    // One GET for chunk 0 (read-ahead is the cold reader's window, not the cache's).
    assert_eq!(plan.calls() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_stays_within_capacity() {
    let (cache, _plan, data, dir) = setup(2 * CHUNK).await;
    let size = data.len() as u64;
    let all = cache.read("v1/t/0/seg.log", size, 0, size).await.unwrap();
    assert_eq!(all, data);
    settle().await;
    let on_disk: u64 = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        on_disk <= 2 * CHUNK,
        "{on_disk} bytes cached, capacity {}",
        2 * CHUNK
    );
    assert!(on_disk > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetches_fetch_missing_chunks_once_within_the_slots() {
    // Capacity 8 chunks: a quarter of it, 2 prefetch slots.
    let (cache, plan, data, _dir) = setup(8 * CHUNK).await;
    let size = data.len() as u64;
    assert_eq!(cache.prefetch_slots(), 2);
    let key = "v1/t/0/seg.log";
    // Every GET hangs 400 ms, so the slots stay taken while the loop runs.
    plan.set_hang(std::time::Duration::from_millis(400));
    plan.timeout_next(2);
    let before = plan.calls();
    let started: Vec<bool> = (0..6).map(|i| cache.prefetch(key, size, i)).collect();
    assert_eq!(started, [true, true, false, false, false, false]);
    // In flight: not started again.
    assert!(!cache.prefetch(key, size, 0));
    // Past the object's end: nothing.
    assert!(!cache.prefetch(key, size, 6));
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(plan.calls() - before, 2, "one GET per started prefetch");
    // Cached now: neither prefetched again nor fetched by a read.
    assert!(!cache.prefetch(key, size, 1));
    let got = cache.read(key, size, 0, 2 * CHUNK).await.unwrap();
    assert_eq!(&got[..], &data[..(2 * CHUNK) as usize]);
    assert_eq!(
        plan.calls() - before,
        2,
        "the prefetched chunks were read from the cache"
    );
    // The slots are free again.
    assert!(cache.prefetch(key, size, 2));
    settle().await;
    assert_eq!(plan.calls() - before, 3);
}
