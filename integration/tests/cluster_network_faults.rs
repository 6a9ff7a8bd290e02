//! Network partitions between real broker processes (issue 8): three nodes, each in its own
//! network namespace on a bridge (`strata_integration::netns`), clients in the root namespace.
//! A topic of one partition, RF=3, `min.insync.replicas=2`; its replicas `[A, B, C]` in
//! preference order (an election picks the first live ISR member in that order).
//!
//! 1. **A follower cut off.** B's link goes down while acks=all records are produced: B leaves
//!    the ISR (`replica.lag.time.max.ms`), the leader keeps acknowledging with A and C. B's link
//!    comes back: B catches up and rejoins the ISR. Then A is SIGKILLed, so B — the first live
//!    ISR member — leads, and every acknowledged record is read back from B's copy, exactly once
//!    and in order (if B lagged out of the ISR again at that moment, C leads, every record is
//!    read from C, and B must rejoin C's ISR).
//! 2. **A leader cut off from the quorum.** A (the leader) can no longer reach B and C, while
//!    clients still reach A. Through A: acks=all records are never acknowledged (nobody
//!    replicates them), acks=1 records are (a divergent suffix, as Kafka allows for acks=1).
//!    B and C fence A and elect B, which acknowledges acks=all records. The cut heals: A comes
//!    back as a follower, truncates its divergent suffix through OffsetForLeaderEpoch, catches
//!    up, and the preferred-leader election gives it the leadership back. Read from A: exactly
//!    the acks=all records, none of the acks=1 records A took while cut off.
//!
//! Needs root for `ip netns`; without it the tests print that they were skipped.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureProducer;
use strata_integration::client::{create_replicated_topic, enqueue, numbered};
use strata_integration::cluster::Cluster;
use strata_integration::netns::NetLab;
use strata_integration::{consumer, producer, read_topic, run, send_all, Outgoing};

const TOPIC: &str = "parted";

const SETTINGS: &[&str] = &[
    "--set",
    "broker.session.timeout.ms=3000",
    "--set",
    "broker.heartbeat.interval.ms=300",
    "--set",
    "replica.lag.time.max.ms=3000",
    "--set",
    "auto.leader.rebalance.enable=true",
    "--set",
    "leader.imbalance.check.interval.seconds=1",
];

#[test]
fn a_cut_off_follower_leaves_the_isr_comes_back_and_serves_everything() {
    run(Duration::from_secs(240), follower_cut_off());
}

#[test]
fn a_leader_cut_off_from_the_quorum_acknowledges_nothing_and_truncates_on_return() {
    run(Duration::from_secs(240), leader_cut_off());
}

/// Leader, replicas (preference order) and ISR (sorted) of partition 0, as `bootstrap` says.
fn partition_state(bootstrap: &str) -> Result<(i32, Vec<i32>, Vec<i32>)> {
    let md = consumer(bootstrap, &[])?
        .client()
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
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
    let mut isr = p.isr().to_vec();
    isr.sort_unstable();
    Ok((p.leader(), p.replicas().to_vec(), isr))
}

/// Polls `partition_state(bootstrap)` until `ok` holds for it.
async fn wait_state(
    what: &str,
    bootstrap: &str,
    timeout: Duration,
    ok: impl Fn(i32, &[i32]) -> bool,
) -> Result<(i32, Vec<i32>)> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match partition_state(bootstrap) {
            Ok((leader, _, isr)) if ok(leader, &isr) => return Ok((leader, isr)),
            Ok(s) => format!("{s:?}"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            bail!("{what}: not within {timeout:?}; last (leader, replicas, isr): {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn acks_all_producer(bootstrap: &str) -> Result<FutureProducer> {
    producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "60000"),
        ],
    )
}

/// `n` records `<tag>-<i>`, all to partition 0.
fn records(n: usize, tag: &str) -> Vec<Outgoing> {
    numbered(n, tag, 1)
}

/// Reads the topic through `bootstrap` and checks it is exactly `expected` (values, offsets
/// 0, 1, 2, ...).
async fn expect_log(what: &str, bootstrap: &str, expected: &[Outgoing]) -> Result<()> {
    let read = read_topic(bootstrap, TOPIC, 1).await?;
    let got: Vec<(i64, String)> = read
        .iter()
        .map(|r| {
            (
                r.offset,
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = expected
        .iter()
        .enumerate()
        .map(|(i, r)| (i as i64, String::from_utf8_lossy(&r.value).into_owned()))
        .collect();
    if got != want {
        let first_diff = got.iter().zip(&want).position(|(g, w)| g != w);
        bail!(
            "{what}: read {} records, expected {}; first difference at index {first_diff:?}: \
             got {:?}, want {:?}",
            got.len(),
            want.len(),
            first_diff.and_then(|i| got.get(i)),
            first_diff.and_then(|i| want.get(i)),
        );
    }
    Ok(())
}

async fn start(n: usize) -> Result<Option<(NetLab, Cluster)>> {
    let Some(lab) = NetLab::create(n)? else {
        println!("SKIPPED: network namespaces are not available here (needs root and `ip`)");
        return Ok(None);
    };
    let cluster = Cluster::start_in(&lab, n, SETTINGS)?;
    create_replicated_topic(
        &cluster.bootstrap(),
        TOPIC,
        1,
        3,
        &[("min.insync.replicas", "2")],
    )
    .await?;
    Ok(Some((lab, cluster)))
}

async fn follower_cut_off() -> Result<()> {
    let Some((lab, mut cluster)) = start(3).await? else {
        return Ok(());
    };
    let all = cluster.bootstrap();
    let (_, replicas, _) = partition_state(&all)?;
    let (a, b, c) = (replicas[0], replicas[1], replicas[2]);
    wait_state("the first ISR", &all, Duration::from_secs(30), |l, isr| {
        l == a && isr.len() == 3
    })
    .await?;
    let producer = acks_all_producer(&all)?;
    let mut expected = records(300, "before");
    send_all(&producer, TOPIC, &expected).await?;

    lab.isolate(b as usize, true)?;
    let during = records(300, "during");
    send_all(&producer, TOPIC, &during).await?;
    expected.extend(during);
    let a_addr = cluster.brokers[a as usize - 1].bootstrap();
    wait_state(
        &format!("follower {b} dropped from the ISR"),
        &a_addr,
        Duration::from_secs(30),
        |l, isr| l == a && !isr.contains(&b),
    )
    .await?;

    lab.isolate(b as usize, false)?;
    wait_state(
        &format!("follower {b} back in the ISR"),
        &a_addr,
        Duration::from_secs(60),
        |l, isr| l == a && isr.len() == 3,
    )
    .await?;
    let after = records(300, "after");
    send_all(&producer, TOPIC, &after).await?;
    expected.extend(after);
    drop(producer);
    wait_state(
        "every replica in sync",
        &a_addr,
        Duration::from_secs(30),
        |_, isr| isr.len() == 3,
    )
    .await?;

    // B's copy now serves: A goes, and B is the first live ISR member.
    cluster.node(a as usize).sigkill()?;
    let rest = format!(
        "{},{}",
        cluster.brokers[b as usize - 1].bootstrap(),
        cluster.brokers[c as usize - 1].bootstrap()
    );
    // B leads unless it fell out of the ISR again between the check above and the kill (a
    // slow machine can make it lag past replica.lag.time.max.ms); then C does, and B must
    // come back into C's ISR. (C is not killed then: with A gone too, B alone is no quorum.)
    let (leader, _) = wait_state(
        &format!("{b} or {c} leading after {a} died"),
        &rest,
        Duration::from_secs(30),
        |l, _| l == b || l == c,
    )
    .await?;
    expect_log(&format!("read from {leader}"), &rest, &expected).await?;
    if leader == c {
        wait_state(
            &format!("{b} in sync with {c}"),
            &rest,
            Duration::from_secs(60),
            |l, isr| l == c && isr.contains(&b),
        )
        .await?;
    }
    Ok(())
}

async fn leader_cut_off() -> Result<()> {
    let Some((lab, cluster)) = start(3).await? else {
        return Ok(());
    };
    let all = cluster.bootstrap();
    let (_, replicas, _) = partition_state(&all)?;
    let (a, b, c) = (replicas[0], replicas[1], replicas[2]);
    wait_state("the first ISR", &all, Duration::from_secs(30), |l, isr| {
        l == a && isr.len() == 3
    })
    .await?;
    let mut expected = records(200, "before");
    send_all(&acks_all_producer(&all)?, TOPIC, &expected).await?;

    let a_addr = cluster.brokers[a as usize - 1].bootstrap();
    let bc = format!(
        "{},{}",
        cluster.brokers[b as usize - 1].bootstrap(),
        cluster.brokers[c as usize - 1].bootstrap()
    );
    // Clients that know only A, made before the cut.
    let zombie_all = producer(
        &a_addr,
        &[
            ("acks", "all"),
            ("message.timeout.ms", "8000"),
            ("request.timeout.ms", "5000"),
        ],
    )?;
    let zombie_one = producer(
        &a_addr,
        &[
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("retries", "0"),
            ("message.timeout.ms", "8000"),
        ],
    )?;
    partition_state(&a_addr)?;

    lab.cut(a as usize, b as usize)?;
    lab.cut(a as usize, c as usize)?;
    let cut_at = Instant::now();
    // acks=all through the cut-off leader: never acknowledged.
    let mut pending_all = Vec::new();
    for r in records(20, "zombie-all") {
        pending_all.push(enqueue(&zombie_all, TOPIC, &r).await?);
    }
    // acks=1 through it: acknowledged from its own log (a divergent suffix).
    let mut one_acked = 0;
    for r in records(20, "zombie-one") {
        let delivery = enqueue(&zombie_one, TOPIC, &r).await?;
        if matches!(delivery.await, Ok(Ok(_))) {
            one_acked += 1;
        }
    }
    ensure!(
        one_acked > 0,
        "the cut-off leader acknowledged no acks=1 record: no divergent suffix was made"
    );

    // The majority fences A and elects B.
    let (new_leader, _) = wait_state(
        "a new leader on the majority side",
        &bc,
        Duration::from_secs(30),
        |l, _| l == b,
    )
    .await?;
    let majority = records(200, "majority");
    send_all(&acks_all_producer(&bc)?, TOPIC, &majority).await?;
    expected.extend(majority);
    for (i, delivery) in pending_all.into_iter().enumerate() {
        let outcome = delivery.await;
        ensure!(
            !matches!(outcome, Ok(Ok(_))),
            "acks=all record {i} was acknowledged by the cut-off leader: {outcome:?}"
        );
    }
    println!(
        "cut for {:?}: {one_acked} acks=1 records taken by the cut-off leader {a}, \
         new leader {new_leader}",
        cut_at.elapsed()
    );

    lab.heal(a as usize, b as usize)?;
    lab.heal(a as usize, c as usize)?;
    // A rejoins (truncating its suffix), and the preferred-leader election hands it back —
    // as the majority sees it (A's own stale view said so all along), then as A sees it.
    for (view, via) in [("the majority", &bc), ("A itself", &a_addr)] {
        wait_state(
            &format!("{a} back in the ISR and leading again, as {view} sees it"),
            via,
            Duration::from_secs(90),
            |l, isr| l == a && isr.len() == 3,
        )
        .await?;
    }
    expect_log(&format!("read from {a} after it returned"), &all, &expected).await
}
