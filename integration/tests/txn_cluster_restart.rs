//! The transaction coordinator is killed mid-transaction in a three-node cluster (issue 9),
//! with confluent-kafka (`py/txn_restart.py`). In each of two rounds a transaction's records
//! are produced to a topic of replication factor 3 (min.insync.replicas=2) and acknowledged;
//! the test asks FindCoordinator (key type 1) for the transactional id's coordinator, checks
//! that it is the leader of `__transaction_state` partition `abs(hash(transactional.id)) % 50`
//! (the topic has 50 partitions), SIGKILLs that broker, and lets the producer commit. The
//! producer either commits or recovers as librdkafka documents and redoes the transaction; the
//! killed broker is started again and every replica catches up before the next round. In the
//! end read_committed reads every record of every transaction exactly once.
//!
//! Like the `cluster_*` scenarios it starts three brokers: it should run alone (nextest
//! `threads-required`), elections time out under CPU starvation.

use std::time::Duration;

use anyhow::ensure;
use strata_integration::client::create_replicated_topic;
use strata_integration::cluster::Cluster;
use strata_integration::run;
use strata_integration::txn::{
    check_restart_exactly_once, kvs, partitions_of, restart_outcomes, txn_state_partition,
    wait_full_isr, wait_txn_coordinator, PyProcess,
};

const PARTITIONS: i32 = 3;
/// Records per partition per transaction (`PER_PARTITION` in the script).
const PER_PARTITION: i32 = 4;
const ROUNDS: usize = 2;
const TXN_ID: &str = "it-restart-cluster";
const TOPIC: &str = "txn-restart-c";

const CLUSTER_ARGS: &[&str] = &[
    "--set",
    "broker.session.timeout.ms=3000",
    "--set",
    "broker.heartbeat.interval.ms=300",
    "--set",
    "replica.lag.time.max.ms=5000",
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "group.min.session.timeout.ms=1000",
];

#[test]
fn transaction_coordinator_killed_mid_transaction() {
    run(Duration::from_secs(270), async {
        let converge = Duration::from_secs(60);
        let mut cluster = Cluster::start(3, CLUSTER_ARGS)?;
        let b = cluster.bootstrap();
        create_replicated_topic(&b, TOPIC, PARTITIONS, 3, &[("min.insync.replicas", "2")]).await?;
        wait_full_isr(&b, TOPIC, PARTITIONS as usize, converge).await?;

        let mut py = PyProcess::spawn(
            "txn_restart.py",
            &[
                &b,
                TOPIC,
                &PARTITIONS.to_string(),
                TXN_ID,
                &ROUNDS.to_string(),
            ],
        )?;
        let state_partition = txn_state_partition(TXN_ID);
        let mut from = 0;
        let mut killed = Vec::new();
        for k in 1..=ROUNDS {
            let want = format!("STEP produced {k}");
            from = py
                .wait_line(from, Duration::from_secs(60), |l| l == want)
                .await?
                .0
                + 1;
            // The coordinator per FindCoordinator, and per the __transaction_state leaders.
            let coordinator =
                wait_txn_coordinator(cluster.brokers[0].addr(), TXN_ID, converge).await?;
            let parts = partitions_of(&b, "__transaction_state")?;
            ensure!(
                parts.len() == 50,
                "__transaction_state has {} partitions, want 50",
                parts.len()
            );
            let leader = parts.iter().find(|p| p.0 == state_partition).map(|p| p.1);
            ensure!(
                leader == Some(coordinator),
                "FindCoordinator names node {coordinator} for {TXN_ID}, but the leader of \
                 __transaction_state-{state_partition} is {leader:?}"
            );
            let node = usize::try_from(coordinator)?;
            eprintln!("round {k}: killing the transaction coordinator, node {node}");
            cluster.node(node).sigkill()?;
            killed.push(node);
            py.send("GO")?;
            let want = format!("KV outcome_{k} ");
            let (i, line) = py
                .wait_line(from, Duration::from_secs(90), |l| l.starts_with(&want))
                .await?;
            from = i + 1;
            eprintln!("round {k}: {line}");
            // The node comes back and every replica catches up before the next kill.
            cluster.node(node).restart()?;
            wait_full_isr(&b, TOPIC, PARTITIONS as usize, converge).await?;
            wait_full_isr(&b, "__transaction_state", 50, converge).await?;
        }
        let out = py.finish(Duration::from_secs(90)).await?;
        eprintln!(
            "killed coordinators {killed:?}; outcomes {:?}; errors seen {:?}",
            restart_outcomes(&out, ROUNDS),
            (1..=ROUNDS)
                .flat_map(|k| kvs(&out.lines, &format!("commit_{k}_error")))
                .collect::<Vec<_>>()
        );
        check_restart_exactly_once(&out, ROUNDS, PARTITIONS, PER_PARTITION)?;
        Ok(())
    });
}
