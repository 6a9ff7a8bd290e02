//! A rolling restart (issue 8): each of three nodes in turn gets SIGTERM (a controlled
//! shutdown: it fences itself so its partitions move first), then starts again and catches up,
//! while an idempotent acks=all producer and a consumer keep running. Neither sees anything but
//! retries: every record is acknowledged, and the consumer reads each exactly once, in order.
//! Afterwards the automatic preferred-leader election (`auto.leader.rebalance.enable`) gives
//! every partition back to its preferred replica.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use strata_integration::client::{
    consumer, create_replicated_topic, enqueue, numbered, numbered_values,
};
use strata_integration::cluster::Cluster;
use strata_integration::{producer, run};

const PARTITIONS: i32 = 3;

/// What the reader saw: the values per partition, and its errors other than end-of-partition.
type Seen = (BTreeMap<i32, Vec<String>>, Vec<String>);
const RECORDS: usize = 6000;

/// True once every partition of `topic` has its full ISR.
fn all_in_sync(bootstrap: &str, topic: &str) -> Result<bool> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("topic")?;
    Ok(t.partitions().len() == PARTITIONS as usize
        && t.partitions()
            .iter()
            .all(|p| p.leader() >= 0 && p.isr().len() == 3))
}

/// Each partition's leader and ISR as Metadata reports them (for failure messages).
fn isr_state(bootstrap: &str, topic: &str) -> String {
    let Ok(c) = consumer(bootstrap, &[]) else {
        return "no consumer".into();
    };
    match c.fetch_metadata(Some(topic), Duration::from_secs(10)) {
        Ok(md) => md
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .map(|p| format!("p{} leader {} isr {:?}", p.id(), p.leader(), p.isr()))
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("metadata: {e}"),
    }
}

#[test]
fn rolling_restart_is_invisible_to_producers_and_consumers() {
    run(Duration::from_secs(300), async {
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
                "leader.imbalance.check.interval.seconds=1",
            ],
        )?;
        let all = cluster.bootstrap();
        create_replicated_topic(&all, "roll", PARTITIONS, 3, &[("min.insync.replicas", "2")])
            .await?;

        // The consumer reads the whole time, in its own thread.
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let all = all.clone();
            let done = done.clone();
            std::thread::spawn(move || -> Result<Seen> {
                let c = consumer(&all, &[])?;
                let mut tpl = TopicPartitionList::new();
                for p in 0..PARTITIONS {
                    tpl.add_partition_offset("roll", p, Offset::Beginning)?;
                }
                c.assign(&tpl)?;
                let mut seen: BTreeMap<i32, Vec<String>> = BTreeMap::new();
                // Errors other than end-of-partition, kept for the failure message.
                let mut errors: Vec<String> = Vec::new();
                let start = Instant::now();
                let deadline = start + Duration::from_secs(240);
                while seen.values().map(Vec::len).sum::<usize>() < RECORDS {
                    ensure!(Instant::now() < deadline, "consumer timed out");
                    // Leader moves and restarts surface as transient errors: retried.
                    match c.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => seen.entry(m.partition()).or_default().push(
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                        ),
                        Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                        Some(Err(e)) => {
                            if errors.len() < 20 {
                                errors.push(format!("{:?}: {e}", start.elapsed()));
                            }
                        }
                    }
                    if done.load(Ordering::Relaxed) && Instant::now() > deadline {
                        break;
                    }
                }
                Ok((seen, errors))
            })
        };

        let producer = producer(
            &all,
            &[
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "120000"),
                ("linger.ms", "5"),
            ],
        )?;
        let records = numbered(RECORDS, "r", PARTITIONS);
        let mut pending = Vec::new();
        let mut next = 0;
        for node in 1..=3usize {
            for r in &records[next..next + 1000] {
                pending.push(enqueue(&producer, "roll", r).await?);
            }
            next += 1000;
            cluster.node(node).sigterm_and_wait()?;
            for r in &records[next..next + 500] {
                pending.push(enqueue(&producer, "roll", r).await?);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            next += 500;
            cluster.node(node).restart()?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !all_in_sync(&all, "roll").unwrap_or(false) {
                ensure!(
                    Instant::now() < deadline,
                    "ISR never full after restarting node {node}: {}",
                    isr_state(&all, "roll")
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        for r in &records[next..] {
            pending.push(enqueue(&producer, "roll", r).await?);
        }
        for (i, f) in pending.into_iter().enumerate() {
            f.await
                .context("producer gone")?
                .map_err(|(e, _)| anyhow::anyhow!("record {i} not acknowledged: {e}"))?;
        }
        done.store(true, Ordering::Relaxed);
        let (seen, errors) = reader.join().expect("reader thread")?;
        let want = numbered_values(RECORDS, "r", PARTITIONS);
        for p in 0..PARTITIONS {
            ensure!(
                seen.get(&p).cloned().unwrap_or_default() == want[p as usize],
                "partition {p}: the consumer saw {} records, not exactly the {} produced in order \
                 (consumer errors: {errors:?})",
                seen.get(&p).map_or(0, Vec::len),
                want[p as usize].len()
            );
        }
        // Leadership returns to the preferred replicas (the first of each replica list).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let md = consumer(&all, &[])?
                .fetch_metadata(Some("roll"), Duration::from_secs(10))
                .context("metadata")?;
            let t = md
                .topics()
                .iter()
                .find(|t| t.name() == "roll")
                .context("topic")?;
            let preferred = t
                .partitions()
                .iter()
                .all(|p| p.replicas().first() == Some(&p.leader()));
            if preferred {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "leadership never went back to the preferred replicas"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    });
}
