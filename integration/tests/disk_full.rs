//! A full disk: the data dir is a small tmpfs (`mount -t tmpfs -o size=8m`). Records are
//! produced (acks=all) until the disk is full. The partition whose write failed goes offline:
//! Metadata lists it with KAFKA_STORAGE_ERROR (56) and nothing more is acknowledged for it,
//! even once space is back, while another partition serves again as soon as there is room.
//! After space is freed (the tmpfs is remounted larger) and the broker restarts, every
//! acknowledged record is read back at its acknowledged offset, once and in order, and the
//! partition takes new records after them.
//!
//! Needs root (mount). If mounting fails the test fails loudly; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use strata_integration::client::enqueue;
use strata_integration::durability::{acknowledged, check_acked, read_log, value_of};
use strata_integration::{consumer, create_topic, producer, run, send_all, Broker, Outgoing};

const TOPIC: &str = "full";
const OTHER: &str = "other";

/// A tmpfs mounted on a directory; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!(
                "mount -t tmpfs -o size={size} on {} failed ({status}): this test needs root",
                dir.display()
            );
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) -> Result<()> {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .context("running mount -o remount")?;
        ensure!(
            status.success(),
            "remounting the tmpfs with size={size} failed: {status}"
        );
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The error code Metadata reports for partition 0 of `topic` (0 = none).
fn partition_error(bootstrap: &str, topic: &str) -> Result<i32> {
    let consumer = consumer(bootstrap, &[])?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("Metadata")?;
    let t = metadata.topics().first().context("no topic in Metadata")?;
    let p = t.partitions().first().context("no partition in Metadata")?;
    Ok(p.error().map_or(0, |e: RDKafkaRespErr| e as i32))
}

#[test]
fn acknowledged_records_survive_a_full_disk() {
    run(Duration::from_secs(180), scenario());
}

async fn scenario() -> Result<()> {
    let mut broker = Broker::prepare(&[], &[])?;
    let tmpfs = Tmpfs::mount(broker.data_dir(), "8m")?;
    broker.restart()?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, &[("segment.bytes", "1048576")]).await?;
    create_topic(&bootstrap, OTHER, 1, &[]).await?;

    // Produce in rounds until deliveries fail (the disk is full).
    let filler = producer(
        &bootstrap,
        &[("message.timeout.ms", "4000"), ("linger.ms", "5")],
    )?;
    let mut acked: Vec<(u64, i64)> = Vec::new();
    let mut next = 0u64;
    let mut failed = 0;
    for _ in 0..100 {
        let mut pending = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            let record = Outgoing {
                partition: Some(0),
                value: value_of(next),
                ..Outgoing::default()
            };
            pending.push((next, enqueue(&filler, TOPIC, &record).await?));
            next += 1;
        }
        let (round, round_failed) = acknowledged(pending).await?;
        acked.extend(round);
        failed = round_failed;
        if failed > 0 {
            break;
        }
    }
    ensure!(failed > 0, "the 8 MiB disk never filled up");
    ensure!(
        !acked.is_empty(),
        "nothing was acknowledged before the disk filled up"
    );
    ensure!(
        partition_error(&bootstrap, TOPIC)? == RDKafkaErrorCode::KafkaStorageError as i32,
        "Metadata does not report the full partition as offline"
    );
    println!(
        "disk full after {} acknowledged records ({} failed in the last round)",
        acked.len(),
        failed
    );
    // The whole log: first use of a group (a consumer's FindCoordinator) on the full disk may
    // add a line per `__consumer_offsets` partition that cannot be created after it.
    let full_log = std::fs::read_to_string(broker.log_path())?;
    let logged = full_log
        .lines()
        .find(|l| l.contains("partition log is offline until restart"))
        .context("the storage error was not logged")?;
    println!("broker log: {logged}");

    // Space comes back: the other partition serves at once, the failed one stays offline.
    tmpfs.resize("64m")?;
    let strict = producer_no_retry(&bootstrap)?;
    let other = send_all(
        &strict,
        OTHER,
        &[Outgoing {
            value: b"after".to_vec(),
            ..Outgoing::default()
        }],
    )
    .await
    .context("the healthy partition should take records once space is back")?;
    ensure!(other.len() == 1);
    let refused = enqueue(
        &strict,
        TOPIC,
        &Outgoing {
            partition: Some(0),
            value: value_of(next),
            ..Outgoing::default()
        },
    )
    .await?
    .await;
    match refused {
        Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError), _))) => {}
        other => {
            bail!("produce to the offline partition: expected KAFKA_STORAGE_ERROR, got {other:?}")
        }
    }
    drop(strict);
    drop(filler);

    // Restart: recovery cuts whatever the failed write left; every acknowledged record is back.
    let status = broker.sigterm_and_wait()?;
    println!("shutdown with an offline partition exited with {status}");
    broker.restart()?;
    ensure!(
        partition_error(&bootstrap, TOPIC)? == 0,
        "still offline after the restart"
    );
    let log = read_log(&bootstrap, TOPIC).await?;
    check_acked(&log, &acked)?;
    println!(
        "{} records in the log after the restart, {} acknowledged",
        log.len(),
        acked.len()
    );

    // And the partition takes new records right after them.
    let fresh = producer(&bootstrap, &[])?;
    let after = send_all(
        &fresh,
        TOPIC,
        &[Outgoing {
            partition: Some(0),
            value: value_of(next + 1),
            ..Outgoing::default()
        }],
    )
    .await?;
    ensure!(
        after[0].offset == log.len() as i64,
        "new record at {}, log had {}",
        after[0].offset,
        log.len()
    );
    broker.sigkill()?;
    drop(tmpfs);
    Ok(())
}

/// A producer that reports the broker's first error instead of retrying.
fn producer_no_retry(bootstrap: &str) -> Result<rdkafka::producer::FutureProducer> {
    producer(
        bootstrap,
        &[("retries", "0"), ("message.timeout.ms", "10000")],
    )
}
