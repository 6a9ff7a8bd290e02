//! Lost broker disk: `strata tier restore` rebuilds a topic on a fresh data directory from the
//! bucket alone (`file://` bucket shared by both brokers).
//!
//! Broker A takes 8000 records (~4 MB per partition) on a tiered 2-partition topic and uploads
//! every sealed segment; its active segments (records at and after the remote end `E[p]`) are
//! never uploaded. A is stopped. On an empty data directory, `strata tier restore --topic T`
//! recreates the topic; broker B starts there with A's object store. Then:
//! - ListOffsets earliest/latest (watermarks) are `(0, E[p])`;
//! - a consumer from offset 0 reads exactly the records of the uploaded segments, offsets
//!   `[0, E[p])`, byte for byte;
//! - new records are acknowledged at `E[p], E[p] + 1, ...` and read back after the restored
//!   history.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::client::OP_TIMEOUT;
use strata_integration::tier::{
    acknowledged_logs, base_env, check_bucket, compare_partition, now_ms, numbered_records,
    wait_all_uploaded,
};
use strata_integration::tools::strata_cli_env;
use strata_integration::{
    consumer, create_topic, producer, read_topic, run, send_all, Broker, Outgoing,
};

const TOPIC: &str = "restored";
const PARTITIONS: i32 = 2;
const RECORDS: usize = 8000;
const MORE: usize = 200;
const VALUE_LEN: usize = 1000;

#[test]
fn topic_restored_from_the_bucket() {
    run(Duration::from_secs(120), scenario());
}

async fn scenario() -> Result<()> {
    let env = base_env();
    let tiering = [
        "--set",
        "remote.log.manager.task.interval.ms=200",
        "--set",
        "log.retention.check.interval.ms=200",
    ];
    let mut a = Broker::start_with_env(&tiering, &env)?;
    let bootstrap_a = a.bootstrap();
    let bucket = a.data_dir().join("remote");
    let store_url = format!("file://{}", bucket.display());
    create_topic(
        &bootstrap_a,
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
    let sent = numbered_records(0, RECORDS, PARTITIONS, VALUE_LEN, ts_base);
    let acked = {
        let producer = producer(&bootstrap_a, &[("batch.size", "131072")])?;
        send_all(&producer, TOPIC, &sent).await?
    };
    let full_logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let remote_end =
        wait_all_uploaded(a.data_dir(), TOPIC, PARTITIONS, Duration::from_secs(60)).await?;
    let status = a.sigterm_and_wait()?;
    ensure!(
        status.code() == Some(0),
        "A's shutdown exited with {status}"
    );
    let manifests = check_bucket(&bucket, TOPIC, PARTITIONS)?;
    for p in 0..PARTITIONS {
        let end = manifests
            .iter()
            .filter(|m| m.partition == p)
            .map(|m| m.end_offset)
            .max();
        ensure!(
            end == Some(remote_end[p as usize]),
            "partition {p}: manifests end at {end:?}, A's active segment is at {}",
            remote_end[p as usize]
        );
        ensure!(
            (remote_end[p as usize] as usize) < full_logs[p as usize].len(),
            "test setup: partition {p} has no records outside the uploaded segments"
        );
    }

    // Restore into B's empty data directory, then start B on it.
    let mut b = Broker::prepare(
        &[&tiering[..], &["--object-store", store_url.as_str()]].concat(),
        &env,
    )?;
    let data_b = b.data_dir().display().to_string();
    let out = strata_cli_env(
        &[
            "tier",
            "restore",
            "--topic",
            TOPIC,
            "--data-dir",
            &data_b,
            "--object-store",
            &store_url,
        ],
        &env,
    )?;
    out.ensure_success("strata tier restore")?;
    let stdout = out.stdout_str();
    for p in 0..PARTITIONS {
        let line = format!(
            "Restored {TOPIC}-{p}: offsets [0, {}) from the bucket.",
            remote_end[p as usize]
        );
        ensure!(
            stdout.lines().any(|l| l == line),
            "restore output {stdout:?} lacks {line:?}"
        );
    }
    b.restart()
        .context("starting B on the restored data directory")?;
    let bootstrap_b = b.bootstrap();

    // The bucket does not record retention: the restored topic keeps everything.
    let described = strata_cli_env(
        &[
            "topic",
            "describe",
            TOPIC,
            "--bootstrap-server",
            &bootstrap_b,
        ],
        &[],
    )?;
    described.ensure_success("strata topic describe")?;
    let first_line = described
        .stdout_str()
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    ensure!(
        first_line
            .ends_with("Configs: remote.storage.enable=true,retention.bytes=-1,retention.ms=-1"),
        "restored topic configs: {first_line:?}"
    );
    // Turning tiering off would strand the remote-only history: refused with INVALID_CONFIG.
    let off = strata_cli_env(
        &[
            "topic",
            "alter",
            TOPIC,
            "--config",
            "remote.storage.enable=false",
            "--bootstrap-server",
            &bootstrap_b,
        ],
        &[],
    )?;
    ensure!(
        !off.status.success()
            && off.stderr.contains("error 40")
            && off.stderr.contains("cannot be turned off"),
        "disabling remote storage must be refused: status {}, stderr {}",
        off.status,
        off.stderr
    );

    let watermarks = {
        let bootstrap = bootstrap_b.clone();
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
            *wm == (0, remote_end[p]),
            "restored partition {p}: watermarks {wm:?}, expected (0, {})",
            remote_end[p]
        );
    }

    // Exactly the uploaded history.
    let restored: Vec<Vec<Outgoing>> = full_logs
        .iter()
        .zip(&remote_end)
        .map(|(log, end)| log[..*end as usize].to_vec())
        .collect();
    let read = read_topic(&bootstrap_b, TOPIC, PARTITIONS).await?;
    let total: usize = restored.iter().map(Vec::len).sum();
    ensure!(
        read.len() == total,
        "B read {} records, the uploaded segments hold {total}",
        read.len()
    );
    for p in 0..PARTITIONS {
        compare_partition("restored history", p, &read, &restored[p as usize], 0)?;
    }

    // Producers continue after the restored history.
    let more = numbered_records(RECORDS, MORE, PARTITIONS, VALUE_LEN, ts_base);
    let more_acked = {
        let producer = producer(&bootstrap_b, &[])?;
        send_all(&producer, TOPIC, &more).await?
    };
    let more_logs = acknowledged_logs(&more, &more_acked, &remote_end)?;
    let read = read_topic(&bootstrap_b, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() == total + MORE,
        "B read {} records after producing {MORE} more, expected {}",
        read.len(),
        total + MORE
    );
    for p in 0..PARTITIONS {
        let mut expected = restored[p as usize].clone();
        expected.extend(more_logs[p as usize].iter().cloned());
        compare_partition("restored history and new records", p, &read, &expected, 0)?;
    }
    drop(b);
    drop(a);
    Ok(())
}
