//! The exactly-once read-process-write loop in a three-node cluster (issue 9: transactions
//! work across brokers), with confluent-kafka (`py/txn_eos.py`).
//!
//! Input and output topics of 3 partitions with replication factor 3 and
//! `min.insync.replicas=2`; 2000 numbered input records. While the processor of `txn_eos.rs`
//! runs (read_committed consumer in a group, transactional producer, offsets sent in each
//! transaction), the test SIGKILLs the broker that coordinates its transactional id
//! (FindCoordinator key type 1), lets the processor go on with the survivors, starts the
//! broker again and waits for every replica to catch up; then does the same with the broker
//! that coordinates its consumer group (key type 0). In the end every input record appears in
//! the output exactly once (read_committed), in its partition and in input order, and the
//! group's committed offsets are the input's end offsets.
//!
//! Like the `cluster_*` scenarios it starts three brokers: it should run alone (nextest
//! `threads-required`), elections time out under CPU starvation.

use std::time::Duration;

use strata_integration::client::create_replicated_topic;
use strata_integration::cluster::Cluster;
use strata_integration::run;
use strata_integration::txn::{
    check_eos_output, run_script_async, wait_coordinator, wait_full_isr, EosProcessor, EosSetup,
};

const N: usize = 2000;
const PARTITIONS: usize = 3;
const MAX_STARTS: usize = 10;

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
fn read_process_write_exactly_once_across_coordinator_kills() {
    run(Duration::from_secs(280), async {
        let converge = Duration::from_secs(60);
        let mut cluster = Cluster::start(3, CLUSTER_ARGS)?;
        let s = EosSetup {
            bootstrap: cluster.bootstrap(),
            input: "ceos-in".to_string(),
            output: "ceos-out".to_string(),
            group: "ceos-group".to_string(),
            txn_id: "ceos-processor".to_string(),
            n: N,
            partitions: PARTITIONS,
        };
        for topic in [&s.input, &s.output] {
            create_replicated_topic(
                &s.bootstrap,
                topic,
                PARTITIONS as i32,
                3,
                &[("min.insync.replicas", "2")],
            )
            .await?;
            wait_full_isr(&s.bootstrap, topic, PARTITIONS, converge).await?;
        }
        run_script_async(
            "txn_eos.py",
            &[
                "produce",
                &s.bootstrap,
                &s.input,
                &N.to_string(),
                &PARTITIONS.to_string(),
            ],
            Duration::from_secs(60),
        )
        .await?;

        let mut proc = EosProcessor::start(&s, MAX_STARTS)?;
        let phase = Duration::from_secs(60);
        // (progress at the kill, FindCoordinator key type, key, progress before the restart)
        let kills = [
            (400, 1, s.txn_id.clone(), 800),
            (1100, 0, s.group.clone(), 1500),
        ];
        for (at, key_type, key, back_at) in kills {
            proc.wait_progress(at, phase).await?;
            // Every node is up here (a killed one is back before the next round).
            let node =
                wait_coordinator(cluster.brokers[0].addr(), &key, key_type, converge).await?;
            let node = usize::try_from(node)?;
            eprintln!("SIGKILL node {node} (coordinator of {key}, key type {key_type}) at ~{at}");
            cluster.node(node).sigkill()?;
            proc.wait_progress(back_at, phase).await?;
            eprintln!("node {node} back at ~{back_at}");
            cluster.node(node).restart()?;
            for topic in [&s.input, &s.output] {
                wait_full_isr(&s.bootstrap, topic, PARTITIONS, converge).await?;
            }
            wait_full_isr(&s.bootstrap, "__transaction_state", 50, converge).await?;
        }

        let summary = proc.finish(Duration::from_secs(90)).await?;
        eprintln!("{summary}");
        check_eos_output(&s).await
    });
}
