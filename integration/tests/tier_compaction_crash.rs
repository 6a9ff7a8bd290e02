//! kill -9 in the middle of a remote compaction's replacement (`file://` bucket, listed
//! directly).
//!
//! One partition of a tiered compacted topic (`segment.bytes` = 1 MiB,
//! `min.cleanable.dirty.ratio=0.01`, `local.retention.ms=100`); uploads are limited to
//! 500 kB/s (`remote.log.manager.copy.max.bytes.per.second`), so a compaction that writes a few
//! hundred-kB segments spends seconds between its first new object and its catalog switch. The
//! broker compacts every second and sweeps superseded uploads after 1 s.
//!
//! Three trials. Each produces 3000 keyed ~1 kB records (acks=all) while
//! `min.compaction.lag.ms` is an hour (nothing compacts): even records update 1500 "cold" keys
//! once per trial, odd ones 100 "hot" keys 15 times each; trial 1 also writes tombstones for 10
//! cold keys, which trial 2 brings back. Once every sealed segment is uploaded, deleted locally
//! and the bucket is settled, `min.compaction.lag.ms` goes to 0 and the broker is SIGKILLed:
//! - trial 0: as soon as an object of a new upload id appears (the replacement has begun, no
//!   manifest of it yet);
//! - trial 1: as soon as a manifest of a new upload id appears while every old manifest is
//!   still there (between the replacement's uploads, before the switch);
//! - trial 2: at a random moment up to 2.5 s after the first new object (before or after the
//!   switch, or during the sweep);
//!
//! and restarted on the same data directory.
//!
//! After the last restart, once the compaction and the sweep have settled (and stay so for
//! another two intervals):
//! - the bucket holds only complete uploads with manifests (no object of an upload without
//!   manifest, no staging file), each base offset once, contiguous from 0 to the active
//!   segment, all marked compacted (so none nests in another);
//! - `strata tier status` and ListOffsets report log start 0, the remote range `[0, B)`, local
//!   start B and the log end = every record acknowledged;
//! - a consumer from offset 0 reads exactly, at their acknowledged offsets: below B the latest
//!   record of every key among the offsets below B, from B on every record — no acknowledged
//!   latest value is lost, nothing superseded comes back.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use rand::Rng;
use rdkafka::consumer::Consumer;
use strata_integration::client::OP_TIMEOUT;
use strata_integration::keyed::{
    alter_topic, compacted, compare, logs_from_acks, send_keyed, Keyed,
};
use strata_integration::tier::{
    base_env, bucket_manifests, bucket_objects_in_flight, check_bucket, local_segments, now_ms,
    tier_status, wait_for,
};
use strata_integration::{consumer, create_topic, producer, read_topic, run, Broker, Delivered};
use strata_tier::manifest::SegmentManifest;

const TOPIC: &str = "crashcompact";
const TRIALS: usize = 3;
const PER_TRIAL: usize = 3000;
const COLD_KEYS: usize = PER_TRIAL / 2;
const HOT_KEYS: usize = 100;
const VALUE_LEN: usize = 1000;
/// Cold keys `0..TOMBSTONES` get a tombstone in the middle of trial 1.
const TOMBSTONES: usize = 10;

#[test]
fn remote_compaction_survives_kill_9() {
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
            "remote.log.manager.copy.max.bytes.per.second=500000",
            "--set",
            "strata.tier.compaction.interval.ms=1000",
            "--set",
            "strata.tier.compaction.grace.ms=1000",
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    let bucket = broker.data_dir().join("remote");
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("remote.storage.enable", "true"),
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1048576"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "3600000"),
            ("local.retention.ms", "100"),
            ("retention.ms", "-1"),
        ],
    )
    .await?;

    let mut sent: Vec<Keyed> = Vec::new();
    let mut acked: Vec<Delivered> = Vec::new();
    let mut in_flight_kills = 0;
    for trial in 0..TRIALS {
        if trial > 0 {
            alter_topic(&bootstrap, TOPIC, "min.compaction.lag.ms=3600000")?;
        }
        let batch = trial_records(trial);
        {
            let producer = producer(&bootstrap, &[("batch.size", "131072")])?;
            acked.extend(send_keyed(&producer, TOPIC, &batch).await?);
        }
        sent.extend(batch);
        let active = settled(&broker, &bucket, false, Duration::from_secs(60)).await?;
        let old: BTreeSet<String> = bucket_manifests(&bucket)?
            .into_iter()
            .map(|m| m.upload_id)
            .collect();

        alter_topic(&bootstrap, TOPIC, "min.compaction.lag.ms=0")?;
        let started = Instant::now();
        let how = match trial {
            0 => {
                let seen =
                    poll_until(&bucket, &old, Duration::from_secs(20), |s| s.new_ids > 0).await?;
                format!("at the replacement's first object ({seen})")
            }
            1 => {
                let seen = poll_until(&bucket, &old, Duration::from_secs(20), |s| {
                    s.new_manifests > 0
                })
                .await?;
                format!("at the replacement's first manifest ({seen})")
            }
            _ => {
                let seen =
                    poll_until(&bucket, &old, Duration::from_secs(20), |s| s.new_ids > 0).await?;
                let delay = rand::rng().random_range(0..2500u64);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                format!("{delay} ms after the replacement's first object ({seen})")
            }
        };
        broker.sigkill()?;
        let at_kill = state(&bucket, &old)?;
        if at_kill.new_ids > 0 && at_kill.old_manifests == old.len() {
            in_flight_kills += 1;
        }
        println!(
            "trial {trial}: {} records acknowledged, active segment at {active}; killed {:?} \
             after enabling compaction, {how}; at the kill: {at_kill}",
            sent.len(),
            started.elapsed(),
        );
        broker.restart()?;
    }
    ensure!(
        in_flight_kills >= 2,
        "only {in_flight_kills} of {TRIALS} kills came while a replacement was in flight (new \
         objects in the bucket, every old manifest still there)"
    );

    // Settled after the last restart, and it stays so.
    let active = settled(&broker, &bucket, true, Duration::from_secs(60)).await?;
    let manifests = bucket_manifests(&bucket)?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ensure!(
        settled(&broker, &bucket, true, Duration::ZERO).await? == active
            && bucket_manifests(&bucket)? == manifests,
        "the bucket changed after it had settled"
    );
    let log = logs_from_acks(&sent, &acked, 1)?.remove(0);
    let end = log.len() as i64;
    let rows = tier_status(broker.data_dir(), None, Some(&bootstrap), &env)?;
    ensure!(
        rows.len() == 1
            && rows[0].remote_start == 0
            && rows[0].remote_end == active
            && rows[0].remote_segments == manifests.len()
            && rows[0].log_start == Some(0)
            && rows[0].local_start == Some(active)
            && rows[0].log_end == Some(end),
        "tier status {rows:?}; {} manifests, active segment at {active}, {end} records \
         acknowledged",
        manifests.len()
    );
    let watermarks = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> Result<(i64, i64)> {
            Ok(consumer(&bootstrap, &[])?.fetch_watermarks(TOPIC, 0, OP_TIMEOUT)?)
        })
        .await??
    };
    ensure!(
        watermarks == (0, end),
        "watermarks {watermarks:?}, expected (0, {end})"
    );
    let read = read_topic(&bootstrap, TOPIC, 1).await?;
    let expected = compacted(&log, active);
    compare("history after the crashes", 0, &read, &expected)?;
    println!(
        "settled: {} live segments [0, {active}), {} bytes; read {} records from offset 0, {} \
         acknowledged",
        manifests.len(),
        manifests.iter().map(|m| m.size).sum::<u64>(),
        read.len(),
        end
    );
    Ok(())
}

/// The records of one trial: even ones update the cold keys once each, odd ones the hot keys
/// 15 times each; trial 1 deletes cold keys `0..TOMBSTONES` half way.
fn trial_records(trial: usize) -> Vec<Keyed> {
    let ts = now_ms();
    let mut out = Vec::with_capacity(PER_TRIAL + TOMBSTONES);
    for i in 0..PER_TRIAL {
        if trial == 1 && i == PER_TRIAL / 2 {
            for c in 0..TOMBSTONES {
                out.push(Keyed {
                    partition: 0,
                    key: format!("cold-{c:05}").into_bytes(),
                    value: None,
                    headers: vec![("trial".into(), Some(trial.to_string().into_bytes()))],
                    timestamp: ts + out.len() as i64,
                });
            }
        }
        let key = if i % 2 == 0 {
            format!("cold-{:05}", (i / 2) % COLD_KEYS)
        } else {
            format!("hot-{:03}", (i / 2) % HOT_KEYS)
        };
        let mut value = format!("trial-{trial}-record-{i:05}-{key}-").into_bytes();
        let mut x = ((trial * PER_TRIAL + i) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        while value.len() < VALUE_LEN {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            value.push(b'a' + (x % 26) as u8);
        }
        out.push(Keyed {
            partition: 0,
            key: key.into_bytes(),
            value: Some(value),
            headers: vec![("trial".into(), Some(trial.to_string().into_bytes()))],
            timestamp: ts + out.len() as i64,
        });
    }
    out
}

/// What a listing of the bucket shows about a compaction in flight, against the upload ids
/// `old` that held manifests before it began.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Upload ids not in `old` with any object.
    new_ids: usize,
    /// Of those, how many have their manifest.
    new_manifests: usize,
    /// Manifests of `old` still in the bucket.
    old_manifests: usize,
    /// How many `old` there are.
    old_total: usize,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new upload ids ({} with a manifest), {} of {} old manifests still there",
            self.new_ids, self.new_manifests, self.old_manifests, self.old_total
        )
    }
}

fn state(bucket: &Path, old: &BTreeSet<String>) -> Result<Seen> {
    let objects = bucket_objects_in_flight(bucket)?;
    let ids: BTreeSet<&str> = objects
        .iter()
        .filter(|o| !old.contains(&o.upload_id))
        .map(|o| o.upload_id.as_str())
        .collect();
    let manifests: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.ext == "manifest.json")
        .map(|o| o.upload_id.as_str())
        .collect();
    Ok(Seen {
        new_ids: ids.len(),
        new_manifests: ids.iter().filter(|id| manifests.contains(*id)).count(),
        old_manifests: old
            .iter()
            .filter(|id| manifests.contains(id.as_str()))
            .count(),
        old_total: old.len(),
    })
}

/// Polls the bucket every 2 ms until `done` holds, failing after `limit`.
async fn poll_until(
    bucket: &Path,
    old: &BTreeSet<String>,
    limit: Duration,
    done: impl Fn(&Seen) -> bool,
) -> Result<Seen> {
    let deadline = Instant::now() + limit;
    loop {
        let seen = state(bucket, old)?;
        if done(&seen) {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            bail!("the compaction did not reach the kill point within {limit:?}: {seen}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until every sealed segment is uploaded and deleted locally (one local segment, the
/// active one at `B > 0`) and the bucket is settled: [`check_bucket`] passes (complete uploads
/// only, each base once, contiguous), the manifests cover exactly `[0, B)` and, with
/// `compacted`, every one is marked compacted. Returns `B`.
async fn settled(broker: &Broker, bucket: &Path, compacted: bool, limit: Duration) -> Result<i64> {
    wait_for("a settled bucket", limit, || {
        let local = local_segments(broker.data_dir(), TOPIC, 0)?;
        let [active] = local.as_slice() else {
            return Ok(Err(format!("local segments {local:?}")));
        };
        let manifests: Vec<SegmentManifest> = match check_bucket(bucket, TOPIC, 1) {
            Ok(m) => m,
            Err(e) => return Ok(Err(format!("{e:#}"))),
        };
        let range = (
            manifests.first().map(|m| m.base_offset),
            manifests.last().map(|m| m.end_offset),
        );
        if range != (Some(0), Some(*active)) {
            return Ok(Err(format!(
                "manifests cover {range:?}, the active segment is at {active}"
            )));
        }
        if compacted {
            if let Some(m) = manifests.iter().find(|m| m.compacted_at_ms.is_none()) {
                return Ok(Err(format!(
                    "segment [{}, {}) ({}) not compacted yet",
                    m.base_offset, m.end_offset, m.upload_id
                )));
            }
        }
        Ok(Ok(*active))
    })
    .await
}
