//! Bucket outage during uploads (S3 on moto). moto keeps objects in memory, so freezing it with
//! SIGSTOP makes the bucket unreachable without losing data: connections are accepted by the
//! kernel and never answered until SIGCONT.
//!
//! 1. 6000 records go to a tiered 2-partition topic (`segment.bytes=1 MiB`,
//!    `local.retention.bytes=0`) and are uploaded; local disk keeps only the active segments.
//! 2. moto is frozen. 10 000 more records are produced: every one is acknowledged at the next
//!    offset. For 3 s (15 tiering ticks and retention checks) the local segment files are
//!    checked every 200 ms: none is deleted (the first local segment stays the one that was
//!    active before the outage, and every segment sealed during it stays). The records produced
//!    during the outage are read back from local disk, exactly.
//! 3. moto is thawed. Uploads resume: every sealed segment is uploaded and deleted locally,
//!    `strata tier status` shows the remote range `[0, active base)` per partition, and a
//!    consumer from offset 0 reads every acknowledged record exactly once, byte for byte.
//!
//! The outage is shorter than the store's per-request timeout (30 s), so the request in flight
//! when moto froze is answered after SIGCONT rather than retried.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use rdkafka::Offset;
use strata_integration::tier::{
    acknowledged_logs, compare_partition, local_segments, now_ms, numbered_records, s3_env,
    tier_status, wait_all_uploaded, Moto,
};
use strata_integration::{create_topic, producer, read_partitions, read_topic, run, send_all};
use strata_integration::{Broker, Outgoing};

const TOPIC: &str = "outage";
const PARTITIONS: i32 = 2;
const BEFORE: usize = 6000;
const DURING: usize = 10_000;
const VALUE_LEN: usize = 1000;
const STORE: &str = "s3://strata-outage/tiered";

#[test]
fn uploads_survive_a_bucket_outage() {
    run(Duration::from_secs(120), scenario());
}

async fn scenario() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket("strata-outage").await?;
    let env = s3_env(&moto.endpoint());
    let broker = Broker::start_with_env(
        &[
            "--object-store",
            STORE,
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        PARTITIONS,
        &[
            ("remote.storage.enable", "true"),
            ("segment.bytes", "1048576"),
            ("local.retention.bytes", "0"),
            ("retention.ms", "-1"),
        ],
    )
    .await?;
    let producer = producer(&bootstrap, &[("batch.size", "131072")])?;
    let ts_base = now_ms() - 3_600_000;

    // 1. Before the outage: uploaded and gone from local disk.
    let mut sent: Vec<Outgoing> = numbered_records(0, BEFORE, PARTITIONS, VALUE_LEN, ts_base);
    let mut acked = send_all(&producer, TOPIC, &sent).await?;
    let before_active = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(30),
    )
    .await?;
    let rows = tier_status(broker.data_dir(), Some(STORE), Some(&bootstrap), &env)?;
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    for (p, row) in rows.iter().enumerate() {
        ensure!(
            rows.len() == PARTITIONS as usize
                && row.remote_start == 0
                && row.remote_end == before_active[p]
                && row.log_start == Some(0)
                && row.local_start == Some(before_active[p])
                && row.log_end == Some(logs[p].len() as i64),
            "before the outage: tier status {rows:?}, local active segments {before_active:?}"
        );
    }
    let segments_before: Vec<usize> = rows.iter().map(|r| r.remote_segments).collect();

    // 2. The outage: produce keeps working, nothing leaves local disk.
    moto.freeze()?;
    let outage_started = Instant::now();
    let during = numbered_records(BEFORE, DURING, PARTITIONS, VALUE_LEN, ts_base);
    let during_acked = send_all(&producer, TOPIC, &during).await?;
    let ends_before: Vec<i64> = logs.iter().map(|l| l.len() as i64).collect();
    let during_logs = acknowledged_logs(&during, &during_acked, &ends_before)?;
    sent.extend(during.iter().cloned());
    acked.extend(during_acked.iter().copied());

    let watch_until = Instant::now() + Duration::from_secs(3);
    let mut local = Vec::new();
    while Instant::now() < watch_until {
        local = (0..PARTITIONS)
            .map(|p| local_segments(broker.data_dir(), TOPIC, p))
            .collect::<Result<Vec<_>>>()?;
        for (p, segs) in local.iter().enumerate() {
            ensure!(
                segs.first() == Some(&before_active[p]),
                "partition {p}: during the outage the local segments are {segs:?}; the first \
                 must stay {} (nothing is uploaded, so nothing may be deleted)",
                before_active[p]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (p, segs) in local.iter().enumerate() {
        // ~5 MB per partition during the outage: at least 4 sealed segments waiting.
        ensure!(
            segs.len() >= 5,
            "partition {p}: only {segs:?} local segments after the outage's produce"
        );
    }
    // Hot reads do not need the bucket.
    let assignment: Vec<(i32, Offset)> = (0..PARTITIONS)
        .map(|p| (p, Offset::Offset(ends_before[p as usize])))
        .collect();
    let read = read_partitions(&bootstrap, TOPIC, &assignment, &[]).await?;
    for p in 0..PARTITIONS {
        compare_partition(
            "hot read during the outage",
            p,
            &read,
            &during_logs[p as usize],
            ends_before[p as usize],
        )?;
    }
    let outage = outage_started.elapsed();
    ensure!(
        local_segments(broker.data_dir(), TOPIC, 0)?.first() == Some(&before_active[0])
            && local_segments(broker.data_dir(), TOPIC, 1)?.first() == Some(&before_active[1]),
        "local segments were deleted during the outage"
    );
    moto.thaw()?;
    println!("bucket outage lasted {outage:?}");

    // 3. Uploads resume and catch up; the whole history reads back exactly once.
    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let rows = tier_status(broker.data_dir(), Some(STORE), Some(&bootstrap), &env)?;
    ensure!(rows.len() == PARTITIONS as usize, "tier status {rows:?}");
    for (p, row) in rows.iter().enumerate() {
        let end = logs[p].len() as i64;
        ensure!(
            row.remote_start == 0
                && row.remote_end == actives[p]
                && row.log_start == Some(0)
                && row.local_start == Some(actives[p])
                && row.log_end == Some(end)
                && row.remote_segments > segments_before[p],
            "after the outage, partition {p}: tier status {row:?}, expected remote [0, {a}), \
             local start {a}, log end {end}, more than {} segments",
            segments_before[p],
            a = actives[p]
        );
    }
    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() == BEFORE + DURING,
        "read {} records after the outage, {} acknowledged",
        read.len(),
        BEFORE + DURING
    );
    for p in 0..PARTITIONS {
        compare_partition("replay after the outage", p, &read, &logs[p as usize], 0)?;
    }
    drop(broker);
    drop(moto);
    Ok(())
}
