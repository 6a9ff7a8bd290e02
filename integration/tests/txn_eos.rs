//! The exactly-once read-process-write loop across broker and processor kills (issue 9), with
//! confluent-kafka against one broker (`py/txn_eos.py`; the three-node variant is
//! `txn_cluster_eos.rs`).
//!
//! 2000 numbered records on 3 input partitions. A processor (a read_committed consumer in a
//! group, auto-commit off, and a transactional producer) turns every input record `i` into an
//! output record `i:p` in the same partition, committing its input positions with
//! send_offsets_to_transaction in the same transaction, 20 records per transaction. While it
//! runs the test SIGKILLs the broker (and starts it again), SIGKILLs the processor (and starts
//! a new one with the same transactional.id and group), and then both at once. A processor
//! that hits a fatal error exits and is started again. In the end a checker reads the output
//! with read_committed: every input record appears exactly once, in its partition, in input
//! order, and the group's committed offsets are the input's end offsets.

use std::time::Duration;

use strata_integration::txn::{
    check_eos_output, run_script_async, EosProcessor, EosSetup, TXN_BROKER_ARGS,
};
use strata_integration::{create_topic, run, Broker};

const N: usize = 2000;
const PARTITIONS: usize = 3;
/// Processor starts allowed (the first, the test's own restarts, and restarts after fatal
/// errors).
const MAX_STARTS: usize = 10;

fn setup(bootstrap: &str) -> EosSetup {
    EosSetup {
        bootstrap: bootstrap.to_string(),
        input: "eos-in".to_string(),
        output: "eos-out".to_string(),
        group: "eos-group".to_string(),
        txn_id: "eos-processor".to_string(),
        n: N,
        partitions: PARTITIONS,
    }
}

#[test]
fn read_process_write_exactly_once_across_kills() {
    run(Duration::from_secs(280), async {
        let mut broker = Broker::start(TXN_BROKER_ARGS)?;
        let s = setup(&broker.bootstrap());
        create_topic(&s.bootstrap, &s.input, PARTITIONS as i32, &[]).await?;
        create_topic(&s.bootstrap, &s.output, PARTITIONS as i32, &[]).await?;
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

        // 1. The broker dies mid-stream and comes back.
        proc.wait_progress(400, phase).await?;
        eprintln!("SIGKILL broker at ~400");
        broker.sigkill()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        broker.restart()?;

        // 2. The processor dies (a zombie transaction is left open) and a new one starts.
        proc.wait_progress(900, phase).await?;
        eprintln!("SIGKILL processor at ~900");
        proc.restart("SIGKILLed by the test")?;

        // 3. Both at once.
        proc.wait_progress(1400, phase).await?;
        eprintln!("SIGKILL broker and processor at ~1400");
        broker.sigkill()?;
        proc.py.kill()?;
        broker.restart()?;
        proc.restart("SIGKILLed with the broker")?;

        let summary = proc.finish(Duration::from_secs(90)).await?;
        eprintln!("{summary}");
        check_eos_output(&s).await
    });
}

/// The input producer alone (no transactions involved): a failure of the scenario above is
/// then not confused with a failure of its input.
#[test]
fn eos_input_producer_writes_numbered_records() {
    run(Duration::from_secs(120), async {
        let broker = Broker::start(TXN_BROKER_ARGS)?;
        let s = setup(&broker.bootstrap());
        create_topic(&s.bootstrap, &s.input, PARTITIONS as i32, &[]).await?;
        run_script_async(
            "txn_eos.py",
            &[
                "produce",
                &s.bootstrap,
                &s.input,
                "30",
                &PARTITIONS.to_string(),
            ],
            Duration::from_secs(60),
        )
        .await?;
        Ok(())
    });
}
