//! Compaction with replication: a follower that was down while its leader cleaned a compacted
//! partition catches up across the cleaned section (offset gaps, as Kafka's followers take
//! them), rejoins the ISR, and after the leader dies the new leader serves every key's latest
//! value at its acknowledged offset.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use strata_integration::client::{consumer, create_replicated_topic};
use strata_integration::cluster::Cluster;
use strata_integration::{producer, read_topic, run};

const TOPIC: &str = "cc";
const KEYS: usize = 10;

fn partition0(bootstrap: &str) -> Result<(i32, Vec<i32>)> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == TOPIC)
        .context("topic")?;
    let p = t.partitions().iter().find(|p| p.id() == 0).context("p0")?;
    let mut isr = p.isr().to_vec();
    isr.sort();
    Ok((p.leader(), isr))
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok().unwrap_or(false) {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn send(
    p: &FutureProducer,
    acked: &mut BTreeMap<i64, (String, String)>,
    k: String,
    v: String,
) -> Result<()> {
    let record: FutureRecord<'_, str, str> =
        FutureRecord::to(TOPIC).key(k.as_str()).payload(v.as_str());
    let future = match p.send_result(record) {
        Ok(f) => f,
        Err((e, _)) => bail!("enqueue: {e}"),
    };
    match future.await {
        Ok(Ok(d)) => {
            acked.insert(d.offset, (k, v));
            Ok(())
        }
        other => bail!("delivery failed: {other:?}"),
    }
}

#[test]
fn a_follower_catches_up_across_a_cleaned_section() {
    run(Duration::from_secs(240), async {
        let mut cluster = Cluster::start(
            3,
            &[
                "--set",
                "replica.lag.time.max.ms=3000",
                "--set",
                "log.cleaner.backoff.ms=100",
                "--set",
                "log.retention.check.interval.ms=100",
            ],
        )?;
        let any = cluster.bootstrap();
        let configs = [
            ("cleanup.policy", "compact"),
            ("segment.ms", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
        ];
        create_replicated_topic(&any, TOPIC, 1, 3, &configs).await?;
        wait_for("all in sync", || Ok(partition0(&any)?.1 == vec![1, 2, 3])).await?;
        let leader = partition0(&any)?.0 as usize;
        let followers: Vec<usize> = (1..=3).filter(|&n| n != leader).collect();
        let lagging = followers[0];
        let p = producer(&any, &[("acks", "all")])?;
        let mut acked = BTreeMap::new();
        send(&p, &mut acked, "first".into(), "x".into()).await?;
        cluster.node(lagging).sigkill()?;
        let two = {
            let mut v = vec![leader as i32, followers[1] as i32];
            v.sort();
            v
        };
        wait_for("the ISR to shrink", || Ok(partition0(&any)?.1 == two)).await?;
        for round in 0..6 {
            for k in 0..KEYS {
                send(&p, &mut acked, format!("k{k}"), format!("r{round}-{k}")).await?;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let end = *acked.keys().last().unwrap() + 1;
        let leader_dir = cluster.node(leader).data_dir().join(format!("{TOPIC}-0"));
        wait_for("the leader's clean", || {
            let text = std::fs::read_to_string(leader_dir.join("cleaner-offset-checkpoint"))?;
            Ok(text
                .lines()
                .nth(1)
                .and_then(|l| l.trim().parse::<i64>().ok())
                .is_some_and(|c| c >= end))
        })
        .await?;

        // The lagging follower comes back: it fetches from offset 1 across the cleaned section.
        cluster.node(lagging).restart()?;
        wait_for("the follower to rejoin the ISR", || {
            Ok(partition0(&any)?.1 == vec![1, 2, 3])
        })
        .await?;

        // The leader dies; whoever leads now serves the latest value of every key.
        cluster.node(leader).sigkill()?;
        wait_for("a new leader", || {
            let (l, _) = partition0(&any)?;
            Ok(l > 0 && l as usize != leader)
        })
        .await?;
        let new_leader = partition0(&any)?.0;
        let records = read_topic(&any, TOPIC, 1).await?;
        let mut latest: BTreeMap<String, i64> = BTreeMap::new();
        for (&o, (k, _)) in &acked {
            latest.insert(k.clone(), o);
        }
        let mut seen = BTreeMap::new();
        for r in &records {
            let k = String::from_utf8(r.key.clone().context("key")?)?;
            let v = String::from_utf8(r.value.clone().context("value")?)?;
            ensure!(
                acked.get(&r.offset) == Some(&(k.clone(), v.clone())),
                "offset {}: {k}={v} was not acknowledged there",
                r.offset
            );
            seen.insert(k, r.offset);
        }
        for (k, o) in &latest {
            ensure!(
                seen.get(k) == Some(o),
                "key {k}: latest at {o}, read {:?}",
                seen.get(k)
            );
        }
        eprintln!(
            "new leader {new_leader} (the follower that caught up: {lagging}) served {} records for {} acknowledged",
            records.len(),
            acked.len()
        );
        Ok(())
    });
}
