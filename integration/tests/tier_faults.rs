//! Tiered storage with the bucket down (S3 on moto, frozen with SIGSTOP: connections are
//! accepted by the kernel and never answered, the worst kind of outage).
//!
//! (a) `starts_and_serves_hot_data_with_the_bucket_down`: a tiered 2-partition topic is uploaded
//!     (local disk keeps only the active segments), the broker is stopped, its catalog deleted
//!     (so a start must reconcile with the bucket) and moto frozen. The broker starts and
//!     accepts connections within 15 s (it used to wait on the bucket for minutes), takes 2400
//!     records at the next offsets, and serves them to a consumer from local disk. One raw Fetch
//!     asking partition 0 at offset 0 (cold) and partition 1 at its local start (hot) answers
//!     in under 5 s: partition 0 with the retriable KAFKA_STORAGE_ERROR (56) and no records,
//!     partition 1 with its records. moto is thawed: reconciliation finishes in the background,
//!     the cold range reads back, a consumer from offset 0 reads every acknowledged record
//!     exactly, and the segments sealed during the outage are uploaded.
//! (b) `a_cold_read_in_an_outage_answers_a_retriable_error_in_time`: on a running broker with
//!     `remote.fetch.max.wait.ms=1000`, moto is frozen; a raw Fetch of the cold partition 0 and
//!     the hot partition 1 answers within 5 s: 56 for partition 0, records for partition 1. A
//!     librdkafka consumer from offset 0 started during the outage (it retries 56 on its own)
//!     reads every record exactly once moto is thawed.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rdkafka::Offset;
use strata_integration::tier::{
    acknowledged_logs, compare_partition, local_segments, now_ms, numbered_records, raw_fetch,
    s3_env, wait_all_uploaded, FetchedPartition, Moto,
};
use strata_integration::{
    create_topic, producer, read_partitions, read_topic, run, send_all, Broker, Outgoing,
};

const TOPIC: &str = "faults";
const PARTITIONS: i32 = 2;
const VALUE_LEN: usize = 1000;
const KAFKA_STORAGE_ERROR: i16 = 56;

async fn tiered_topic(bootstrap: &str) -> Result<()> {
    create_topic(
        bootstrap,
        TOPIC,
        PARTITIONS,
        &[
            ("remote.storage.enable", "true"),
            ("segment.bytes", "1048576"),
            ("local.retention.bytes", "0"),
            ("retention.ms", "-1"),
        ],
    )
    .await
}

fn broker_args<'a>(store: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--object-store",
        store,
        "--set",
        "remote.log.manager.task.interval.ms=200",
        "--set",
        "log.retention.check.interval.ms=200",
    ];
    args.extend_from_slice(extra);
    args
}

/// Checks that a consumer from offset 0 reads exactly `logs`.
async fn verify_all(bootstrap: &str, logs: &[Vec<Outgoing>], when: &str) -> Result<()> {
    let read = read_topic(bootstrap, TOPIC, PARTITIONS).await?;
    for (p, log) in logs.iter().enumerate() {
        compare_partition(when, p as i32, &read, log, 0)?;
    }
    Ok(())
}

/// The cold partition 0 answers 56 without records; the hot partition 1 answers its records
/// from `hot_start`.
fn check_outage_fetch(got: &[FetchedPartition], hot_start: i64, hot_end: i64) -> Result<()> {
    ensure!(got.len() == 2, "fetch answered {got:?}");
    let (cold, hot) = (&got[0], &got[1]);
    ensure!(
        cold.partition == 0 && cold.error_code == KAFKA_STORAGE_ERROR && cold.records_len == 0,
        "cold partition during the outage: {cold:?}, expected error 56 and no records"
    );
    ensure!(
        hot.partition == 1
            && hot.error_code == 0
            && hot.offsets.map(|o| o.0) == Some(hot_start)
            && hot.high_watermark == hot_end,
        "hot partition during the outage: {hot:?}, expected records from {hot_start}, high \
         watermark {hot_end}"
    );
    Ok(())
}

#[test]
fn starts_and_serves_hot_data_with_the_bucket_down() {
    run(Duration::from_secs(150), starts_with_bucket_down());
}

async fn starts_with_bucket_down() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket("strata-faults").await?;
    let env = s3_env(&moto.endpoint());
    let store = "s3://strata-faults/a";
    let mut broker = Broker::start_with_env(&broker_args(store, &[]), &env)?;
    let bootstrap = broker.bootstrap();
    tiered_topic(&bootstrap).await?;
    let ts_base = now_ms() - 3_600_000;
    let mut sent = numbered_records(0, 6000, PARTITIONS, VALUE_LEN, ts_base);
    let mut acked = send_all(&producer(&bootstrap, &[])?, TOPIC, &sent).await?;
    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(30),
    )
    .await?;

    // Stop, lose the catalog, freeze the bucket, start again.
    let status = broker.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "shutdown exited with {status}");
    std::fs::remove_dir_all(broker.data_dir().join("__tier").join("catalog"))
        .context("deleting the catalog")?;
    moto.freeze()?;
    let started = Instant::now();
    broker.restart()?;
    let startup = started.elapsed();
    ensure!(
        startup < Duration::from_secs(15),
        "the broker took {startup:?} to accept connections with the bucket down"
    );
    eprintln!("startup with the bucket frozen: {startup:?}");

    // Hot produce and fetch work.
    let logs_before = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let ends: Vec<i64> = logs_before.iter().map(|l| l.len() as i64).collect();
    let during = numbered_records(6000, 2400, PARTITIONS, VALUE_LEN, ts_base);
    let during_acked = tokio::time::timeout(
        Duration::from_secs(20),
        send_all(&producer(&bootstrap, &[])?, TOPIC, &during),
    )
    .await
    .context("producing with the bucket down did not finish within 20 s")??;
    acknowledged_logs(&during, &during_acked, &ends)?;
    sent.extend(during);
    acked.extend(during_acked);
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let hot: Vec<(i32, Offset)> = (0..PARTITIONS)
        .map(|p| (p, Offset::Offset(actives[p as usize])))
        .collect();
    let read = tokio::time::timeout(
        Duration::from_secs(20),
        read_partitions(&bootstrap, TOPIC, &hot, &[]),
    )
    .await
    .context("reading hot data with the bucket down did not finish within 20 s")??;
    for p in 0..PARTITIONS as usize {
        let from = actives[p] as usize;
        compare_partition(
            "hot data with the bucket down",
            p as i32,
            &read,
            &logs[p][from..],
            actives[p],
        )?;
    }

    // A cold read answers a retriable error at once; the hot partition in the same fetch is
    // served.
    let asked = Instant::now();
    let got = raw_fetch(broker.addr(), TOPIC, &[(0, 0), (1, actives[1])], 0, 0).await?;
    let answered = asked.elapsed();
    check_outage_fetch(&got, actives[1], logs[1].len() as i64)?;
    ensure!(
        answered < Duration::from_secs(5),
        "the fetch took {answered:?}"
    );
    eprintln!("mixed cold/hot fetch before reconciliation answered in {answered:?}");
    let sealed_during: Vec<Vec<i64>> = (0..PARTITIONS)
        .map(|p| local_segments(broker.data_dir(), TOPIC, p))
        .collect::<Result<_>>()?;
    for (p, segs) in sealed_during.iter().enumerate() {
        ensure!(
            segs.len() >= 2 && segs[0] == actives[p],
            "partition {p}: local segments {segs:?}; the outage must keep every segment since {}",
            actives[p]
        );
    }

    // The bucket returns: reconciliation finishes, cold reads and uploads resume.
    moto.thaw()?;
    let thawed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = raw_fetch(broker.addr(), TOPIC, &[(0, 0)], 0, 0).await?;
        if matches!(got.first(), Some(p) if p.error_code == 0 && p.offsets.map(|o| o.0) == Some(0))
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the cold range is not readable 60 s after the bucket returned: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "cold reads served {:?} after the bucket returned",
        thawed.elapsed()
    );
    verify_all(&bootstrap, &logs, "after the bucket returned").await?;
    let actives_after = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    for p in 0..PARTITIONS as usize {
        ensure!(
            actives_after[p] > actives[p],
            "partition {p}: the segments sealed during the outage were not uploaded (active \
             segment {} before, {} after)",
            actives[p],
            actives_after[p]
        );
    }
    let log = std::fs::read_to_string(broker.log_path())?;
    ensure!(
        log.contains("tiered storage reconciled with the bucket"),
        "the broker log does not report the reconciliation"
    );
    Ok(())
}

#[test]
fn a_cold_read_in_an_outage_answers_a_retriable_error_in_time() {
    run(Duration::from_secs(120), cold_read_in_outage());
}

async fn cold_read_in_outage() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket("strata-faults").await?;
    let env = s3_env(&moto.endpoint());
    let store = "s3://strata-faults/b";
    let broker = Broker::start_with_env(
        &broker_args(store, &["--set", "remote.fetch.max.wait.ms=1000"]),
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    tiered_topic(&bootstrap).await?;
    let ts_base = now_ms() - 3_600_000;
    let sent = numbered_records(0, 6000, PARTITIONS, VALUE_LEN, ts_base);
    let acked = send_all(&producer(&bootstrap, &[])?, TOPIC, &sent).await?;
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(30),
    )
    .await?;

    moto.freeze()?;
    let asked = Instant::now();
    let got = raw_fetch(broker.addr(), TOPIC, &[(0, 0), (1, actives[1])], 0, 0).await?;
    let answered = asked.elapsed();
    check_outage_fetch(&got, actives[1], logs[1].len() as i64)?;
    ensure!(
        answered >= Duration::from_millis(1000) && answered < Duration::from_secs(5),
        "the fetch answered after {answered:?}; it should wait remote.fetch.max.wait.ms (1 s) \
         for the bucket, and not much longer"
    );
    eprintln!("mixed cold/hot fetch with the bucket frozen answered in {answered:?}");

    // A real consumer started during the outage retries on its own and gets everything once
    // the bucket is back.
    let reader = {
        let bootstrap = bootstrap.clone();
        tokio::spawn(async move { read_topic(&bootstrap, TOPIC, PARTITIONS).await })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(
        !reader.is_finished(),
        "the consumer finished during the outage"
    );
    moto.thaw()?;
    let read = reader.await.context("reader task")??;
    for (p, log) in logs.iter().enumerate() {
        compare_partition("consumer across the outage", p as i32, &read, log, 0)?;
    }
    Ok(())
}
