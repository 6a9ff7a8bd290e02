//! kill -9 crash test.
//!
//! The broker runs with `log.flush.interval.messages=1` (fsync before acknowledging). Each trial
//! (`STRATA_CRASH_TRIALS`, default 5):
//!
//! 1. a task produces records with unique, increasing sequence numbers to a 1-partition topic
//!    (`acks=all`, not idempotent), keeping every delivery future;
//! 2. after a random 200-1500 ms the broker is killed with SIGKILL;
//! 3. the producer's remaining messages are purged (so nothing is retried into the restarted
//!    broker) and the acknowledged deliveries, with their offsets, are recorded;
//! 4. the broker restarts on the same data directory, and the partition is read from 0.
//!
//! The log must be contiguous from offset 0; every record in it must be intact and appear once
//! (sequence numbers strictly increase); and every record ever acknowledged, in any trial, must
//! be at exactly its acknowledged offset. Records that were written but not acknowledged may or
//! may not be there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rand::Rng;
use rdkafka::producer::{DeliveryFuture, Producer, PurgeConfig};
use strata_integration::client::enqueue;
use strata_integration::durability::{check_acked, read_log, value_of};
use strata_integration::{create_topic, producer, run, Broker, Outgoing};

const TOPIC: &str = "crash";

fn trials() -> Result<usize> {
    match std::env::var("STRATA_CRASH_TRIALS") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("STRATA_CRASH_TRIALS={v} is not a number")),
        Err(_) => Ok(5),
    }
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => panic!("{e:?}"),
    };
    let limit = Duration::from_secs(60 + 40 * trials as u64);
    run(limit, scenario(trials));
}

async fn scenario(trials: usize) -> Result<()> {
    let mut broker = Broker::start(&["--set", "log.flush.interval.messages=1"])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, &[]).await?;

    // (sequence number, acknowledged offset) over all trials.
    let mut acked: Vec<(u64, i64)> = Vec::new();
    let mut next_seq: u64 = 0;
    for trial in 0..trials {
        let producer = Arc::new(producer(
            &bootstrap,
            &[("linger.ms", "2"), ("message.timeout.ms", "30000")],
        )?);
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let producer = Arc::clone(&producer);
            let stop = Arc::clone(&stop);
            let first = next_seq;
            tokio::spawn(async move {
                let mut pending: Vec<(u64, DeliveryFuture)> = Vec::new();
                let mut seq = first;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..20 {
                        let record = Outgoing {
                            partition: Some(0),
                            value: value_of(seq),
                            ..Outgoing::default()
                        };
                        pending.push((seq, enqueue(&producer, TOPIC, &record).await?));
                        seq += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                anyhow::Ok((pending, seq))
            })
        };

        let run_for = Duration::from_millis(rand::rng().random_range(200..=1500));
        tokio::time::sleep(run_for).await;
        broker.sigkill()?;
        stop.store(true, Ordering::Relaxed);
        let (pending, end_seq) = task.await.context("the producer task panicked")??;
        next_seq = end_seq;
        // Nothing may reach the restarted broker: fail everything still queued or in flight.
        producer.purge(PurgeConfig::default().queue().inflight());
        let mut acked_this_trial = 0;
        for (seq, future) in pending {
            let outcome = tokio::time::timeout(Duration::from_secs(30), future)
                .await
                .with_context(|| format!("no delivery report for {seq} after the purge"))?;
            if let Ok(Ok(delivery)) = outcome {
                ensure!(
                    delivery.partition == 0,
                    "acked on partition {}",
                    delivery.partition
                );
                acked.push((seq, delivery.offset));
                acked_this_trial += 1;
            }
        }
        drop(producer);
        println!("trial {trial}: ran {run_for:?}, acked {acked_this_trial} records");

        broker.restart()?;
        verify(&bootstrap, &acked)
            .await
            .with_context(|| format!("after crash {}", trial + 1))?;
    }
    println!("crash trials: {trials}, acked records: {}", acked.len());
    Ok(())
}

/// Every acknowledged record is in the log at its offset; the log is contiguous, intact, in
/// order and without duplicates.
async fn verify(bootstrap: &str, acked: &[(u64, i64)]) -> Result<()> {
    let log = read_log(bootstrap, TOPIC).await?;
    check_acked(&log, acked)
}
