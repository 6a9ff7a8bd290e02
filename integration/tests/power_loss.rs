//! Power loss: the data dir sits on the lazy FUSE filesystem (`integration/lazyfs`), which keeps
//! every write that was not fsynced in memory and drops it on a simulated crash, as LazyFS does.
//! Each trial SIGKILLs the broker, drops the unsynced writes, and starts the broker again on
//! what a machine would have found on its disk after losing power.
//!
//! - `flush.messages=1` (fsync before acknowledging), acks=all: every acknowledged record is
//!   present, at its acknowledged offset, once and in order, over `STRATA_POWER_LOSS_TRIALS`
//!   trials (default 4).
//! - Kafka's policy (`strata.acks.all.fsync=false` and the default flush settings: no fsync on
//!   append): what can be lost is exactly the
//!   acknowledged records written after the last fsync point of the partition, which is the
//!   later of (a) a segment roll's background flush (a roll hands the sealed segment to the
//!   group-commit flusher at once, as Kafka's roll schedules its flush; the test trusts the
//!   roll before the last one, whose flush has surely finished), (b) the last clean shutdown,
//!   (c) the end of the last crash recovery (which fsyncs what it kept). Everything before that
//!   point, i.e. everything fsynced, survives, and the log stays contiguous and duplicate-free.
//!   (The test accepts a log that ends at or after the fsync point, never before.) Strata's
//!   default (durable acks=all) is tested in `durable_acks.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rand::Rng;
use rdkafka::producer::{Producer, PurgeConfig};
use strata_integration::durability::{
    acknowledged, broker_on_lazyfs, check_acked, power_loss_trials, produce_until_stopped, read_log,
};
use strata_integration::{create_topic, producer, run, Broker};

const TOPIC: &str = "power";

/// `(record number, acknowledged offset)` pairs.
type Acked = Vec<(u64, i64)>;

/// Produces for a random time in `run_ms`, SIGKILLs the broker, and returns the acknowledged
/// `(record, offset)` pairs and the next record number. Nothing is retried into a later broker.
async fn produce_then_kill(
    broker: &mut Broker,
    first: u64,
    run_ms: std::ops::RangeInclusive<u64>,
) -> Result<(Vec<(u64, i64)>, u64)> {
    let settings = [("linger.ms", "2"), ("message.timeout.ms", "30000")];
    let producer = Arc::new(producer(&broker.bootstrap(), &settings)?);
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(produce_until_stopped(
        Arc::clone(&producer),
        TOPIC.to_string(),
        first,
        Arc::clone(&stop),
    ));
    let run_for = Duration::from_millis(rand::rng().random_range(run_ms));
    tokio::time::sleep(run_for).await;
    broker.sigkill()?;
    stop.store(true, Ordering::Relaxed);
    let (pending, next) = task.await.context("the producer task panicked")??;
    producer.purge(PurgeConfig::default().queue().inflight());
    let (acked, _) = acknowledged(pending).await?;
    Ok((acked, next))
}

#[test]
fn fsync_per_message_loses_nothing_acknowledged() {
    let trials = power_loss_trials();
    run(Duration::from_secs(60 + 30 * trials as u64), async move {
        let (_backing, lazy, mut broker) =
            broker_on_lazyfs(&["--set", "log.flush.interval.messages=1"])?;
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        // The smallest segments Kafka 4 allows (1 MiB), so longer runs also cross rolls.
        create_topic(&bootstrap, TOPIC, 1, &[("segment.bytes", "1048576")]).await?;
        let mut acked: Vec<(u64, i64)> = Vec::new();
        let mut next = 0;
        for trial in 0..trials {
            let (now_acked, n) = produce_then_kill(&mut broker, next, 200..=1200).await?;
            next = n;
            let dropped = lazy.crash();
            println!(
                "trial {trial}: acked {} records; power loss dropped {} unsynced bytes in {} files",
                now_acked.len(),
                dropped.bytes,
                dropped.files
            );
            acked.extend(now_acked);
            broker.restart()?;
            let log = read_log(&bootstrap, TOPIC)
                .await
                .with_context(|| format!("after power loss {}", trial + 1))?;
            check_acked(&log, &acked).with_context(|| format!("after power loss {}", trial + 1))?;
        }
        ensure!(
            !acked.is_empty(),
            "no record was acknowledged in {trials} trials"
        );
        println!(
            "power-loss trials: {trials}, acked records: {}",
            acked.len()
        );
        broker.sigkill()?;
        drop(lazy);
        Ok(())
    });
}

/// Base offsets of the `.log` segments in the backing copy of the partition directory.
fn segment_bases(partition_dir: &Path) -> Result<Vec<i64>> {
    let mut bases: Vec<i64> = std::fs::read_dir(partition_dir)
        .with_context(|| format!("listing {}", partition_dir.display()))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

#[test]
fn kafka_flush_policy_loses_only_what_was_not_fsynced() {
    run(Duration::from_secs(120), async move {
        let (backing, lazy, mut broker) =
            broker_on_lazyfs(&["--set", "strata.acks.all.fsync=false"])?;
        let partition_dir: PathBuf = backing.path().join(format!("{TOPIC}-0"));
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        create_topic(&bootstrap, TOPIC, 1, &[("segment.bytes", "1048576")]).await?;

        // Phase 1: produce, then a clean shutdown (which fsyncs everything).
        let (mut fsynced, next) = produce_then_kill_clean(&mut broker, 0).await?;
        ensure!(
            !fsynced.is_empty(),
            "nothing acknowledged before the clean shutdown"
        );
        let clean_end = fsynced.iter().map(|&(_, o)| o + 1).max().unwrap_or(0);
        broker.restart()?;

        // Phase 2: produce without any fsync but the ones rolls do (long enough to cross a
        // 1 MiB roll or two), then lose power.
        let (after, _) = produce_then_kill(&mut broker, next, 2000..=3000).await?;
        let bases = segment_bases(&partition_dir)?;
        ensure!(!bases.is_empty(), "no segment on disk");
        let dropped = lazy.crash();
        // The last certain fsync point: the end of the segment sealed by the roll before the
        // last one (the last roll's background flush may not have finished at the crash), or
        // the clean shutdown if fewer rolls happened since.
        let synced_by_roll = bases.iter().rev().nth(1).copied().unwrap_or(0);
        let fsync_point = synced_by_roll.max(clean_end);
        broker.restart()?;
        let log = read_log(&bootstrap, TOPIC).await?;

        let (kept, beyond): (Acked, Acked) = after.iter().partition(|&&(_, o)| o < fsync_point);
        fsynced.extend(kept);
        println!(
            "default policy: {} records acked before the clean shutdown, {} after it; \
             segments on disk {bases:?}; power loss dropped {} bytes in {} files; \
             fsync point {fsync_point}; acked records lost: {} (of {} acked past it)",
            clean_end,
            after.len(),
            dropped.bytes,
            dropped.files,
            beyond
                .iter()
                .filter(|&&(_, o)| o >= log.len() as i64)
                .count(),
            beyond.len()
        );
        check_acked(&log, &fsynced).context("a fsynced record was lost")?;
        // Unsynced data never survives unless a fsync covered it; the log ends at a batch
        // boundary at or after the fsync point.
        ensure!(
            log.len() as i64 >= fsync_point,
            "after the power loss the log ends at {}, before the last fsync point {fsync_point}",
            log.len()
        );
        broker.sigkill()?;
        drop(lazy);
        Ok(())
    });
}

/// Produces for a moment, waits for every acknowledgement, then stops the broker cleanly.
async fn produce_then_kill_clean(
    broker: &mut Broker,
    first: u64,
) -> Result<(Vec<(u64, i64)>, u64)> {
    let producer = Arc::new(producer(&broker.bootstrap(), &[("linger.ms", "2")])?);
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(produce_until_stopped(
        Arc::clone(&producer),
        TOPIC.to_string(),
        first,
        Arc::clone(&stop),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (pending, next) = task.await.context("the producer task panicked")??;
    let (acked, failed) = acknowledged(pending).await?;
    ensure!(
        failed == 0,
        "{failed} records failed before the clean shutdown"
    );
    let status = broker.sigterm_and_wait()?;
    ensure!(status.success(), "clean shutdown exited with {status}");
    Ok((acked, next))
}
