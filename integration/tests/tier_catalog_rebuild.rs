//! A lost catalog is rebuilt from the bucket's manifests (`file://` bucket).
//!
//! 8000 records (~4 MB per partition) go to a tiered 2-partition topic and are uploaded; local
//! disk keeps only the active segments. Then:
//!
//! (a) the broker is stopped (SIGTERM, exit 0), `<data>/__tier/catalog` is deleted and the
//!     broker restarted: it rebuilds the catalog by itself. A consumer from offset 0 reads every
//!     record exactly (the cold range can only be found through the catalog); the bucket is
//!     unchanged (the same uploads, nothing re-uploaded); new records continue at the log end.
//! (b) the broker is stopped again, an unfinished upload's `.log` object (no manifest) is
//!     planted in the bucket, and `strata tier rebuild-catalog` is run: it reports exactly as
//!     many segments as there are manifests and keeps the planted object, which is younger
//!     than the default `--orphan-min-age-ms` (one hour: a live uploader may still be writing
//!     it); run again with `--orphan-min-age-ms 0`, it deletes it. After a restart the
//!     whole topic reads back exactly and `strata tier status` matches the manifests.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_integration::tier::{
    acknowledged_logs, base_env, check_bucket, compare_partition, now_ms, numbered_records,
    tier_status, wait_all_uploaded,
};
use strata_integration::tools::strata_cli_env;
use strata_integration::{create_topic, producer, read_topic, run, send_all, Broker, Outgoing};

const TOPIC: &str = "rebuild";
const PARTITIONS: i32 = 2;
const RECORDS: usize = 8000;
const VALUE_LEN: usize = 1000;

#[test]
fn lost_catalog_is_rebuilt_from_manifests() {
    run(Duration::from_secs(120), scenario());
}

async fn verify(bootstrap: &str, logs: &[Vec<Outgoing>], when: &str) -> Result<()> {
    let read = read_topic(bootstrap, TOPIC, PARTITIONS).await?;
    let total: usize = logs.iter().map(Vec::len).sum();
    ensure!(
        read.len() == total,
        "{when}: read {} records, {total} acknowledged",
        read.len()
    );
    for (p, log) in logs.iter().enumerate() {
        compare_partition(when, p as i32, &read, log, 0)?;
    }
    Ok(())
}

/// The text without ANSI colour sequences (`ESC [ ... m`), as the broker log has them.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn scenario() -> Result<()> {
    let env = base_env();
    let mut broker = Broker::start_with_env(
        &[
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    let data = broker.data_dir().to_path_buf();
    let bucket = data.join("remote");
    let catalog = data.join("__tier").join("catalog");
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
    let mut sent = numbered_records(0, RECORDS, PARTITIONS, VALUE_LEN, ts_base);
    let mut acked = {
        let producer = producer(&bootstrap, &[("batch.size", "131072")])?;
        send_all(&producer, TOPIC, &sent).await?
    };
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let actives = wait_all_uploaded(&data, TOPIC, PARTITIONS, Duration::from_secs(60)).await?;
    let manifests = check_bucket(&bucket, TOPIC, PARTITIONS)?;
    for p in 0..PARTITIONS {
        let end = manifests
            .iter()
            .filter(|m| m.partition == p)
            .map(|m| m.end_offset)
            .max();
        ensure!(
            end == Some(actives[p as usize]),
            "partition {p}: manifests end at {end:?}, the local active segment is at {}",
            actives[p as usize]
        );
    }
    verify(&bootstrap, &logs, "before losing the catalog").await?;

    // (a) Catalog deleted: the broker rebuilds it at start.
    let status = broker.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "shutdown exited with {status}");
    ensure!(catalog.exists(), "{} does not exist", catalog.display());
    std::fs::remove_dir_all(&catalog).context("deleting the catalog")?;
    broker.restart()?;
    verify(&bootstrap, &logs, "after the broker rebuilt the catalog").await?;
    let log =
        strip_ansi(&std::fs::read_to_string(broker.log_path()).context("reading the broker log")?);
    ensure!(
        log.lines()
            .any(|l| l.contains("catalog rebuilt from the bucket")
                && l.contains(&format!("segments={}", manifests.len()))),
        "the broker log does not report rebuilding {} segments; its lines about the catalog: \
         {:#?}",
        manifests.len(),
        log.lines()
            .filter(|l| l.contains("catalog"))
            .collect::<Vec<_>>()
    );
    let after = check_bucket(&bucket, TOPIC, PARTITIONS)?;
    ensure!(
        after == manifests,
        "the bucket changed across the rebuild: {} manifests before, {} after",
        manifests.len(),
        after.len()
    );
    // New records continue at the log end.
    let more = numbered_records(RECORDS, 10, PARTITIONS, VALUE_LEN, ts_base);
    {
        let producer = producer(&bootstrap, &[])?;
        acked.extend(send_all(&producer, TOPIC, &more).await?);
    }
    sent.extend(more);
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    verify(&bootstrap, &logs, "after producing to the rebuilt broker").await?;

    // (b) The explicit command, with an unfinished upload's object in the bucket.
    let status = broker.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "shutdown exited with {status}");
    let first = &manifests[0];
    let planted = bucket.join(format!(
        "v1/{}/{}/{:020}-{}.log",
        first.topic_id, first.partition, first.base_offset, "0badc0de0badc0de0badc0de0badc0de"
    ));
    std::fs::write(&planted, b"half an upload").context("planting an orphan object")?;
    let data_arg = data.display().to_string();
    // The planted upload is seconds old: a live uploader may still be writing it, so the
    // default threshold (`strata.tier.orphan.min.age.ms`, one hour) keeps it.
    let out = strata_cli_env(&["tier", "rebuild-catalog", "--data-dir", &data_arg], &env)?;
    out.ensure_success("strata tier rebuild-catalog")?;
    let stdout = out.stdout_str();
    let expected = format!(
        ": {} segments; 0 orphaned objects deleted, 1 kept (unfinished uploads younger than \
         3600000 ms), 0 unreadable manifests.",
        manifests.len()
    );
    ensure!(
        stdout.lines().count() == 1 && stdout.trim_end().ends_with(&expected),
        "rebuild-catalog printed {stdout:?}, expected a line ending in {expected:?}"
    );
    ensure!(
        planted.exists(),
        "rebuild-catalog deleted the young unfinished upload's object {}",
        planted.display()
    );
    // Once old enough (here: a threshold of 0), it goes.
    let out = strata_cli_env(
        &[
            "tier",
            "rebuild-catalog",
            "--data-dir",
            &data_arg,
            "--orphan-min-age-ms",
            "0",
        ],
        &env,
    )?;
    out.ensure_success("strata tier rebuild-catalog --orphan-min-age-ms 0")?;
    let stdout = out.stdout_str();
    let expected = format!(
        ": {} segments; 1 orphaned objects deleted, 0 kept (unfinished uploads younger than 0 \
         ms), 0 unreadable manifests.",
        manifests.len()
    );
    ensure!(
        stdout.lines().count() == 1 && stdout.trim_end().ends_with(&expected),
        "rebuild-catalog printed {stdout:?}, expected a line ending in {expected:?}"
    );
    ensure!(
        !planted.exists(),
        "rebuild-catalog left the unfinished upload's object {}",
        planted.display()
    );
    let after = check_bucket(&bucket, TOPIC, PARTITIONS)?;
    ensure!(
        after == manifests,
        "the bucket's segments changed across rebuild-catalog"
    );
    broker.restart()?;
    verify(&bootstrap, &logs, "after rebuild-catalog").await?;
    let rows = tier_status(&data, None, Some(&bootstrap), &env)?;
    ensure!(rows.len() == PARTITIONS as usize, "tier status {rows:?}");
    for (p, row) in rows.iter().enumerate() {
        let mine = manifests.iter().filter(|m| m.partition == p as i32).count();
        ensure!(
            row.remote_segments == mine
                && row.remote_start == 0
                && row.remote_end == actives[p]
                && row.log_start == Some(0)
                && row.local_start == Some(actives[p])
                && row.log_end == Some(logs[p].len() as i64),
            "partition {p}: tier status {row:?}, {mine} manifests, active segment {}",
            actives[p]
        );
    }
    Ok(())
}
