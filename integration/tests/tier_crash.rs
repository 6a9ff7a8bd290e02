//! kill -9 during uploads (`file://` bucket, so its objects can be listed directly).
//!
//! The broker uploads at most 2 MB/s (`remote.log.manager.copy.max.bytes.per.second`), so a
//! 1 MiB segment takes about half a second and a burst of produce leaves a queue of uploads.
//! Three trials: 6000 records (~3 MB per partition) are produced and acknowledged to a tiered
//! 2-partition topic, then, while that burst is being uploaded, the broker is SIGKILLed —
//! trial 0 at a random moment after the burst's first upload, trials 1 and 2 at the moment a
//! `.log` object without a manifest (an upload between its first object and its manifest) is
//! seen in the bucket, if that is seen within 5 s — and restarted on the same data directory.
//!
//! After the last restart, once every sealed segment is uploaded and deleted locally:
//! - the bucket holds, per partition, contiguous segments from offset 0, each base offset once,
//!   every upload complete (`.log`, `.index`, `.timeindex`, manifest; `.log` of the manifest's
//!   size) and no object of an upload that lacks a manifest;
//! - `strata tier status` shows REMOTE-SEGMENTS equal to the manifests, the remote range
//!   `[0, active base)`, log start 0 and log end = the acknowledged count;
//! - a consumer from offset 0 reads every acknowledged record exactly once at its offset.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use rand::Rng;
use strata_integration::tier::{
    acknowledged_logs, base_env, bucket_state, check_bucket, compare_partition, local_segments,
    now_ms, numbered_records, tier_status, wait_all_uploaded, wait_for,
};
use strata_integration::{create_topic, producer, read_topic, run, send_all, Broker, Outgoing};

const TOPIC: &str = "crashtier";
const PARTITIONS: i32 = 2;
const PER_TRIAL: usize = 6000;
const TRIALS: usize = 3;
const VALUE_LEN: usize = 1000;

#[test]
fn uploads_survive_kill_9() {
    run(Duration::from_secs(150), scenario());
}

async fn scenario() -> Result<()> {
    let env = base_env();
    let mut broker = Broker::start_with_env(
        &[
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
            "--set",
            "remote.log.manager.copy.max.bytes.per.second=2000000",
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    let bucket = broker.data_dir().join("remote");
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
    let ts_base = now_ms() - 3_600_000;

    let mut sent: Vec<Outgoing> = Vec::new();
    let mut acked = Vec::new();
    let mut kills_during_uploads = 0;
    for trial in 0..TRIALS {
        let (manifests_before, _) = bucket_state(&bucket)?;
        let batch = numbered_records(sent.len(), PER_TRIAL, PARTITIONS, VALUE_LEN, ts_base);
        {
            let producer = producer(&bootstrap, &[("batch.size", "131072")])?;
            acked.extend(send_all(&producer, TOPIC, &batch).await?);
        }
        sent.extend(batch);

        // Uploads of this burst are running once one of its segments is in the bucket.
        wait_for("an upload of the burst", Duration::from_secs(20), || {
            let (m, _) = bucket_state(&bucket)?;
            Ok(if m > manifests_before {
                Ok(())
            } else {
                Err(format!(
                    "{m} manifests, {manifests_before} before the burst"
                ))
            })
        })
        .await?;
        let how = if trial == 0 {
            let delay = rand::rng().random_range(0..800u64);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            format!("{delay} ms after the first upload of the burst")
        } else {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut caught = false;
            while Instant::now() < deadline {
                if bucket_state(&bucket)?.1 > 0 {
                    caught = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if caught {
                "with an upload's .log object in the bucket and no manifest yet".to_string()
            } else {
                "after 5 s without seeing an upload in flight".to_string()
            }
        };
        broker.sigkill()?;
        let (manifests, incomplete) = bucket_state(&bucket)?;
        let waiting: Vec<usize> = (0..PARTITIONS)
            .map(|p| local_segments(broker.data_dir(), TOPIC, p).map(|s| s.len().saturating_sub(1)))
            .collect::<Result<_>>()?;
        println!(
            "trial {trial}: killed {how}; bucket: {manifests} manifests, {incomplete} .log \
             objects without a manifest; local sealed segments per partition: {waiting:?}"
        );
        if waiting.iter().sum::<usize>() > 0 {
            kills_during_uploads += 1;
        }
        broker.restart()?;
    }
    ensure!(
        kills_during_uploads > 0,
        "every kill came after the burst's uploads had finished: nothing was tested"
    );

    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let manifests = check_bucket(&bucket, TOPIC, PARTITIONS)?;
    let rows = tier_status(broker.data_dir(), None, Some(&bootstrap), &env)?;
    ensure!(rows.len() == PARTITIONS as usize, "tier status {rows:?}");
    for (p, row) in rows.iter().enumerate() {
        let mine: Vec<_> = manifests
            .iter()
            .filter(|m| m.partition == p as i32)
            .collect();
        let end = logs[p].len() as i64;
        ensure!(
            row.partition == p as i32
                && row.remote_segments == mine.len()
                && row.remote_bytes == mine.iter().map(|m| m.size).sum::<u64>()
                && row.remote_start == 0
                && mine.first().map(|m| m.base_offset) == Some(0)
                && row.remote_end == actives[p]
                && mine.last().map(|m| m.end_offset) == Some(actives[p])
                && row.log_start == Some(0)
                && row.local_start == Some(actives[p])
                && row.log_end == Some(end),
            "partition {p}: tier status {row:?}; {} manifests in the bucket, local active \
             segment {}, {end} records acknowledged",
            mine.len(),
            actives[p]
        );
    }
    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() == sent.len(),
        "read {} records, {} acknowledged",
        read.len(),
        sent.len()
    );
    for p in 0..PARTITIONS {
        compare_partition("replay after the crashes", p, &read, &logs[p as usize], 0)?;
    }
    Ok(())
}
