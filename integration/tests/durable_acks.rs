//! Durable acks by default (group commit), on the lazy FUSE filesystem (`integration/lazyfs`),
//! which keeps every write that was not fsynced in memory and drops it on a simulated power
//! loss.
//!
//! - Default settings, acks=all, several partitions and producers: SIGKILL, drop the unsynced
//!   writes, restart; every acknowledged record is present at its offset, once, in order, over
//!   `STRATA_POWER_LOSS_TRIALS` trials (default 4).
//! - acks=1 is acknowledged from the page cache: a power loss takes exactly the acks=1 records
//!   that no fsync covered yet; an acks=all record on the same partition fsyncs everything
//!   before it.
//! - A slow disk (a delay before every fsync): an acks=all acknowledgement waits for it, the
//!   record stays invisible (high watermark) until then, and it survives a power loss right
//!   after the acknowledgement; an acks=1 record is acknowledged and readable without any
//!   fsync.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rand::Rng;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, Producer, PurgeConfig};
use strata_integration::client::enqueue;
use strata_integration::durability::{
    acknowledged_on, broker_on_lazyfs, check_acked, power_loss_trials, produce_to_until_stopped,
    read_log, read_logs, value_of,
};
use strata_integration::{consumer, create_topic, producer, run, Broker, Outgoing};

const PARTITIONS: i32 = 4;

/// `(record number, acknowledged offset)` per partition.
type AckedByPartition = Vec<Vec<(u64, i64)>>;

/// Two producers (two connections) write partitions `0..PARTITIONS` (producer `p % 2` writes
/// partition `p`) with acks=all for a random time in `run_ms`, then the broker is SIGKILLed.
/// Returns the acknowledged records per partition and the next record number per partition.
async fn produce_then_kill(
    broker: &mut Broker,
    topic: &str,
    next: &[u64],
    run_ms: std::ops::RangeInclusive<u64>,
) -> Result<(AckedByPartition, Vec<u64>)> {
    let settings = [("linger.ms", "2"), ("message.timeout.ms", "30000")];
    let producers: Vec<Arc<FutureProducer>> = (0..2)
        .map(|_| producer(&broker.bootstrap(), &settings).map(Arc::new))
        .collect::<Result<_>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..PARTITIONS)
        .map(|p| {
            tokio::spawn(produce_to_until_stopped(
                Arc::clone(&producers[p as usize % 2]),
                topic.to_string(),
                p,
                next[p as usize],
                Arc::clone(&stop),
            ))
        })
        .collect();
    let run_for = Duration::from_millis(rand::rng().random_range(run_ms));
    tokio::time::sleep(run_for).await;
    broker.sigkill()?;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut after = Vec::new();
    let mut pendings = Vec::new();
    for task in tasks {
        pendings.push(task.await.context("a producer task panicked")??);
    }
    for p in &producers {
        p.purge(PurgeConfig::default().queue().inflight());
    }
    for (p, (pending, n)) in pendings.into_iter().enumerate() {
        let (ok, _) = acknowledged_on(pending, p as i32).await?;
        acked.push(ok);
        after.push(n);
    }
    Ok((acked, after))
}

#[test]
fn default_acks_all_loses_nothing_acknowledged_on_power_loss() {
    let trials = power_loss_trials();
    run(Duration::from_secs(90 + 40 * trials as u64), async move {
        // Default settings: acks=all is durable (strata.acks.all.fsync=true).
        let (_backing, lazy, mut broker) = broker_on_lazyfs(&[])?;
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        let topic = "durable";
        // Small segments (Kafka 4's minimum), so longer trials also cross rolls.
        create_topic(
            &bootstrap,
            topic,
            PARTITIONS,
            &[("segment.bytes", "1048576")],
        )
        .await?;
        let mut acked: AckedByPartition = vec![Vec::new(); PARTITIONS as usize];
        let mut next: Vec<u64> = vec![0; PARTITIONS as usize];
        for trial in 0..trials {
            let (now_acked, n) = produce_then_kill(&mut broker, topic, &next, 200..=1500).await?;
            next = n;
            let dropped = lazy.crash();
            println!(
                "trial {trial}: acked {:?} records per partition; power loss dropped {} \
                 unsynced bytes in {} files",
                now_acked.iter().map(Vec::len).collect::<Vec<_>>(),
                dropped.bytes,
                dropped.files
            );
            for (all, new) in acked.iter_mut().zip(now_acked) {
                all.extend(new);
            }
            broker.restart()?;
            let logs = read_logs(&bootstrap, topic, PARTITIONS)
                .await
                .with_context(|| format!("after power loss {}", trial + 1))?;
            for (p, (log, acked)) in logs.iter().zip(&acked).enumerate() {
                check_acked(log, acked)
                    .with_context(|| format!("partition {p} after power loss {}", trial + 1))?;
            }
        }
        let total: usize = acked.iter().map(Vec::len).sum();
        ensure!(
            acked.iter().all(|a| !a.is_empty()),
            "some partition had no acknowledged record in {trials} trials: {:?}",
            acked.iter().map(Vec::len).collect::<Vec<_>>()
        );
        println!("durable acks=all: {trials} power losses, {total} acked records, none lost");
        broker.sigkill()?;
        drop(lazy);
        Ok(())
    });
}

/// Sends records `range` to partition 0 and waits for every acknowledgement; returns offsets.
async fn send_all(
    producer: &FutureProducer,
    topic: &str,
    range: std::ops::Range<u64>,
) -> Result<Vec<i64>> {
    let mut futures = Vec::new();
    for n in range {
        let record = Outgoing {
            partition: Some(0),
            value: value_of(n),
            ..Outgoing::default()
        };
        futures.push((n, enqueue(producer, topic, &record).await?));
    }
    let (acked, failed) = acknowledged_on(futures, 0).await?;
    ensure!(failed == 0, "{failed} records were not acknowledged");
    Ok(acked.into_iter().map(|(_, o)| o).collect())
}

#[test]
fn acks_1_loses_exactly_what_no_fsync_covered() {
    run(Duration::from_secs(120), async move {
        let (_backing, lazy, mut broker) = broker_on_lazyfs(&[])?;
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        let topic = "window";
        create_topic(&bootstrap, topic, 1, &[]).await?;

        // 1. acks=1 only: acknowledged from the page cache; a power loss takes all of it.
        let acks1 = producer(&bootstrap, &[("acks", "1"), ("linger.ms", "1")])?;
        let offsets = send_all(&acks1, topic, 0..500).await?;
        ensure!(offsets == (0..500).collect::<Vec<i64>>(), "acks=1 offsets");
        drop(acks1);
        broker.sigkill()?;
        let dropped = lazy.crash();
        broker.restart()?;
        let log = read_log(&bootstrap, topic).await?;
        println!(
            "acks=1 only: 500 acknowledged, {} survive the power loss ({} bytes dropped)",
            log.len(),
            dropped.bytes
        );
        ensure!(
            log.is_empty(),
            "no fsync covered the acks=1 records, yet {} survived",
            log.len()
        );

        // 2. acks=1, then one acks=all record (its fsync covers everything before it), then
        //    more acks=1: exactly the records up to the acks=all one survive.
        let acks1 = producer(&bootstrap, &[("acks", "1"), ("linger.ms", "1")])?;
        send_all(&acks1, topic, 1000..1500).await?;
        let acks_all = producer(&bootstrap, &[("acks", "all")])?;
        let at = send_all(&acks_all, topic, 1500..1501).await?;
        ensure!(at == vec![500], "the acks=all record went to {at:?}");
        send_all(&acks1, topic, 1501..1800).await?;
        drop((acks1, acks_all));
        broker.sigkill()?;
        lazy.crash();
        broker.restart()?;
        let log = read_log(&bootstrap, topic).await?;
        let expected: Vec<u64> = (1000..1501).collect();
        ensure!(
            log == expected,
            "after the power loss the log holds {} records ({:?}..{:?}); expected exactly the \
             501 records up to the acks=all one",
            log.len(),
            log.first(),
            log.last()
        );
        println!("acks=1 window: 299 acks=1 records after the last fsync lost, 501 kept");
        broker.sigkill()?;
        drop(lazy);
        Ok(())
    });
}

/// The partition's high watermark as ListOffsets (latest) reports it.
fn high_watermark(bootstrap: &str, topic: &str) -> Result<i64> {
    let c = consumer(bootstrap, &[])?;
    let (_, high) = c
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .context("ListOffsets")?;
    Ok(high)
}

#[test]
fn a_slow_disk_delays_acks_all_and_nothing_is_acknowledged_early() {
    run(Duration::from_secs(120), async move {
        let (_backing, lazy, mut broker) = broker_on_lazyfs(&[])?;
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        let topic = "slow";
        create_topic(&bootstrap, topic, 1, &[]).await?;
        let delay = Duration::from_millis(1000);
        lazy.set_fsync_delay(delay);

        let acks_all = producer(&bootstrap, &[("acks", "all"), ("linger.ms", "0")])?;
        let started = Instant::now();
        let record = Outgoing {
            partition: Some(0),
            value: value_of(7),
            ..Outgoing::default()
        };
        let delivery = enqueue(&acks_all, topic, &record).await?;
        // Mid-fsync: written to the log, but neither acknowledged nor visible.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let hw_during = tokio::task::block_in_place(|| high_watermark(&bootstrap, topic))?;
        let fsyncs_before = lazy.fsync_count();
        let delivered = delivery
            .await
            .context("delivery future dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("acks=all produce failed: {e}"))?;
        let waited = started.elapsed();
        let (partition, offset) = (delivered.partition, delivered.offset);
        ensure!(
            (partition, offset) == (0, 0),
            "acked at {partition}/{offset}"
        );
        ensure!(
            hw_during == 0,
            "the record was visible (high watermark {hw_during}) before its fsync"
        );
        ensure!(
            waited >= delay,
            "acks=all was acknowledged after {waited:?}, before the {delay:?} fsync finished"
        );
        ensure!(
            lazy.fsync_count() > fsyncs_before,
            "the acknowledgement came before any fsync completed"
        );
        let hw_after = tokio::task::block_in_place(|| high_watermark(&bootstrap, topic))?;
        ensure!(
            hw_after == 1,
            "high watermark {hw_after} after the ack, expected 1"
        );

        // acks=1 does not wait for the disk, and is readable before any fsync covers it.
        let acks1 = producer(&bootstrap, &[("acks", "1"), ("linger.ms", "0")])?;
        // Let the fsyncs still in flight from the acks=all record (indexes, directory) finish
        // first, so that any fsync counted below was started for the acks=1 record.
        for _ in 0..5 {
            let settled = lazy.fsync_count();
            tokio::time::sleep(delay + Duration::from_millis(300)).await;
            if lazy.fsync_count() == settled {
                break;
            }
        }
        let fsyncs_before_acks1 = lazy.fsync_count();
        let started = Instant::now();
        let record = Outgoing {
            partition: Some(0),
            value: value_of(8),
            ..Outgoing::default()
        };
        let offset = enqueue(&acks1, topic, &record)
            .await?
            .await
            .context("delivery future dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("acks=1 produce failed: {e}"))?
            .offset;
        let acks1_took = started.elapsed();
        ensure!(offset == 1, "acks=1 record at {offset}");
        let hw_acks1 = tokio::task::block_in_place(|| high_watermark(&bootstrap, topic))?;
        ensure!(
            hw_acks1 == 2 && lazy.fsync_count() == fsyncs_before_acks1,
            "acks=1: high watermark {hw_acks1} (expected 2, readable at once) with {} fsyncs \
             since it was sent (expected none)",
            lazy.fsync_count() - fsyncs_before_acks1
        );
        ensure!(
            acks1_took < delay,
            "acks=1 took {acks1_took:?}: it waited for the {delay:?} fsync"
        );
        println!(
            "slow disk ({delay:?} per fsync): acks=all acknowledged after {waited:?}, \
             high watermark 0 while it waited; acks=1 acknowledged after {acks1_took:?}"
        );

        // The acknowledged acks=all record survives a power loss right after its ack.
        drop((acks_all, acks1));
        lazy.set_fsync_delay(Duration::ZERO);
        broker.sigkill()?;
        lazy.crash();
        broker.restart()?;
        let log = read_log(&bootstrap, topic).await?;
        ensure!(
            log.first() == Some(&7),
            "the acknowledged acks=all record is gone after a power loss: {log:?}"
        );
        broker.sigkill()?;
        drop(lazy);
        Ok(())
    });
}
