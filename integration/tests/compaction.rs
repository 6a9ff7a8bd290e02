//! Log compaction with a real client against the `strata` binary.
//!
//! A `cleanup.policy=compact` topic rolls its segments every 200 ms (`segment.ms`; the smallest
//! `segment.bytes` is 1 MiB) and is cleaned as soon as anything is dirty
//! (`min.cleanable.dirty.ratio=0.01`, `min.compaction.lag.ms=0`, `delete.retention.ms=1000`).
//! Twenty keys get several rounds of updates and five of them a tombstone; the cleaner's
//! progress is read from the partition's `cleaner-offset-checkpoint`. From offset 0 a consumer
//! must then see exactly one record per live key, its latest value at the offset it was
//! acknowledged at; the deleted keys keep at most their tombstone until `delete.retention.ms`
//! has passed, then nothing. Finally the broker is killed with SIGKILL while the cleaner works
//! (slowed by `log.cleaner.io.max.bytes.per.second`) and restarted: no loss (every live key's
//! latest value is there), no duplicates, every record read is the one acknowledged at its offset.
//!
//! `__consumer_offsets` is compacted too: a group commits after every record (one offset key
//! written 200 times), the cleaner compacts the offsets partition, and after a SIGKILL and a
//! restart the coordinator's replay of the compacted log resumes the group exactly at its
//! committed offset.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::producer::{FutureProducer, FutureRecord};
use strata_integration::groups::{wait_until, GroupConsumer};
use strata_integration::{create_topic, producer, read_topic, run, send_all, Broker, Outgoing};

const TOPIC: &str = "compacted";
const KEYS: usize = 20;
const DELETED: usize = 5;

/// Every acknowledged record: offset → (key, value; `None` = tombstone).
type Produced = BTreeMap<i64, (String, Option<String>)>;

fn key(k: usize) -> String {
    format!("key-{k:02}")
}

async fn send(p: &FutureProducer, produced: &mut Produced, k: &str, v: Option<&str>) -> Result<()> {
    let mut record: FutureRecord<'_, str, str> = FutureRecord::to(TOPIC).key(k);
    if let Some(v) = v {
        record = record.payload(v);
    }
    let future = match p.send_result(record) {
        Ok(f) => f,
        Err((e, _)) => bail!("enqueue {k}: {e}"),
    };
    match future.await {
        Ok(Ok(d)) => {
            produced.insert(d.offset, (k.to_string(), v.map(str::to_string)));
            Ok(())
        }
        Ok(Err((e, _))) => bail!("delivery of {k} failed: {e}"),
        Err(_) => bail!("the producer went away"),
    }
}

async fn round(p: &FutureProducer, produced: &mut Produced, tag: &str) -> Result<()> {
    for k in DELETED..KEYS {
        send(p, produced, &key(k), Some(&format!("{tag}-{k}"))).await?;
    }
    Ok(())
}

fn partition_dir(broker: &Broker) -> PathBuf {
    broker.data_dir().join(format!("{TOPIC}-0"))
}

fn checkpoint(broker: &Broker) -> Option<i64> {
    let text =
        std::fs::read_to_string(partition_dir(broker).join("cleaner-offset-checkpoint")).ok()?;
    text.lines().nth(1)?.trim().parse().ok()
}

async fn wait_cleaned_to(broker: &Broker, offset: i64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(broker).is_none_or(|c| c < offset) {
        ensure!(
            Instant::now() < deadline,
            "the cleaner did not reach offset {offset} (checkpoint {:?}); broker log:\n{}",
            checkpoint(broker),
            broker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Reads the partition from 0 and checks it against what was acknowledged. Returns the
/// deleted keys still present (as tombstones).
async fn check(broker: &Broker, produced: &Produced) -> Result<usize> {
    let records = read_topic(&broker.bootstrap(), TOPIC, 1).await?;
    let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
    for (&o, (k, _)) in produced {
        latest.insert(k.as_str(), o);
    }
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    let mut last = -1;
    for r in &records {
        ensure!(
            r.offset > last,
            "offset {} after {last}: duplicates or disorder",
            r.offset
        );
        last = r.offset;
        let k = String::from_utf8(r.key.clone().context("a record without key")?)?;
        let v = r.value.clone().map(String::from_utf8).transpose()?;
        let want = produced
            .get(&r.offset)
            .context("a record that was never acknowledged")?;
        ensure!(
            *want == (k.clone(), v.clone()),
            "offset {}: read {k}={v:?}, acknowledged {want:?}",
            r.offset
        );
        ensure!(
            seen.insert(k.clone(), r.offset).is_none(),
            "key {k} appears twice after cleaning"
        );
    }
    let mut tombstones = 0;
    for (k, &o) in &latest {
        let deleted = produced[&o].1.is_none();
        match seen.get(*k) {
            Some(&at) => {
                ensure!(
                    at == o,
                    "key {k}: read at {at}, its latest record is at {o}"
                );
                tombstones += usize::from(deleted);
            }
            None => ensure!(deleted, "live key {k} lost (latest at {o})"),
        }
    }
    Ok(tombstones)
}

#[test]
fn compaction_keeps_the_latest_value_per_key() {
    run(Duration::from_secs(240), scenario());
}

async fn scenario() -> Result<()> {
    let mut broker = Broker::start(&[
        "--set",
        "log.cleaner.backoff.ms=100",
        "--set",
        "log.retention.check.interval.ms=100",
        "--set",
        "log.cleaner.dedupe.buffer.size=1048576",
        "--set",
        "log.cleaner.io.max.bytes.per.second=40000",
    ])?;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
            ("delete.retention.ms", "1000"),
        ],
    )
    .await?;
    let p = producer(&bootstrap, &[("linger.ms", "0")])?;
    let mut produced = Produced::new();
    for r in 0..5 {
        for k in 0..DELETED {
            send(&p, &mut produced, &key(k), Some(&format!("r{r}-{k}"))).await?;
        }
        round(&p, &mut produced, &format!("r{r}")).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for k in 0..DELETED {
        send(&p, &mut produced, &key(k), None).await?;
    }
    let end = *produced.keys().last().unwrap() + 1;
    wait_cleaned_to(&broker, end).await?;
    let tombstones = check(&broker, &produced).await?;
    eprintln!("cleaned to {end}: {tombstones} tombstones kept");

    // Past delete.retention.ms, the next clean drops the tombstones.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        round(&p, &mut produced, &format!("late{n}")).await?;
        n += 1;
        let end = *produced.keys().last().unwrap() + 1;
        wait_cleaned_to(&broker, end).await?;
        if check(&broker, &produced).await? == 0 {
            break;
        }
        ensure!(Instant::now() < deadline, "tombstones never went away");
    }
    let size_before_kill = dir_bytes(&partition_dir(&broker));
    eprintln!("tombstones gone after {n} more rounds; partition holds {size_before_kill} bytes for {} records produced", produced.len());

    // kill -9 while the cleaner works, then restart: no loss, no duplicates.
    for r in 0..3 {
        round(&p, &mut produced, &format!("kill{r}")).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let dir = partition_dir(&broker);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut caught = false;
    while Instant::now() < deadline {
        if has_cleaner_files(&dir) {
            caught = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    broker.sigkill()?;
    let killed_at = std::time::SystemTime::now();
    eprintln!("killed the broker (cleaner files present: {caught})");
    drop(p);
    broker.restart()?;
    // Recovery completed or removed every swap of the killed process; the restarted cleaner
    // may already be writing files of its own (newer than the kill).
    ensure!(
        !has_cleaner_files_from_before(&dir, killed_at),
        "leftover .cleaned/.swap files after restart"
    );
    check(&broker, &produced).await?;
    let end = *produced.keys().last().unwrap() + 1;
    wait_cleaned_to(&broker, end).await?;
    check(&broker, &produced).await?;
    Ok(())
}

fn has_cleaner_files(dir: &std::path::Path) -> bool {
    has_cleaner_files_from_before(
        dir,
        std::time::SystemTime::now() + Duration::from_secs(3600),
    )
}

/// Whether `dir` holds `.cleaned`/`.swap` files last modified before `t` (a rename keeps the
/// modification time, so a `.swap` renamed from an old `.cleaned` counts as old).
fn has_cleaner_files_from_before(dir: &std::path::Path, t: std::time::SystemTime) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.ends_with(".cleaned") || name.ends_with(".swap"))
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified < t)
        })
    })
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

#[test]
fn consumer_offsets_are_compacted_and_groups_resume() {
    run(Duration::from_secs(180), async {
        let mut broker = Broker::start(&[
            "--set",
            "group.initial.rebalance.delay.ms=0",
            "--set",
            "group.min.session.timeout.ms=1000",
            "--set",
            "offsets.topic.num.partitions=1",
            "--set",
            "log.roll.ms=300",
            "--set",
            "log.cleaner.min.cleanable.ratio=0.01",
            "--set",
            "log.cleaner.backoff.ms=100",
            "--set",
            "log.retention.check.interval.ms=100",
        ])?;
        let b = broker.bootstrap();
        create_topic(&b, "events", 1, &[]).await?;
        let records = |from: usize, n: usize| -> Vec<Outgoing> {
            (from..from + n)
                .map(|i| Outgoing {
                    partition: Some(0),
                    value: format!("v{i}").into_bytes(),
                    ..Outgoing::default()
                })
                .collect()
        };
        let c = GroupConsumer::start("c", &b, "g", "events", 3000, None)?;
        for round in 0..5 {
            send_all(&producer(&b, &[])?, "events", &records(round * 40, 40)).await?;
            wait_until("consumed", Duration::from_secs(40), || {
                c.records().len() >= (round + 1) * 40
            })
            .await?;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        c.stop()?;
        let offsets_dir = broker.data_dir().join("__consumer_offsets-0");
        let read_checkpoint = || -> Option<i64> {
            let text =
                std::fs::read_to_string(offsets_dir.join("cleaner-offset-checkpoint")).ok()?;
            text.lines().nth(1)?.trim().parse().ok()
        };
        wait_until(
            "__consumer_offsets cleaned",
            Duration::from_secs(60),
            || read_checkpoint().is_some_and(|c| c > 100),
        )
        .await?;
        let bytes = dir_bytes(&offsets_dir);
        eprintln!(
            "__consumer_offsets-0 cleaned to {:?}; {bytes} bytes of segments left",
            read_checkpoint()
        );

        broker.sigkill()?;
        broker.restart()?;
        send_all(&producer(&b, &[])?, "events", &records(200, 10)).await?;
        let again = GroupConsumer::start("again", &b, "g", "events", 3000, None)?;
        wait_until("10 new consumed", Duration::from_secs(60), || {
            again.records().len() >= 10
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let got: Vec<i64> = again.records().iter().map(|(_, o, _)| *o).collect();
        let want: Vec<i64> = (200..210).collect();
        ensure!(got == want, "resumed at the committed offset: got {got:?}");
        again.stop()?;
        Ok(())
    });
}

/// A consumer reading while the cleaner rewrites and swaps segments (slowed down so that many
/// reads overlap a clean) always reads consistent data: every record is the one acknowledged at
/// its offset, offsets only increase, and every key's latest value is there. Older values may
/// or may not be, depending on how far the cleaner got.
#[test]
fn a_consumer_reading_mid_clean_reads_consistent_data() {
    run(Duration::from_secs(150), mid_clean());
}

/// Checks one read from offset 0 against what was acknowledged (see the test above).
fn consistent(records: &[strata_integration::Record], produced: &Produced) -> Result<()> {
    let mut last = -1;
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for r in records {
        ensure!(r.offset > last, "offset {} after {last}", r.offset);
        last = r.offset;
        let k = String::from_utf8(r.key.clone().context("a record without key")?)?;
        let v = r.value.clone().map(String::from_utf8).transpose()?;
        let want = produced
            .get(&r.offset)
            .context("a record that was never acknowledged")?;
        ensure!(
            *want == (k.clone(), v.clone()),
            "offset {}: read {k}={v:?}, acknowledged {want:?}",
            r.offset
        );
        seen.insert(k, r.offset);
    }
    let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
    for (&o, (k, _)) in produced {
        latest.insert(k.as_str(), o);
    }
    for (k, o) in latest {
        ensure!(
            seen.get(k) == Some(&o),
            "key {k}: latest record at {o}, read {:?}",
            seen.get(k)
        );
    }
    Ok(())
}

async fn mid_clean() -> Result<()> {
    let broker = Broker::start(&[
        "--set",
        "log.cleaner.backoff.ms=50",
        "--set",
        "log.cleaner.io.max.bytes.per.second=50000",
    ])?;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
        ],
    )
    .await?;
    let p = producer(&bootstrap, &[("linger.ms", "0")])?;
    let mut produced = Produced::new();
    let pad = "x".repeat(1000);
    for r in 0..12 {
        for k in 0..KEYS {
            send(&p, &mut produced, &key(k), Some(&format!("r{r}-{k}-{pad}"))).await?;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // One more record rolls the last full segment; everything before it becomes cleanable.
    send(&p, &mut produced, &key(0), Some(&format!("last-{pad}"))).await?;
    let end = *produced.keys().last().unwrap();
    // Read from 0 over and over while the cleaner works through the log (throttled, it takes
    // seconds): `mid` counts the reads made before it finished, `during` those across a swap.
    let (mut reads, mut mid, mut during) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let before = checkpoint(&broker);
        let records = read_topic(&bootstrap, TOPIC, 1).await?;
        let after = checkpoint(&broker);
        consistent(&records, &produced)
            .with_context(|| format!("read {reads} (cleaner checkpoint {before:?} → {after:?})"))?;
        reads += 1;
        if before.is_none_or(|c| c < end) {
            mid += 1;
        }
        if before != after {
            during += 1;
        }
        if after.is_some_and(|c| c >= end) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "after {reads} reads the cleaner reached {after:?}, not {end}"
        );
    }
    ensure!(mid >= 2, "only {mid} reads ran while the cleaner worked");
    eprintln!("{reads} consistent reads, {mid} while the cleaner worked, {during} across a swap");
    Ok(())
}
