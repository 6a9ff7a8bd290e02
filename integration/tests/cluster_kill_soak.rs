//! kill -9 soak (issue 8): three brokers, a topic of three partitions with RF=3 and
//! `min.insync.replicas=2`, an idempotent librdkafka producer with acks=all. Each trial streams
//! records and SIGKILLs the leader of one partition (in turn) at a random moment, then restarts
//! it and waits for every ISR to be whole again. Trials: `STRATA_CLUSTER_SOAK_TRIALS` (default
//! 4). The killed brokers also lead `__consumer_offsets` partitions, so group coordinators move.
//!
//! Checked, exactly:
//! - every record is acknowledged (the producer rides out each failover) at the offset that
//!   follows the previous one of its partition — nothing duplicated, nothing skipped;
//! - after each trial a consumer of one group resumes exactly at the offsets the group
//!   committed after the previous trial, reads everything acknowledged since, and commits;
//! - at the end the whole topic reads back as exactly the acknowledged records, in order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use rand::Rng;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use strata_integration::client::{create_replicated_topic, enqueue, numbered};
use strata_integration::cluster::Cluster;
use strata_integration::{consumer, producer, read_topic, run};

const TOPIC: &str = "soak";
const GROUP: &str = "soak-readers";
const PARTITIONS: i32 = 3;
const PER_TRIAL: usize = 1200;

fn trials() -> usize {
    match std::env::var("STRATA_CLUSTER_SOAK_TRIALS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("STRATA_CLUSTER_SOAK_TRIALS={v} is not a number")),
        Err(_) => 4,
    }
}

#[test]
fn acknowledged_records_and_commits_survive_repeated_kill_9_of_leaders() {
    let limit = Duration::from_secs(60 + 45 * trials() as u64);
    run(limit, scenario());
}

/// Leaders and ISR sizes of every partition of [`TOPIC`] through `bootstrap`.
fn leaders(bootstrap: &str) -> Result<Vec<(i32, usize)>> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == TOPIC)
        .ok_or_else(|| anyhow!("{TOPIC} not listed"))?;
    let mut out: Vec<(i32, i32, usize)> = t
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader(), p.isr().len()))
        .collect();
    out.sort_unstable();
    Ok(out.into_iter().map(|(_, l, isr)| (l, isr)).collect())
}

async fn wait_whole(bootstrap: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = leaders(bootstrap);
        if let Ok(s) = &state {
            if s.len() == PARTITIONS as usize && s.iter().all(|&(l, isr)| l > 0 && isr == 3) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!("the ISRs never became whole again: {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One group member's session: from the committed offsets it must resume at exactly `from`,
/// reads until each partition reaches `to`, commits `to`, leaves. Returns what it read.
fn consume_round(
    bootstrap: &str,
    from: &[i64],
    to: &[i64],
) -> Result<BTreeMap<(i32, i64), String>> {
    let c: BaseConsumer = consumer(
        bootstrap,
        &[
            ("group.id", GROUP),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
        ],
    )?;
    c.subscribe(&[TOPIC]).context("subscribe")?;
    let mut next: Vec<Option<i64>> = vec![None; PARTITIONS as usize];
    let mut read = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while (0..PARTITIONS as usize).any(|p| next[p].unwrap_or(from[p]) < to[p]) {
        ensure!(
            Instant::now() < deadline,
            "the group member did not reach {to:?} (at {next:?})"
        );
        let Some(m) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(_) => continue,
        };
        let p = m.partition() as usize;
        let o = m.offset();
        match next[p] {
            None => ensure!(
                o == from[p],
                "partition {p}: the group resumed at {o}, but {} was committed",
                from[p]
            ),
            Some(n) => ensure!(o == n, "partition {p}: {o} follows {}", n - 1),
        }
        next[p] = Some(o + 1);
        if o < to[p] {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            read.insert((p as i32, o), value);
        }
    }
    let mut tpl = TopicPartitionList::new();
    for (p, &end) in to.iter().enumerate() {
        tpl.add_partition_offset(TOPIC, p as i32, Offset::Offset(end))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match c.commit(&tpl, CommitMode::Sync) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                println!("commit retried: {e}");
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => bail!("commit {to:?}: {e}"),
        }
    }
    Ok(read)
}

async fn scenario() -> Result<()> {
    let mut cluster = Cluster::start(
        3,
        &[
            "--set",
            "broker.session.timeout.ms=2000",
            "--set",
            "broker.heartbeat.interval.ms=200",
            "--set",
            "replica.lag.time.max.ms=3000",
            "--set",
            "group.initial.rebalance.delay.ms=0",
            "--set",
            "group.min.session.timeout.ms=1000",
        ],
    )?;
    let all = cluster.bootstrap();
    create_replicated_topic(&all, TOPIC, PARTITIONS, 3, &[("min.insync.replicas", "2")]).await?;
    let producer = producer(
        &all,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "90000"),
            ("linger.ms", "5"),
        ],
    )?;
    // Acknowledged (partition, offset) → value, and per partition the end so far.
    let mut acked: BTreeMap<(i32, i64), String> = BTreeMap::new();
    let mut ends = vec![0i64; PARTITIONS as usize];
    let mut committed = vec![0i64; PARTITIONS as usize];
    let mut consumed: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for trial in 0..trials() {
        wait_whole(&all).await?;
        let victim_partition = trial % PARTITIONS as usize;
        let victim = leaders(&all)?[victim_partition].0;
        let kill_at = rand::rng().random_range(100..PER_TRIAL - 100);
        let batch = numbered(PER_TRIAL, &format!("t{trial}"), PARTITIONS);
        let mut pending = Vec::with_capacity(PER_TRIAL);
        for (i, r) in batch.iter().enumerate() {
            pending.push((r.clone(), enqueue(&producer, TOPIC, r).await?));
            if i % 25 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if i == kill_at {
                cluster.node(victim as usize).sigkill()?;
            }
        }
        for (i, (r, f)) in pending.into_iter().enumerate() {
            let d = f
                .await
                .context("producer gone")?
                .map_err(|(e, _)| anyhow!("trial {trial}: record {i} not acknowledged: {e}"))?;
            let (p, o) = (d.partition, d.offset);
            let expected_p = r.partition.unwrap_or(-1);
            ensure!(p == expected_p, "record {i} acknowledged on partition {p}");
            ensure!(
                o == ends[p as usize],
                "trial {trial}: record {i} acknowledged at {p}/{o}, expected offset {}",
                ends[p as usize]
            );
            ends[p as usize] += 1;
            acked.insert((p, o), String::from_utf8_lossy(&r.value).into_owned());
        }
        cluster.node(victim as usize).restart()?;
        wait_whole(&all).await?;
        println!(
            "trial {trial}: killed {victim} (leader of {TOPIC}-{victim_partition}) after \
             {kill_at} records; ends {ends:?}"
        );
        let (from, to) = (committed.clone(), ends.clone());
        let bootstrap = all.clone();
        let read =
            tokio::task::spawn_blocking(move || consume_round(&bootstrap, &from, &to)).await??;
        consumed.extend(read);
        committed = ends.clone();
    }
    ensure!(
        consumed == acked,
        "the group read {} records, {} were acknowledged",
        consumed.len(),
        acked.len()
    );
    let read = read_topic(&all, TOPIC, PARTITIONS).await?;
    let final_log: BTreeMap<(i32, i64), String> = read
        .iter()
        .map(|r| {
            (
                (r.partition, r.offset),
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    ensure!(
        read.len() == final_log.len() && final_log == acked,
        "the topic reads back as {} records ({} distinct), {} were acknowledged",
        read.len(),
        final_log.len(),
        acked.len()
    );
    Ok(())
}
