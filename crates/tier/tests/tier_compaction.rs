//! Remote compaction of a tiered compacted topic, over an in-memory store and a real local log,
//! with exact offsets, keys and values:
//!
//! - a run replaces the uploaded segments with compacted ones (adjacent small segments merged)
//!   under new upload ids; a cold read from offset 0 returns exactly the latest value of every
//!   key at its original offset; the remote bytes shrink;
//! - until the sweep, the superseded uploads stay (cold reads in flight), and a catalog rebuilt
//!   from the bucket meanwhile picks the replacement, never a mix;
//! - the sweep deletes the superseded uploads only once they are older than the grace period,
//!   and then every upload in the bucket is a live catalog segment;
//! - a second run finds nothing dirty; new uploads make the topic dirty again, and the next run
//!   keeps only the newest values;
//! - a run that did not switch (a crash before its catalog transaction) leaves a record whose
//!   uploads the next reconciliation deletes.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::memory::InMemory;
use strata_log::{CleanerConfig, LogConfig, PartitionLog};
use strata_records::{decode_records, BatchHeader};
use strata_tier::remote_compaction::RemoteCompactionConfig;
use strata_tier::store::{RemoteStore, StoreOptions};
use strata_tier::{ColdReadRequest, PartitionRef, Tier, TierConfig};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000c0c0";
const TOPIC: &str = "compacted";
const KEYS: usize = 10;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        remote_storage_enable: true,
        retention_ms: -1,
        local_retention_ms: -1,
        local_retention_bytes: -1,
        ..LogConfig::default()
    }
}

fn compaction() -> RemoteCompactionConfig {
    RemoteCompactionConfig {
        cleaner: CleanerConfig {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            dedupe_buffer_bytes: 1 << 20,
        },
        // Merged segments may grow to 8 KiB.
        log: LogConfig {
            segment_bytes: 8192,
            ..log_config()
        },
    }
}

fn tier_config(dir: &std::path::Path, name: &str) -> TierConfig {
    TierConfig {
        catalog_dir: dir.join(name).join("catalog"),
        cache_dir: dir.join(name).join("cache"),
        cache_bytes: 64 << 20,
        chunk_bytes: 1 << 20,
        upload_concurrency: 1,
        upload_bytes_per_sec: u64::MAX,
        cold_read_concurrency: 2,
        cold_read_timeout: Duration::from_secs(10),
        orphan_min_age: Duration::from_secs(3600),
    }
}

/// Appends `key=value` records (one per batch) for `rounds` rounds over every key.
fn fill(log: &mut PartitionLog, round0: usize, rounds: usize) {
    for round in round0..round0 + rounds {
        for k in 0..KEYS {
            let key = format!("k{k}");
            let value = format!("{key}-r{round}-{}", "x".repeat(60));
            let mut b = strata_records::testing::build_batch(
                1_000,
                &[(Some(key.as_bytes()), Some(value.as_bytes()), 0)],
                -1,
                -1,
                -1,
            );
            log.append(&mut b, 0, 1_000).unwrap();
        }
    }
    log.roll_for_test().unwrap();
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

/// Every record of the remote tier from offset 0 to `end`: offset → (key, value).
async fn cold_records(tier: &Tier, end: i64) -> BTreeMap<i64, (String, String)> {
    let mut out = BTreeMap::new();
    let mut offset = 0;
    while offset < end {
        let request = ColdReadRequest {
            topic_id: TOPIC_ID.into(),
            partition: 0,
            offset,
            max_bytes: 1 << 20,
            upper_bound: end,
            read_committed: false,
        };
        let answer = tier
            .cold_reads(vec![request])
            .await
            .pop()
            .unwrap()
            .unwrap()
            .expect("a remote segment holds the offset");
        let buf = answer.records;
        let mut at = 0;
        while at < buf.len() {
            let h = BatchHeader::parse(&buf[at..]).unwrap();
            for r in decode_records(&buf[at..at + h.total_len()]).unwrap() {
                let key = String::from_utf8(r.key.unwrap()).unwrap();
                out.insert(
                    r.offset,
                    (key, String::from_utf8(r.value.unwrap()).unwrap()),
                );
            }
            at += h.total_len();
        }
        assert!(answer.next_offset > offset, "progress at {offset}");
        offset = answer.next_offset;
    }
    out
}

/// The latest record of each key among offsets below `end`, as appended by [`fill`].
fn latest(rounds: usize) -> BTreeMap<i64, (String, String)> {
    (0..KEYS)
        .map(|k| {
            let key = format!("k{k}");
            let offset = ((rounds - 1) * KEYS + k) as i64;
            let value = format!("{key}-r{}-{}", rounds - 1, "x".repeat(60));
            (offset, (key, value))
        })
        .collect()
}

async fn upload_ids_in_bucket(tier: &Tier) -> HashSet<String> {
    tier.store()
        .list_objects("v1/")
        .await
        .unwrap()
        .iter()
        .filter_map(|o| strata_tier::keys::parse(&o.key).map(|(_, _, _, id)| id))
        .collect()
}

fn live_ids(tier: &Tier) -> HashSet<String> {
    tier.catalog()
        .finished(TOPIC_ID, 0)
        .unwrap()
        .into_iter()
        .map(|m| m.upload_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_compaction_keeps_the_latest_values_and_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemory::new());
    let remote = RemoteStore::from_object_store(store.clone(), "", StoreOptions::default());
    let tier = Tier::open(remote.clone(), tier_config(dir.path(), "a"))
        .await
        .unwrap();
    tier.reconcile().await.unwrap();
    let log = Mutex::new(
        PartitionLog::open(&dir.path().join("p0"), TOPIC_ID, log_config(), 1_000).unwrap(),
    );
    fill(&mut log.lock().unwrap(), 0, 8);
    let end = (8 * KEYS) as i64;
    let report = tier.sync_partition(part(&log), -1, -1).await.unwrap();
    let before = tier.catalog().finished(TOPIC_ID, 0).unwrap();
    assert_eq!(report.uploaded, before.len());
    assert!(before.len() >= 4, "{} segments", before.len());
    assert_eq!(before.last().unwrap().end_offset, end);
    let bytes_before: u64 = before.iter().map(|m| m.size).sum();
    assert_eq!(
        cold_records(&tier, end).await.len(),
        8 * KEYS,
        "all history"
    );

    let r = tier
        .compact_partition(part(&log), &compaction())
        .await
        .unwrap()
        .expect("every segment is dirty");
    assert_eq!(
        (r.segments_before, r.bytes_before),
        (before.len(), bytes_before)
    );
    let after = tier.catalog().finished(TOPIC_ID, 0).unwrap();
    assert!(
        after.len() < before.len(),
        "merged: {} of {}",
        after.len(),
        before.len()
    );
    assert_eq!(
        (after[0].base_offset, after.last().unwrap().end_offset),
        (0, end)
    );
    assert!(after.iter().all(|m| m.compacted_at_ms.is_some()));
    let bytes_after: u64 = after.iter().map(|m| m.size).sum();
    assert_eq!(r.bytes_after, bytes_after);
    assert!(
        bytes_after * 4 < bytes_before,
        "{bytes_after} of {bytes_before}"
    );
    assert_eq!(cold_records(&tier, end).await, latest(8));
    assert_eq!(
        tier.compact_partition(part(&log), &compaction())
            .await
            .unwrap(),
        None,
        "clean"
    );

    // The superseded uploads are still there; a catalog rebuilt now picks the replacement.
    let old_ids: HashSet<String> = before.iter().map(|m| m.upload_id.clone()).collect();
    let in_bucket = upload_ids_in_bucket(&tier).await;
    assert!(old_ids.is_subset(&in_bucket));
    let rebuilt = Tier::open(
        RemoteStore::from_object_store(store.clone(), "", StoreOptions::default()),
        tier_config(dir.path(), "b"),
    )
    .await
    .unwrap();
    rebuilt.reconcile().await.unwrap();
    assert_eq!(live_ids(&rebuilt), live_ids(&tier));
    assert_eq!(cold_records(&rebuilt, end).await, latest(8));

    // The sweep waits for the grace period, then deletes exactly the superseded uploads.
    assert_eq!(
        tier.sweep_partition(part(&log), Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    let swept = tier
        .sweep_partition(part(&log), Duration::ZERO)
        .await
        .unwrap();
    let live = live_ids(&tier);
    let superseded = old_ids.difference(&live).count();
    assert_eq!(swept, superseded);
    assert_eq!(upload_ids_in_bucket(&tier).await, live);

    // New history makes the topic dirty again; the next run keeps only the newest values.
    fill(&mut log.lock().unwrap(), 8, 4);
    let end = (12 * KEYS) as i64;
    tier.sync_partition(part(&log), -1, -1).await.unwrap();
    tier.compact_partition(part(&log), &compaction())
        .await
        .unwrap()
        .expect("the new segments are dirty");
    assert_eq!(cold_records(&tier, end).await, latest(12));
    tier.sweep_partition(part(&log), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(upload_ids_in_bucket(&tier).await, live_ids(&tier));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_did_not_switch_is_deleted_at_reconciliation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemory::new());
    let tier = Tier::open(
        RemoteStore::from_object_store(store.clone(), "", StoreOptions::default()),
        tier_config(dir.path(), "a"),
    )
    .await
    .unwrap();
    tier.reconcile().await.unwrap();
    let log = Mutex::new(
        PartitionLog::open(&dir.path().join("p0"), TOPIC_ID, log_config(), 1_000).unwrap(),
    );
    fill(&mut log.lock().unwrap(), 0, 4);
    tier.sync_partition(part(&log), -1, -1).await.unwrap();
    let live = live_ids(&tier);
    // A run's record and one of its objects, as a crash before the switch leaves them.
    let mut orphan = tier.catalog().finished(TOPIC_ID, 0).unwrap()[0].clone();
    orphan.upload_id = "e0-crashedrun".into();
    orphan.compacted_at_ms = Some(1);
    tier.store()
        .put(&orphan.keys().log, bytes::Bytes::from_static(b"partial"))
        .await
        .unwrap();
    tier.catalog()
        .put_replacement("e0-run", &[orphan.clone()])
        .unwrap();
    tier.catalog().flush().await.unwrap();
    drop(tier);
    let tier = Tier::open(
        RemoteStore::from_object_store(store.clone(), "", StoreOptions::default()),
        tier_config(dir.path(), "a"),
    )
    .await
    .unwrap();
    tier.reconcile().await.unwrap();
    assert!(tier.catalog().replacements().unwrap().is_empty());
    assert_eq!(live_ids(&tier), live);
    assert_eq!(
        upload_ids_in_bucket(&tier).await,
        live,
        "the run's objects are gone"
    );
}
