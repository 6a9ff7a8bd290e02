//! Leader failover (issue 8): three `strata serve` processes, a topic with replication factor 3
//! and `min.insync.replicas=2`, an idempotent librdkafka producer with acks=all writing without
//! pause. The leader is killed with SIGKILL mid-stream, later a leader is frozen with SIGSTOP
//! and resumed: the controller fences it after `broker.session.timeout.ms`, a new leader is
//! elected from the ISR with a higher leader epoch, the producer follows it, and the checker
//! finds every acknowledged record exactly once and in order. The returned nodes truncate any
//! divergent suffix (OffsetForLeaderEpoch) and end up byte-identical to the leader.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::client::{
    consumer, create_replicated_topic, enqueue, numbered, numbered_values, values_by_partition,
};
use strata_integration::cluster::Cluster;
use strata_integration::{producer, run};

/// (leader, leader epoch is not exposed by rdkafka, ISR) of partition 0.
fn leader_and_isr(bootstrap: &str, topic: &str) -> Result<(i32, Vec<i32>)> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("topic listed")?;
    let p = t.partitions().iter().find(|p| p.id() == 0).context("p0")?;
    let mut isr = p.isr().to_vec();
    isr.sort();
    Ok((p.leader(), isr))
}

/// Waits until the cluster (asked through `bootstrap`) names a leader other than `old`.
async fn new_leader(bootstrap: &str, topic: &str, old: i32) -> Result<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((l, _)) = leader_and_isr(bootstrap, topic) {
            if l >= 0 && l != old {
                return Ok(l);
            }
        }
        ensure!(Instant::now() < deadline, "no new leader elected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_full_isr(bootstrap: &str, topic: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok((_, isr)) = leader_and_isr(bootstrap, topic) {
            if isr == vec![1, 2, 3] {
                return Ok(());
            }
        }
        ensure!(Instant::now() < deadline, "the ISR never grew back to 3");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn bootstrap_without(cluster: &mut Cluster, down: &[usize]) -> String {
    (1..=3usize)
        .filter(|n| !down.contains(n))
        .map(|n| cluster.node(n).bootstrap())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn acknowledged_writes_survive_kill_9_and_sigstop_of_the_leader() {
    run(Duration::from_secs(300), async {
        let mut cluster = Cluster::start(
            3,
            &[
                "--set",
                "broker.session.timeout.ms=2000",
                "--set",
                "broker.heartbeat.interval.ms=200",
                "--set",
                "replica.lag.time.max.ms=2000",
            ],
        )?;
        let all = cluster.bootstrap();
        create_replicated_topic(&all, "fo", 1, 3, &[("min.insync.replicas", "2")]).await?;
        let producer = producer(
            &all,
            &[
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "60000"),
                ("linger.ms", "5"),
            ],
        )?;

        // Phase 1: kill -9 the leader while records stream in.
        let (first, _) = leader_and_isr(&all, "fo")?;
        let phase1 = numbered(3000, "a", 1);
        let mut pending = Vec::new();
        for (i, r) in phase1.iter().enumerate() {
            pending.push(enqueue(&producer, "fo", r).await?);
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if i == 1000 {
                cluster.node(first as usize).sigkill()?;
            }
        }
        for (i, f) in pending.into_iter().enumerate() {
            f.await
                .context("producer gone")?
                .map_err(|(e, _)| anyhow::anyhow!("record {i} not acknowledged: {e}"))?;
        }
        let live = bootstrap_without(&mut cluster, &[first as usize]);
        let second = new_leader(&live, "fo", first).await?;
        ensure!(
            values_by_partition(&live, "fo", 1).await? == numbered_values(3000, "a", 1),
            "after kill -9: every acknowledged record once, in order"
        );
        cluster.node(first as usize).restart()?;
        wait_full_isr(&all, "fo").await?;

        // Phase 2: freeze the new leader (SIGSTOP) mid-stream; it is fenced and replaced; it
        // is resumed later and must not have acknowledged anything the others lack.
        let phase2 = numbered(2000, "b", 1);
        let mut pending = Vec::new();
        for (i, r) in phase2.iter().enumerate() {
            pending.push(enqueue(&producer, "fo", r).await?);
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if i == 500 {
                cluster.node(second as usize).pause()?;
            }
            if i == 1000 {
                let others = bootstrap_without(&mut cluster, &[second as usize]);
                new_leader(&others, "fo", second).await?;
            }
            if i == 1500 {
                cluster.node(second as usize).resume()?;
            }
        }
        for (i, f) in pending.into_iter().enumerate() {
            f.await
                .context("producer gone")?
                .map_err(|(e, _)| anyhow::anyhow!("phase 2 record {i} not acknowledged: {e}"))?;
        }
        wait_full_isr(&all, "fo").await?;
        let mut want = numbered_values(3000, "a", 1);
        want[0].extend(numbered_values(2000, "b", 1).remove(0));
        ensure!(
            values_by_partition(&all, "fo", 1).await? == want,
            "after SIGSTOP: every acknowledged record once, in order"
        );

        // All three copies converge to the same bytes.
        let (leader, _) = leader_and_isr(&all, "fo")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let read = |n: usize, c: &mut Cluster| {
                let dir = c.node(n).data_dir().join("fo-0");
                let mut segs: Vec<_> = std::fs::read_dir(&dir)
                    .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                    .unwrap_or_default();
                segs.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "log"));
                segs.sort();
                segs.iter()
                    .flat_map(|p| std::fs::read(p).unwrap_or_default())
                    .collect::<Vec<u8>>()
            };
            let want = read(leader as usize, &mut cluster);
            let same = (1..=3usize).all(|n| read(n, &mut cluster) == want);
            if same {
                break;
            }
            ensure!(Instant::now() < deadline, "copies never converged");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    });
}
