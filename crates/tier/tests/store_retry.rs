//! The retry layer over a [`FaultyStore`]: what is retried, how often, what is reported, and
//! that metrics count it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use object_store::memory::InMemory;
use strata_tier::store::metrics::{BYTES_TOTAL, REQUESTS_TOTAL, RETRIES_TOTAL};
use strata_tier::store::{
    testing, FaultPlan, FaultyStore, RemoteStore, StoreErrorKind, StoreOptions,
};

const MIB: usize = 1024 * 1024;

fn fast_opts() -> StoreOptions {
    StoreOptions {
        endpoint: None,
        request_timeout: Duration::from_millis(500),
        max_retries: 3,
        retry_base: Duration::from_millis(1),
        multipart_threshold: 5 * MIB as u64 + 1,
        multipart_part_size: 5 * MIB,
        ..StoreOptions::default()
    }
}

fn faulty(opts: StoreOptions) -> (RemoteStore, Arc<FaultPlan>) {
    let plan = FaultPlan::new();
    let store = FaultyStore::new(Arc::new(InMemory::new()), plan.clone());
    (
        RemoteStore::from_object_store(Arc::new(store), "p", opts),
        plan,
    )
}

/// Counter values recorded on this thread (tokio::test runs on one thread). Taking a snapshot
/// drains the recorder, so each check takes one snapshot and queries it.
struct Counters(Vec<Series>);

/// Name, labels, value.
type Series = (String, Vec<(String, String)>, u64);

impl Counters {
    fn take(snapshotter: &Snapshotter) -> Counters {
        Counters(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .filter_map(|(key, _, _, value)| match value {
                    DebugValue::Counter(n) => {
                        let key = key.key();
                        let labels = key
                            .labels()
                            .map(|l| (l.key().to_string(), l.value().to_string()))
                            .collect();
                        Some((key.name().to_string(), labels, n))
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    /// The sum over series named `name` carrying all of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .filter(|(n, ls, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, value)| value)
            .sum()
    }
}

#[tokio::test]
async fn two_transient_failures_then_success() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (store, plan) = faulty(fast_opts());

    plan.fail_next(2);
    store.put("k", Bytes::from_static(b"value")).await.unwrap();
    assert_eq!(plan.calls(), 3);
    assert_eq!(plan.injected(), 2);
    let counters = Counters::take(&snapshotter);
    assert_eq!(counters.get(RETRIES_TOTAL, &[("op", "put")]), 2);
    assert_eq!(counters.get(BYTES_TOTAL, &[("op", "put")]), 5);
    assert_eq!(
        counters.get(REQUESTS_TOTAL, &[("op", "put"), ("outcome", "transient")]),
        2
    );
    assert_eq!(
        counters.get(REQUESTS_TOTAL, &[("op", "put"), ("outcome", "ok")]),
        1
    );

    plan.fail_next(2);
    assert_eq!(store.get("k").await.unwrap(), "value");
    let counters = Counters::take(&snapshotter);
    assert_eq!(counters.get(RETRIES_TOTAL, &[("op", "get")]), 2);
    assert_eq!(counters.get(BYTES_TOTAL, &[("op", "get")]), 5);
}

#[tokio::test]
async fn transient_failures_exhaust_max_retries() {
    let (store, plan) = faulty(fast_opts());
    plan.fail_next(100);
    let err = store.put("k", Bytes::new()).await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Transient, "{err}");
    assert_eq!(plan.calls(), 4, "one attempt plus max_retries=3");
    assert!(err.to_string().contains("after 3 retries"), "{err}");
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (store, plan) = faulty(fast_opts());

    plan.permanent_next(1);
    let err = store.put("k", Bytes::from_static(b"v")).await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Permanent, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(plan.calls(), 1);
    let counters = Counters::take(&snapshotter);
    assert_eq!(counters.get(RETRIES_TOTAL, &[]), 0);
    assert_eq!(
        counters.get(REQUESTS_TOTAL, &[("op", "put"), ("outcome", "permanent")]),
        1
    );
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let (store, plan) = faulty(fast_opts());
    store.put("k", Bytes::from_static(b"v")).await.unwrap();
    let before = plan.calls();

    // One hang, then success.
    plan.timeout_next(1);
    assert_eq!(store.get("k").await.unwrap(), "v");
    assert_eq!(plan.calls() - before, 2);

    // Hangs forever: every attempt times out.
    plan.timeout_next(100);
    let started = Instant::now();
    let err = store.get("k").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert_eq!(plan.calls() - before, 2 + 4);
    // 4 attempts of 500 ms, not an hour.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let (store, plan) = faulty(fast_opts());
    let err = store.get("missing").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::NotFound, "{err}");
    assert_eq!(plan.calls(), 1);
    let err = store.get_range("missing", 0..10).await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::NotFound, "{err}");
    assert_eq!(plan.calls(), 2);
    assert_eq!(store.head("missing").await.unwrap(), None);
    assert_eq!(plan.calls(), 3);
    store.delete("missing").await.unwrap();
    assert_eq!(plan.calls(), 4);
}

#[tokio::test]
async fn already_exists_is_not_retried() {
    let (store, plan) = faulty(fast_opts());
    assert!(store
        .put_if_absent("k", Bytes::from_static(b"a"))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("k", Bytes::from_static(b"b"))
        .await
        .unwrap());
    assert_eq!(plan.calls(), 2);
    assert_eq!(store.get("k").await.unwrap(), "a");
}

#[tokio::test]
async fn put_if_absent_survives_a_lost_response() {
    let (store, plan) = faulty(fast_opts());
    // The first attempt writes, but its answer never comes: the retry finds our own bytes.
    plan.lose_response_next(1);
    assert!(store
        .put_if_absent("k", Bytes::from_static(b"mine"))
        .await
        .unwrap());
    assert_eq!(store.get("k").await.unwrap(), "mine");
    // Someone else's bytes are not ours, lost response or not.
    plan.lose_response_next(1);
    assert!(store
        .put_if_absent("k2", Bytes::from_static(b"x"))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("k2", Bytes::from_static(b"y"))
        .await
        .unwrap());
    assert_eq!(store.get("k2").await.unwrap(), "x");
}

#[tokio::test]
async fn failed_multipart_part_aborts_and_retries_the_upload() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (store, plan) = faulty(fast_opts());
    let dir = tempfile::tempdir().unwrap();
    let data = testing::pattern(12 * MIB, 11);
    let file = dir.path().join("seg");
    std::fs::write(&file, &data).unwrap();

    // Calls: initiate, part 1, part 2 (fails), ...
    plan.skip_next(2);
    plan.fail_next(1);
    assert_eq!(
        store.upload_file("seg", &file).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(plan.aborts(), 1);
    let counters = Counters::take(&snapshotter);
    assert_eq!(
        counters.get(BYTES_TOTAL, &[("op", "put")]),
        data.len() as u64
    );
    assert_eq!(counters.get(RETRIES_TOTAL, &[("op", "upload_file")]), 1);
    assert!(store.get("seg").await.unwrap()[..] == data[..]);
    // initiate + 2 parts + abort-free retry: initiate + 3 parts + complete, + 1 get.
    assert_eq!(plan.calls(), 3 + 5 + 1);

    // A part that hangs: the part deadline expires, the upload is aborted and retried.
    plan.skip_next(1);
    plan.timeout_next(1);
    assert_eq!(
        store.upload_file("seg2", &file).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(plan.aborts(), 2);
    assert!(store.get("seg2").await.unwrap()[..] == data[..]);

    // A permanent failure at completion: aborted, not retried, nothing visible.
    plan.skip_next(4);
    plan.permanent_next(1);
    let err = store.upload_file("seg3", &file).await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Permanent, "{err}");
    assert_eq!(plan.aborts(), 3);
    assert_eq!(store.head("seg3").await.unwrap(), None);
}

#[tokio::test]
async fn random_failures_are_absorbed() {
    let (store, plan) = faulty(StoreOptions {
        max_retries: 12,
        ..fast_opts()
    });
    plan.set_fail_ratio(0.3);
    assert_eq!(plan.fail_ratio(), 0.3);
    for i in 0..40 {
        let key = format!("k/{i}");
        store
            .put(&key, Bytes::from(vec![i as u8; 100]))
            .await
            .unwrap();
        assert_eq!(store.get(&key).await.unwrap(), vec![i as u8; 100]);
    }
    assert_eq!(store.list("k/").await.unwrap().len(), 40);
    assert!(plan.injected() > 0);
    plan.disarm();
    let calls = plan.calls();
    store.delete("k/0").await.unwrap();
    assert_eq!(plan.calls(), calls + 1);
}

#[tokio::test]
async fn faulty_store_conforms_when_disarmed() {
    let (store, _plan) = faulty(StoreOptions {
        request_timeout: Duration::from_secs(30),
        ..fast_opts()
    });
    testing::conformance(&store).await;
}
