//! The transaction coordinator restarts mid-transaction (issue 9), single node, with
//! confluent-kafka (`py/txn_restart.py`; the three-node variant is `txn_cluster_restart.rs`).
//! In each of three rounds a transaction's records (4 per partition, 3 partitions) are produced
//! and acknowledged, then the broker is stopped (SIGKILL, SIGTERM, SIGKILL) and started again on
//! the same data directory, and the producer commits. It either commits (the records are
//! visible exactly once) or gets an abortable or fatal error and recovers as librdkafka
//! documents (abort; or a new producer with the same transactional.id), finds the
//! transaction's records invisible and redoes it. In the end read_committed reads every record
//! of every transaction exactly once, in its partition, and nothing is left open (last stable
//! offset = high watermark, checked by the script).

use std::time::Duration;

use anyhow::ensure;
use strata_integration::txn::{
    check_restart_exactly_once, restart_outcomes, PyProcess, TXN_BROKER_ARGS,
};
use strata_integration::{create_topic, run, Broker};

const PARTITIONS: i32 = 3;
/// Records per partition per transaction (`PER_PARTITION` in the script).
const PER_PARTITION: i32 = 4;
const ROUNDS: usize = 3;

#[test]
fn coordinator_restart_mid_transaction_single_node() {
    run(Duration::from_secs(240), async {
        let mut broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-restart", PARTITIONS, &[]).await?;
        let mut py = PyProcess::spawn(
            "txn_restart.py",
            &[
                &b,
                "txn-restart",
                &PARTITIONS.to_string(),
                "it-restart",
                &ROUNDS.to_string(),
            ],
        )?;
        let mut from = 0;
        for k in 1..=ROUNDS {
            let want = format!("STEP produced {k}");
            from = py
                .wait_line(from, Duration::from_secs(60), |l| l == want)
                .await?
                .0
                + 1;
            if k == 2 {
                let status = broker.sigterm_and_wait()?;
                ensure!(status.success(), "SIGTERM: the broker exited with {status}");
            } else {
                broker.sigkill()?;
            }
            broker.restart()?;
            py.send("GO")?;
        }
        let out = py.finish(Duration::from_secs(150)).await?;
        eprintln!(
            "outcomes after the restarts: {:?}",
            restart_outcomes(&out, ROUNDS)
        );
        check_restart_exactly_once(&out, ROUNDS, PARTITIONS, PER_PARTITION)?;
        Ok(())
    });
}
