//! Tiered replay, against both object-store backends (`file://` and S3 on moto): about 50 MB
//! (50 000 keyed records of ~1 KB with headers, unique values and explicit increasing
//! timestamps) go to a 2-partition topic with `remote.storage.enable=true`,
//! `segment.bytes=1 MiB` and `local.retention.bytes=0`. Once every sealed segment is uploaded
//! and deleted locally (one local segment file per partition: the active one),
//!
//! - `strata tier status` reports, per partition, the remote range `[0, B)` (B = the active
//!   segment's base), log start 0, local start B and log end = the records acknowledged;
//! - ListOffsets earliest is 0 (the low watermark), latest the record count;
//! - a consumer assigned at offset 0 reads every record, byte for byte (key, value, headers,
//!   timestamp) at its acknowledged offset — everything below B can only come from the bucket;
//! - `offsets_for_times` with a timestamp inside the cold range returns exactly the first
//!   offset whose timestamp is at least it, and consuming from there yields exactly the rest.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use strata_integration::client::OP_TIMEOUT;
use strata_integration::tier::{
    acknowledged_logs, base_env, check_bucket, compare_partition, now_ms, numbered_records, s3_env,
    tier_status, wait_all_uploaded, Moto,
};
use strata_integration::{
    consumer, create_topic, producer, read_partitions, read_topic, run, send_all, Broker,
};

const TOPIC: &str = "replay";
const PARTITIONS: i32 = 2;
const RECORDS: usize = 50_000;
const VALUE_LEN: usize = 1000;

#[derive(Clone, Copy, Debug)]
enum Backend {
    File,
    S3,
}

#[test]
fn tiered_replay_file_store() {
    run(Duration::from_secs(150), scenario(Backend::File));
}

#[test]
fn tiered_replay_s3_store() {
    run(Duration::from_secs(150), scenario(Backend::S3));
}

async fn scenario(backend: Backend) -> Result<()> {
    let moto = match backend {
        Backend::File => None,
        Backend::S3 => {
            let moto = Moto::start().await?;
            moto.create_bucket("strata-replay").await?;
            Some(moto)
        }
    };
    let (store_url, env) = match &moto {
        None => (None, base_env()),
        Some(m) => (
            Some("s3://strata-replay/archive".to_string()),
            s3_env(&m.endpoint()),
        ),
    };
    let mut args = vec![
        "--set",
        "remote.log.manager.task.interval.ms=200",
        "--set",
        "log.retention.check.interval.ms=200",
    ];
    if let Some(url) = &store_url {
        args.extend(["--object-store", url.as_str()]);
    }
    let broker = Broker::start_with_env(&args, &env)?;
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

    // Timestamps an hour back, one ms apart, increasing with the record number.
    let ts_base = now_ms() - 3_600_000;
    let sent = numbered_records(0, RECORDS, PARTITIONS, VALUE_LEN, ts_base);
    let acked = {
        let producer = producer(&bootstrap, &[("batch.size", "131072")])?;
        send_all(&producer, TOPIC, &sent).await?
    };
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;

    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    let rows = tier_status(
        broker.data_dir(),
        store_url.as_deref(),
        Some(&bootstrap),
        &env,
    )?;
    ensure!(
        rows.len() == PARTITIONS as usize,
        "tier status rows: {rows:?}"
    );
    for (p, row) in rows.iter().enumerate() {
        let end = logs[p].len() as i64;
        let active = actives[p];
        ensure!(
            row.topic == TOPIC
                && row.partition == p as i32
                && row.remote_start == 0
                && row.remote_end == active
                && row.log_start == Some(0)
                && row.local_start == Some(active)
                && row.log_end == Some(end),
            "partition {p}: tier status {row:?}, expected remote [0, {active}), log start 0, \
             local start {active}, log end {end}"
        );
        // About 1000 records fit in a 1 MiB segment: all but the active one are cold.
        ensure!(
            row.remote_segments >= 20 && end - active < 1100,
            "partition {p}: {} remote segments, {} records after the cold range",
            row.remote_segments,
            end - active
        );
    }

    if store_url.is_none() {
        // The file:// bucket: complete, contiguous uploads, as many as tier status counts.
        let manifests = check_bucket(&broker.data_dir().join("remote"), TOPIC, PARTITIONS)?;
        for (p, row) in rows.iter().enumerate() {
            let mine = manifests.iter().filter(|m| m.partition == p as i32).count();
            ensure!(
                row.remote_segments == mine,
                "partition {p}: tier status counts {} segments, the bucket holds {mine}",
                row.remote_segments
            );
        }
    }

    // ListOffsets earliest (the low watermark) is the log start across tiers.
    let watermarks = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<(i64, i64)>> {
            let c = consumer(&bootstrap, &[])?;
            (0..PARTITIONS)
                .map(|p| {
                    c.fetch_watermarks(TOPIC, p, OP_TIMEOUT)
                        .with_context(|| format!("watermarks of {TOPIC}-{p}"))
                })
                .collect()
        })
        .await??
    };
    for (p, wm) in watermarks.iter().enumerate() {
        ensure!(
            *wm == (0, logs[p].len() as i64),
            "partition {p}: watermarks {wm:?}, expected (0, {})",
            logs[p].len()
        );
    }

    // The whole history from offset 0, cold then hot.
    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() == RECORDS,
        "full replay read {} records, {RECORDS} acknowledged",
        read.len()
    );
    for p in 0..PARTITIONS {
        compare_partition("full replay", p, &read, &logs[p as usize], 0)?;
    }

    // A timestamp a third of the way in: inside the cold range of both partitions.
    let target_ts = ts_base + (RECORDS / 3) as i64 + 1;
    let expected: Vec<i64> = logs
        .iter()
        .map(|log| {
            log.iter()
                .position(|r| r.timestamp.is_some_and(|t| t >= target_ts))
                .map_or(-1, |i| i as i64)
        })
        .collect();
    for (p, off) in expected.iter().enumerate() {
        ensure!(
            *off > 0 && *off < actives[p],
            "test setup: offset {off} for the target timestamp is not cold in partition {p}"
        );
    }
    let found = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<Offset>> {
            let c = consumer(&bootstrap, &[])?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..PARTITIONS {
                tpl.add_partition_offset(TOPIC, p, Offset::Offset(target_ts))?;
            }
            let answer = c
                .offsets_for_times(tpl, OP_TIMEOUT)
                .context("offsets_for_times")?;
            (0..PARTITIONS)
                .map(|p| {
                    let e = answer
                        .find_partition(TOPIC, p)
                        .with_context(|| format!("no answer for partition {p}"))?;
                    e.error().with_context(|| format!("partition {p}"))?;
                    Ok(e.offset())
                })
                .collect()
        })
        .await??
    };
    for (p, off) in found.iter().enumerate() {
        ensure!(
            *off == Offset::Offset(expected[p]),
            "partition {p}: offsets_for_times({target_ts}) = {off:?}, expected {}",
            expected[p]
        );
    }
    let assignment: Vec<(i32, Offset)> = (0..PARTITIONS)
        .map(|p| (p, Offset::Offset(expected[p as usize])))
        .collect();
    let read = read_partitions(&bootstrap, TOPIC, &assignment, &[]).await?;
    for p in 0..PARTITIONS {
        let from = expected[p as usize];
        compare_partition(
            "replay from the timestamp",
            p,
            &read,
            &logs[p as usize][from as usize..],
            from,
        )?;
    }
    drop(broker);
    drop(moto);
    Ok(())
}
