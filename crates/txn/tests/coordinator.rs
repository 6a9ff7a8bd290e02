//! The transaction coordinator over real local logs, with a recording broker side: state
//! transitions, fencing, markers, completion and replay after a restart.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_coordinator::{InternalLog, LocalLog};
use strata_log::LogConfig;
use strata_txn::{codes, MarkerJob, TxnConfig, TxnCoordinator, TxnHost, TxnState};

#[derive(Default)]
struct Host {
    next_pid: AtomicI64,
    markers: Mutex<Vec<MarkerJob>>,
}

impl TxnHost for Host {
    fn allocate_producer_id(&self) -> Result<i64, i16> {
        Ok(1000 + self.next_pid.fetch_add(1, Ordering::SeqCst))
    }
    fn partition_exists(&self, topic: &str, _partition: i32) -> bool {
        topic != "missing"
    }
    fn write_markers(&self, job: MarkerJob) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        self.markers.lock().unwrap().push(job);
        Box::pin(async { true })
    }
}

fn open(dir: &std::path::Path, host: Arc<Host>) -> Arc<TxnCoordinator> {
    let config = TxnConfig {
        num_partitions: 1,
        max_timeout_ms: 60_000,
        abort_check_interval_ms: 100,
    };
    let c = TxnCoordinator::new(config, host);
    let log: Arc<dyn InternalLog> =
        Arc::new(LocalLog::open(dir, "t-id", LogConfig::default(), 0).unwrap());
    c.elect(0, 1, log);
    c
}

async fn settle(c: &TxnCoordinator, id: &str, want: TxnState) {
    for _ in 0..200 {
        if c.describe(id).map(|m| m.state) == Ok(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never reached {want:?}: {:?}", c.describe(id));
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_fence_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let host = Arc::new(Host::default());
    let c = open(dir.path(), host.clone());
    c.wait_loaded().await;

    assert_eq!(
        c.init_producer_id("tx", 120_000, (-1, -1), 90),
        Err(codes::INVALID_TRANSACTION_TIMEOUT)
    );
    let (pid, epoch) = c.init_producer_id("tx", 10_000, (-1, -1), 90).unwrap();
    assert_eq!((pid, epoch), (1000, 0));
    let parts = vec![("a".to_string(), 0), ("a".to_string(), 1)];
    assert_eq!(c.add_partitions("tx", pid, 0, &parts, 90), vec![0, 0]);
    assert_eq!(
        c.add_partitions("tx", pid, 0, &[("missing".into(), 0), ("a".into(), 2)], 90),
        vec![
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            codes::OPERATION_NOT_ATTEMPTED
        ]
    );
    assert_eq!(c.add_partitions("tx", pid + 1, 0, &parts, 90), vec![49, 49]);
    assert_eq!(c.describe("tx").unwrap().state, TxnState::Ongoing);
    assert_eq!(c.end_txn("tx", pid, 0, true, 90), 0);
    settle(&c, "tx", TxnState::CompleteCommit).await;
    {
        let markers = host.markers.lock().unwrap();
        assert_eq!(markers.len(), 1);
        assert_eq!(
            (
                markers[0].commit,
                markers[0].producer_epoch,
                markers[0].coordinator_epoch
            ),
            (true, 0, 1)
        );
        assert_eq!(markers[0].partitions, parts);
    }
    // A retried EndTxn of the same decision succeeds; the other decision does not.
    assert_eq!(c.end_txn("tx", pid, 0, true, 90), 0);
    assert_eq!(c.end_txn("tx", pid, 0, false, 90), codes::INVALID_TXN_STATE);

    // Open a second transaction, then a new producer instance fences it.
    assert_eq!(c.add_partitions("tx", pid, 0, &parts[..1], 90), vec![0]);
    assert_eq!(
        c.init_producer_id("tx", 10_000, (-1, -1), 90),
        Err(codes::CONCURRENT_TRANSACTIONS)
    );
    settle(&c, "tx", TxnState::CompleteAbort).await;
    let (pid2, epoch2) = c.init_producer_id("tx", 10_000, (-1, -1), 90).unwrap();
    assert_eq!((pid2, epoch2), (pid, 2));
    {
        let markers = host.markers.lock().unwrap();
        assert_eq!(markers.len(), 2);
        assert_eq!((markers[1].commit, markers[1].producer_epoch), (false, 1));
    }
    // The zombie (epoch 0) is fenced everywhere.
    assert_eq!(c.add_partitions("tx", pid, 0, &parts, 90), vec![90, 90]);
    assert_eq!(c.end_txn("tx", pid, 0, true, 47), 47);
    // KIP-360: the current holder may bump with its id and epoch; a stale one may not.
    assert_eq!(c.init_producer_id("tx", 10_000, (pid, 0), 90), Err(90));
    assert_eq!(c.init_producer_id("tx", 10_000, (pid, 2), 90), Ok((pid, 3)));

    // An open transaction survives a restart of its coordinator.
    assert_eq!(c.add_partitions("tx", pid, 3, &parts, 90), vec![0, 0]);
    c.close().unwrap();
    let c = open(dir.path(), host.clone());
    c.wait_loaded().await;
    let m = c.describe("tx").unwrap();
    assert_eq!((m.state, m.producer_epoch), (TxnState::Ongoing, 3));
    assert_eq!(m.partitions.len(), 2);
    // A decided transaction whose markers were never written is finished after a restart.
    assert_eq!(c.end_txn("tx", pid, 3, false, 90), 0);
    settle(&c, "tx", TxnState::CompleteAbort).await;
    assert_eq!(c.list(&["CompleteAbort".into()], &[]).len(), 1);
    assert!(c.list(&["Ongoing".into()], &[]).is_empty());
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_transactions_are_aborted_with_a_bumped_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let host = Arc::new(Host::default());
    let c = open(dir.path(), host.clone());
    c.wait_loaded().await;
    let (pid, _) = c.init_producer_id("slow", 200, (-1, -1), 90).unwrap();
    assert_eq!(
        c.add_partitions("slow", pid, 0, &[("a".into(), 0)], 90),
        vec![0]
    );
    settle(&c, "slow", TxnState::CompleteAbort).await;
    assert_eq!(c.describe("slow").unwrap().producer_epoch, 1);
    assert_eq!(c.end_txn("slow", pid, 0, true, 90), 90);
    let markers = host.markers.lock().unwrap();
    assert_eq!((markers[0].commit, markers[0].producer_epoch), (false, 1));
    drop(markers);
    c.close().unwrap();
}
