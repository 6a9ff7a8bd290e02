//! The tiering service under object-store faults, over an in-memory store with fault injection
//! and a real local partition log:
//!
//! - opening never talks to the bucket: with every store call failing, `Tier::open` returns, cold
//!   reads and uploads answer the retriable `Unavailable`, and `reconcile` succeeds once the
//!   store is back (rebuilding the catalog from the bucket);
//! - a cold read that outlasts `cold_read_timeout` answers `Unavailable` in time, while its GET
//!   goes on in the background and fills the cache, so the retry costs no request;
//! - remote retention moves the log start (the local log's fsynced checkpoint) before deleting
//!   any object: a crash at the first delete leaves a log start past the doomed segments, and
//!   the next start finishes the deletion;
//! - a catalog rebuild keeps an unfinished upload younger than `orphan_min_age` and deletes it
//!   once older.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use strata_log::{LogConfig, PartitionLog};
use strata_tier::catalog::SegmentState;
use strata_tier::keys::SegmentKeys;
use strata_tier::store::faults::{FaultPlan, FaultyStore};
use strata_tier::store::{RemoteStore, StoreOptions};
use strata_tier::{PartitionRef, Tier, TierConfig, TierError};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000f001";
const TOPIC: &str = "faults";
/// Records per batch, and batches per sealed segment (see `fill`).
const RECORDS_PER_BATCH: i64 = 10;

struct Setup {
    plan: Arc<FaultPlan>,
    inner: Arc<InMemory>,
    store: RemoteStore,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let plan = FaultPlan::new();
    let inner = Arc::new(InMemory::new());
    let faulty = FaultyStore::new(inner.clone() as Arc<dyn ObjectStore>, plan.clone());
    let opts = StoreOptions {
        max_retries: 1,
        retry_base: Duration::from_millis(10),
        ..StoreOptions::default()
    };
    let store = RemoteStore::from_object_store(Arc::new(faulty), "", opts);
    Setup {
        plan,
        inner,
        store,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn config(dir: &Path, cold_read_timeout: Duration, orphan_min_age: Duration) -> TierConfig {
    TierConfig {
        catalog_dir: dir.join("catalog"),
        cache_dir: dir.join("cache"),
        cache_bytes: 64 << 20,
        chunk_bytes: 1 << 20,
        upload_concurrency: 1,
        upload_bytes_per_sec: u64::MAX,
        cold_read_concurrency: 2,
        cold_read_timeout,
        orphan_min_age,
    }
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        remote_storage_enable: true,
        retention_ms: -1,
        local_retention_ms: -1,
        local_retention_bytes: -1,
        ..LogConfig::default()
    }
}

fn open_log(dir: &Path) -> PartitionLog {
    PartitionLog::open(&dir.join("faults-0"), TOPIC_ID, log_config(), 1_000).unwrap()
}

/// Appends `batches` batches of 10 records (about 1.1 KiB each, so a 4 KiB segment holds 3).
fn fill(log: &mut PartitionLog, batches: usize) {
    let value = vec![b'v'; 100];
    for b in 0..batches {
        let recs: Vec<_> = (0..RECORDS_PER_BATCH)
            .map(|i| (None, Some(value.as_slice()), i))
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

async fn object_keys(inner: &Arc<InMemory>) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = inner
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_with_the_store_down_and_reconciles_when_it_returns() {
    let s = setup();
    // A first broker life uploads the sealed segments, then loses its catalog.
    let log = Mutex::new(open_log(s.dir.path()));
    fill(&mut log.lock().unwrap(), 12);
    let cfg = config(
        s.dir.path(),
        Duration::from_secs(5),
        Duration::from_secs(3600),
    );
    let tier = Tier::open(s.store.clone(), cfg.clone()).await.unwrap();
    tier.reconcile().await.unwrap();
    let first = tier.sync_partition(part(&log), -1, -1).await.unwrap();
    assert!(first.uploaded >= 3, "{first:?}");
    let remote_end = tier
        .catalog()
        .finished(TOPIC_ID, 0)
        .unwrap()
        .last()
        .unwrap()
        .end_offset;
    drop(tier);
    std::fs::remove_dir_all(&cfg.catalog_dir).unwrap();

    // The store is down: every call fails.
    s.plan.fail_next(u32::MAX);
    let calls_before = s.plan.calls();
    let started = Instant::now();
    let tier = Tier::open(s.store.clone(), cfg.clone()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "open waited on the store: {:?}",
        started.elapsed()
    );
    assert_eq!(s.plan.calls(), calls_before, "open made store calls");
    let read = tier.cold_read(TOPIC_ID, 0, 0, 1 << 20, remote_end).await;
    assert!(
        matches!(&read, Err(e @ TierError::Unavailable(_)) if e.is_transient()),
        "cold read before reconciliation: {read:?}"
    );
    assert!(tier.remote_log_start(TOPIC_ID, 0).is_err());
    assert!(matches!(
        tier.sync_partition(part(&log), -1, -1).await,
        Err(TierError::Unavailable(_))
    ));
    let failed = tier.reconcile().await;
    assert!(failed.is_err() && !tier.is_reconciled(), "{failed:?}");

    // The store is back.
    s.plan.disarm();
    tier.reconcile().await.unwrap();
    assert!(tier.is_reconciled());
    assert_eq!(tier.remote_log_start(TOPIC_ID, 0).unwrap(), Some(0));
    let (first_offset, bytes) = tier
        .cold_read(TOPIC_ID, 0, 0, 1 << 20, remote_end)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_offset, 0);
    assert!(!bytes.is_empty());
    let again = tier.sync_partition(part(&log), -1, -1).await.unwrap();
    assert_eq!(again.uploaded, 0, "nothing uploaded twice: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_cold_read_answers_in_time_and_fills_the_cache_behind() {
    let s = setup();
    let log = Mutex::new(open_log(s.dir.path()));
    fill(&mut log.lock().unwrap(), 9);
    let cfg = config(
        s.dir.path(),
        Duration::from_millis(200),
        Duration::from_secs(3600),
    );
    let tier = Tier::open(s.store.clone(), cfg).await.unwrap();
    tier.reconcile().await.unwrap();
    tier.sync_partition(part(&log), -1, -1).await.unwrap();
    let end = tier.catalog().finished(TOPIC_ID, 0).unwrap()[0].end_offset;

    // The next store call (the chunk GET) hangs 1.5 s, then succeeds.
    s.plan.set_hang(Duration::from_millis(1500));
    s.plan.timeout_next(1);
    let calls = s.plan.calls();
    let started = Instant::now();
    let read = tier.cold_read(TOPIC_ID, 0, 0, 1 << 20, end).await;
    let waited = started.elapsed();
    assert!(
        matches!(&read, Err(e @ TierError::Unavailable(_)) if e.is_transient()),
        "{read:?}"
    );
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(1200),
        "waited {waited:?}"
    );
    assert_eq!(s.plan.calls() - calls, 1, "one GET in flight");

    // The GET completes in the background; the retry is served from the cache.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let calls = s.plan.calls();
    let (first, bytes) = tier
        .cold_read(TOPIC_ID, 0, 0, 1 << 20, end)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, 0);
    let local =
        std::fs::read(s.dir.path().join("faults-0").join(format!("{:020}.log", 0))).unwrap();
    assert_eq!(
        &bytes[..],
        &local[..bytes.len()],
        "bytes of the first segment"
    );
    assert_eq!(s.plan.calls(), calls, "the retry made no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_retention_moves_the_log_start_before_deleting_objects() {
    let s = setup();
    let cfg = config(
        s.dir.path(),
        Duration::from_secs(5),
        Duration::from_secs(3600),
    );
    let (doomed_end, doomed_keys) = {
        let log = Mutex::new(open_log(s.dir.path()));
        fill(&mut log.lock().unwrap(), 12);
        let tier = Tier::open(s.store.clone(), cfg.clone()).await.unwrap();
        tier.reconcile().await.unwrap();
        tier.sync_partition(part(&log), -1, -1).await.unwrap();
        let remote = tier.catalog().finished(TOPIC_ID, 0).unwrap();
        assert!(remote.len() >= 3, "{} segments uploaded", remote.len());
        // Retention by size keeping all but the first two segments.
        let keep: u64 = remote[2..].iter().map(|m| m.size).sum::<u64>()
            + log
                .lock()
                .unwrap()
                .sealed_segments()
                .iter()
                .filter(|seg| seg.base_offset >= remote.last().unwrap().end_offset)
                .map(|seg| seg.size)
                .sum::<u64>();
        let doomed_end = remote[1].end_offset;
        let doomed_keys: Vec<String> = remote[..2].iter().flat_map(|m| m.object_keys()).collect();

        // Crash at the first object delete: every store call fails from now on.
        s.plan.permanent_next(u32::MAX);
        let result = tier.sync_partition(part(&log), -1, keep as i64).await;
        assert!(result.is_err(), "{result:?}");
        let entries = tier.catalog().entries(TOPIC_ID, 0).unwrap();
        assert_eq!(entries[0].state, SegmentState::DeleteStarted);
        assert_eq!(entries[1].state, SegmentState::CopyFinished);
        (doomed_end, doomed_keys)
        // The tier and the log are dropped without a clean close: the crash.
    };
    let objects = object_keys(&s.inner).await;
    for k in &doomed_keys {
        assert!(
            objects.contains(k),
            "{k} deleted although every delete failed"
        );
    }

    // Restart: the log start was durably moved past both doomed segments.
    s.plan.disarm();
    let log = Mutex::new(open_log(s.dir.path()));
    assert_eq!(log.lock().unwrap().log_start_offset(), doomed_end);
    let tier = Tier::open(s.store.clone(), cfg).await.unwrap();
    tier.reconcile().await.unwrap();
    let report = tier.sync_partition(part(&log), -1, -1).await.unwrap();
    assert_eq!(
        report.deleted, 1,
        "the second doomed segment, below the log start"
    );
    let objects = object_keys(&s.inner).await;
    for k in &doomed_keys {
        assert!(!objects.contains(k), "{k} still in the bucket");
    }
    assert_eq!(
        tier.remote_log_start(TOPIC_ID, 0).unwrap(),
        Some(doomed_end),
        "the remote tier starts at the log start"
    );
    let (first, _) = tier
        .cold_read(TOPIC_ID, 0, doomed_end, 1 << 20, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, doomed_end);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_keeps_young_unfinished_uploads_and_deletes_old_ones() {
    let s = setup();
    let log = Mutex::new(open_log(s.dir.path()));
    fill(&mut log.lock().unwrap(), 6);
    let cfg = config(
        s.dir.path(),
        Duration::from_secs(5),
        Duration::from_secs(3600),
    );
    let tier = Tier::open(s.store.clone(), cfg.clone()).await.unwrap();
    tier.reconcile().await.unwrap();
    tier.sync_partition(part(&log), -1, -1).await.unwrap();
    let segments = tier.catalog().finished(TOPIC_ID, 0).unwrap().len();
    drop(tier);
    // An upload in progress: its .log and .index are written, its manifest not yet.
    let partial = SegmentKeys::new(TOPIC_ID, 0, 1_000_000, "inflight0000");
    s.store
        .put(&partial.log, Bytes::from_static(b"partial"))
        .await
        .unwrap();
    s.store
        .put(&partial.offset_index, Bytes::from_static(b"idx"))
        .await
        .unwrap();

    std::fs::remove_dir_all(&cfg.catalog_dir).unwrap();
    let tier = Tier::open(s.store.clone(), cfg.clone()).await.unwrap();
    let report = tier.rebuild_catalog().await.unwrap();
    assert_eq!(report.segments, segments);
    assert_eq!(report.kept_young_objects, 2);
    assert_eq!(report.deleted_objects, 0);
    let objects = object_keys(&s.inner).await;
    assert!(objects.contains(&partial.log) && objects.contains(&partial.offset_index));
    drop(tier);

    // Once older than the threshold (here: a zero threshold), the orphan goes.
    std::fs::remove_dir_all(&cfg.catalog_dir).unwrap();
    let old = TierConfig {
        orphan_min_age: Duration::ZERO,
        ..cfg
    };
    let tier = Tier::open(s.store.clone(), old).await.unwrap();
    let report = tier.rebuild_catalog().await.unwrap();
    assert_eq!((report.segments, report.deleted_objects), (segments, 2));
    let objects = object_keys(&s.inner).await;
    assert!(!objects.contains(&partial.log) && !objects.contains(&partial.offset_index));
    // Each: .log, .index, .timeindex, .snapshot (every roll takes one; no .txnindex: nothing
    // aborted) and the manifest.
    assert_eq!(
        objects.len(),
        segments * 5,
        "every finished segment kept whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_waiting_for_a_slot_give_up_at_the_deadline_instead_of_queueing() {
    let s = setup();
    let log = Mutex::new(open_log(s.dir.path()));
    fill(&mut log.lock().unwrap(), 12);
    let cfg = TierConfig {
        cold_read_concurrency: 1,
        ..config(
            s.dir.path(),
            Duration::from_millis(200),
            Duration::from_secs(3600),
        )
    };
    let tier = Tier::open(s.store.clone(), cfg).await.unwrap();
    // No read-ahead: every GET below is a read's own.
    tier.set_read_ahead_bytes(0);
    tier.reconcile().await.unwrap();
    tier.sync_partition(part(&log), -1, -1).await.unwrap();
    let remote = tier.catalog().finished(TOPIC_ID, 0).unwrap();
    assert!(remote.len() >= 2);
    let (first, second) = (&remote[0], &remote[1]);

    // The one read slot is held by a GET that hangs 1.5 s.
    s.plan.set_hang(Duration::from_millis(1500));
    s.plan.timeout_next(1);
    let calls = s.plan.calls();
    let a = tier.cold_read(TOPIC_ID, 0, first.base_offset, 1, i64::MAX);
    assert!(matches!(a.await, Err(TierError::Unavailable(_))));
    // A read of another segment finds no slot before its deadline and gives up.
    let b = tier.cold_read(TOPIC_ID, 0, second.base_offset, 1 << 20, i64::MAX);
    assert!(matches!(b.await, Err(TierError::Unavailable(_))));
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        s.plan.calls() - calls,
        1,
        "only the first read reached the store; the second did not queue behind it"
    );
    // Both are served now.
    for m in [first, second] {
        let (offset, _) = tier
            .cold_read(TOPIC_ID, 0, m.base_offset, 1 << 20, i64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(offset, m.base_offset);
    }
}
