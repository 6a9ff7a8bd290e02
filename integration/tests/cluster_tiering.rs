//! Tiering across leaders (issue 8): three brokers share one `file://` bucket; a tiered RF=3
//! topic (1 MiB segments, `local.retention.bytes=0`) uploads at 2 MB/s, so a burst leaves a
//! queue of uploads. The leader is SIGKILLed while that queue drains; the new leader goes on.
//!
//! Checked, exactly:
//! - every record acknowledged (acks=all, idempotent, `min.insync.replicas=2`) is read back
//!   once, at its offset, from the new leader — the old segments through cold reads;
//! - after the killed broker is back (it cleans up its own interrupted upload), the bucket
//!   holds contiguous segments from offset 0, each base offset uploaded once (the new leader
//!   did not upload again what the old one had finished), every upload complete and no object
//!   of an upload without a manifest; every object key names its uploader's leader epoch;
//! - followers delete their uploaded local segments too (local retention), as the leader does;
//!   the returned broker, behind the new leader's first local offset, restarts its copy there
//!   (OFFSET_MOVED_TO_TIERED_STORAGE) rather than copying the history through the leader;
//! - leadership then moves to a third broker, which serves the whole log again through cold
//!   reads: any node that leads can read what any other uploaded.

use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::client::create_replicated_topic;
use strata_integration::cluster::Cluster;
use strata_integration::tier::{
    acknowledged_logs, base_env, bucket_state, check_bucket, compare_partition, local_segments,
    now_ms, numbered_records, wait_for,
};
use strata_integration::{consumer, producer, read_topic, run, send_all, Outgoing};

const TOPIC: &str = "tiered";
const BURST: usize = 5000;
const VALUE_LEN: usize = 1000;

#[test]
fn a_leader_change_during_uploads_loses_duplicates_and_orphans_nothing() {
    run(Duration::from_secs(280), scenario());
}

/// The leader of partition 0 of [`TOPIC`] as Metadata through `bootstrap` names it.
fn leader(bootstrap: &str) -> Result<i32> {
    let md = consumer(bootstrap, &[])?
        .client()
        .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == TOPIC)
        .ok_or_else(|| anyhow!("{TOPIC} not listed"))?;
    let p = t
        .partitions()
        .first()
        .ok_or_else(|| anyhow!("{TOPIC} has no partition"))?;
    Ok(p.leader())
}

async fn produce(
    bootstrap: &str,
    batch: &[Outgoing],
) -> Result<Vec<strata_integration::Delivered>> {
    let producer = producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("batch.size", "131072"),
            ("message.timeout.ms", "120000"),
        ],
    )?;
    send_all(&producer, TOPIC, batch).await
}

/// Reads the whole topic through `bootstrap` and compares it with the acknowledged log.
async fn read_all(what: &str, bootstrap: &str, expected: &[Outgoing]) -> Result<()> {
    let read = read_topic(bootstrap, TOPIC, 1).await?;
    ensure!(
        read.len() == expected.len(),
        "{what}: read {} records, {} were acknowledged",
        read.len(),
        expected.len()
    );
    compare_partition(what, 0, &read, expected, 0)
}

async fn scenario() -> Result<()> {
    let bucket_dir = tempfile::tempdir()?;
    let bucket = bucket_dir.path().to_path_buf();
    let store = format!("file://{}", bucket.display());
    let mut cluster = Cluster::start_with_env(
        3,
        &[
            "--object-store",
            &store,
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
            "--set",
            "remote.log.manager.copy.max.bytes.per.second=2000000",
            "--set",
            "broker.session.timeout.ms=3000",
            "--set",
            "broker.heartbeat.interval.ms=300",
            "--set",
            "replica.lag.time.max.ms=5000",
            "--set",
            "auto.leader.rebalance.enable=false",
        ],
        &base_env(),
    )?;
    let bootstrap = cluster.bootstrap();
    create_replicated_topic(
        &bootstrap,
        TOPIC,
        1,
        3,
        &[
            ("remote.storage.enable", "true"),
            ("segment.bytes", "1048576"),
            ("local.retention.bytes", "0"),
            ("retention.ms", "-1"),
            ("min.insync.replicas", "2"),
        ],
    )
    .await?;
    let ts_base = now_ms() - 3_600_000;

    // Burst 1, then kill the leader while its uploads drain.
    let first = numbered_records(0, BURST, 1, VALUE_LEN, ts_base);
    let mut acked = produce(&bootstrap, &first).await?;
    let mut sent = first;
    wait_for("a first upload", Duration::from_secs(30), || {
        let (m, _) = bucket_state(&bucket)?;
        Ok(if m > 0 {
            Ok(())
        } else {
            Err("no manifest yet".to_string())
        })
    })
    .await?;
    let old = leader(&bootstrap)?;
    let (manifests_at_kill, incomplete_at_kill) = bucket_state(&bucket)?;
    cluster.node(old as usize).sigkill()?;
    println!(
        "killed leader {old} with {manifests_at_kill} segments uploaded and \
         {incomplete_at_kill} upload(s) in flight"
    );
    ensure!(
        manifests_at_kill < 4,
        "the whole burst was uploaded before the kill ({manifests_at_kill} segments): \
         nothing was tested"
    );
    let live: Vec<String> = (1..=3)
        .filter(|&n| n != old as usize)
        .map(|n| cluster.brokers[n - 1].bootstrap())
        .collect();
    let live_bootstrap = live.join(",");
    let new = wait_for("a new leader", Duration::from_secs(30), || {
        let l = leader(&live_bootstrap)?;
        Ok(if l > 0 && l != old {
            Ok(l)
        } else {
            Err(format!("leader {l}"))
        })
    })
    .await?;

    // Burst 2 to the new leader.
    let second = numbered_records(BURST, BURST, 1, VALUE_LEN, ts_base);
    acked.extend(produce(&live_bootstrap, &second).await?);
    sent.extend(second);
    let logs = acknowledged_logs(&sent, &acked, &[0])?;
    let expected = &logs[0];

    // The new leader uploads everything sealed and keeps only its active segment.
    let new_dir = cluster.node(new as usize).data_dir().to_path_buf();
    let active = wait_for(
        "the new leader's sealed segments uploaded and deleted locally",
        Duration::from_secs(90),
        || {
            let segs = local_segments(&new_dir, TOPIC, 0)?;
            Ok(match segs.as_slice() {
                [only] if *only > 0 => Ok(*only),
                _ => Err(format!("local segments {segs:?}")),
            })
        },
    )
    .await?;
    read_all(
        &format!("from new leader {new} (cold reads below {active})"),
        &live_bootstrap,
        expected,
    )
    .await?;

    // The killed broker returns: it discards its own interrupted upload; the bucket is clean.
    cluster.node(old as usize).restart()?;
    let manifests = wait_for("a clean bucket", Duration::from_secs(60), || {
        Ok(match check_bucket(&bucket, TOPIC, 1) {
            Ok(m) if m.last().map(|m| m.end_offset) == Some(active) => Ok(m),
            Ok(m) => Err(format!(
                "remote end {:?}, active segment at {active}",
                m.last().map(|m| m.end_offset)
            )),
            Err(e) => Err(e.to_string()),
        })
    })
    .await?;
    ensure!(
        manifests.first().map(|m| m.base_offset) == Some(0),
        "the remote log starts at {:?}",
        manifests.first().map(|m| m.base_offset)
    );
    for m in &manifests {
        ensure!(
            strata_tier::upload_epoch(&m.upload_id) >= 0,
            "upload {} does not name its leader epoch",
            m.upload_id
        );
    }
    let epochs: Vec<i32> = manifests
        .iter()
        .map(|m| strata_tier::upload_epoch(&m.upload_id))
        .collect();
    ensure!(
        epochs.windows(2).all(|w| w[0] <= w[1]) && epochs.first() < epochs.last(),
        "uploads by both leaders, in epoch order: {epochs:?}"
    );

    // Every follower (the returned broker included) deletes its uploaded segments as well.
    let third = (1..=3)
        .find(|&n| n != old as usize && n != new as usize)
        .expect("three nodes");
    for follower in [old as usize, third] {
        let dir = cluster.node(follower).data_dir().to_path_buf();
        wait_for(
            &format!("follower {follower} deleting its uploaded segments"),
            Duration::from_secs(60),
            || {
                let segs = local_segments(&dir, TOPIC, 0)?;
                Ok(if segs.first().is_some_and(|&b| b >= active) {
                    Ok(())
                } else {
                    Err(format!("local segments {segs:?}"))
                })
            },
        )
        .await?;
    }

    // The returned broker was behind the new leader's first local offset: the leader answered
    // OFFSET_MOVED_TO_TIERED_STORAGE and it restarted its copy there instead of copying the
    // bucket's history through the leader.
    // The line is logged once the restart is complete (after a bucket refresh that follows
    // the local truncation the check above saw), so wait for it.
    let old_log_path = cluster.node(old as usize).log_path().to_path_buf();
    let copied = wait_for(
        "the returned broker restarting its copy",
        Duration::from_secs(30),
        || {
            let log = std::fs::read_to_string(&old_log_path)?;
            Ok(if log.contains("restarted the copy there") {
                Ok(())
            } else {
                Err(log
                    .lines()
                    .filter(|l| {
                        l.contains("replica") || l.contains("tiered") || l.contains("fetch")
                    })
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n"))
            })
        },
    )
    .await;
    copied.with_context(|| {
        format!("broker {old} did not restart its copy at the leader's local log start")
    })?;

    // Leadership moves to the third broker: it reads the whole log from the bucket too.
    cluster.node(new as usize).sigkill()?;
    let rest = [old as usize, third]
        .iter()
        .map(|&n| cluster.brokers[n - 1].bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let last = wait_for("a third leader", Duration::from_secs(30), || {
        let l = leader(&rest)?;
        Ok(if l > 0 && l != new {
            Ok(l)
        } else {
            Err(format!("leader {l}"))
        })
    })
    .await?;
    read_all(
        &format!("from leader {last} after two changes"),
        &rest,
        expected,
    )
    .await?;
    Ok(())
}
