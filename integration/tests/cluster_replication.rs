//! Replication between brokers (issue 8): a topic with replication factor 3 on three
//! `strata serve` processes. Followers copy the leader byte for byte (Fetch with a replica id),
//! acks=all is acknowledged once the ISR has a record, the ISR shrinks when a follower is
//! killed (-9) and grows again when it is back and caught up, and below `min.insync.replicas`
//! acks=all is refused with NOT_ENOUGH_REPLICAS, as Kafka does. (Two of three nodes down would
//! also take the metadata quorum down, as it would a three-controller KRaft cluster, so the
//! refusal is shown on a topic with replication factor 2.)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use strata_integration::client::{
    consumer, create_replicated_topic, numbered, numbered_values, values_by_partition,
};
use strata_integration::cluster::Cluster;
use strata_integration::{producer, run, send_all};

/// (leader, replicas, ISR) of partition 0 of `topic`, as `bootstrap` reports it.
fn partition0(bootstrap: &str, topic: &str) -> Result<(i32, Vec<i32>, Vec<i32>)> {
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
    let mut replicas = p.replicas().to_vec();
    replicas.sort();
    Ok((p.leader(), replicas, isr))
}

async fn wait_isr(bootstrap: &str, topic: &str, want: &[i32]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, isr) = partition0(bootstrap, topic)?;
        if isr == want {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "ISR stayed {isr:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn segment(cluster: &mut Cluster, topic: &str, node: usize) -> PathBuf {
    cluster
        .node(node)
        .data_dir()
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log")
}

/// Waits until every node's copy of partition 0's first segment is byte-identical to the
/// leader's, and returns its length.
async fn wait_identical(
    cluster: &mut Cluster,
    topic: &str,
    leader: usize,
    nodes: &[usize],
) -> Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let want = std::fs::read(segment(cluster, topic, leader))?;
        let mut same = true;
        for &n in nodes {
            same &= std::fs::read(segment(cluster, topic, n)).unwrap_or_default() == want;
        }
        if same {
            return Ok(want.len());
        }
        ensure!(
            Instant::now() < deadline,
            "follower copies never matched the leader's"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn rf3_replicates_tracks_the_isr_and_enforces_min_insync() {
    run(Duration::from_secs(240), async {
        let mut cluster = Cluster::start(3, &["--set", "replica.lag.time.max.ms=3000"])?;
        let any = cluster.bootstrap();
        create_replicated_topic(&any, "rep", 1, 3, &[("min.insync.replicas", "2")]).await?;
        let (leader, replicas, isr) = partition0(&any, "rep")?;
        ensure!(
            replicas == vec![1, 2, 3] && isr == vec![1, 2, 3],
            "a new partition starts with every replica in sync: {replicas:?} {isr:?}"
        );
        let leader = leader as usize;
        let followers: Vec<usize> = (1..=3).filter(|&n| n != leader).collect();

        let idempotent = [("acks", "all"), ("enable.idempotence", "true")];
        send_all(&producer(&any, &idempotent)?, "rep", &numbered(200, "a", 1)).await?;
        let len = wait_identical(&mut cluster, "rep", leader, &followers).await?;
        ensure!(len > 0, "empty segment");

        // One follower dies: it leaves the ISR after replica.lag.time.max.ms, and acks=all
        // goes on with the two left (min.insync.replicas=2).
        cluster.node(followers[0]).sigkill()?;
        let two = {
            let mut v = vec![leader as i32, followers[1] as i32];
            v.sort();
            v
        };
        wait_isr(&any, "rep", &two).await?;
        send_all(&producer(&any, &idempotent)?, "rep", &numbered(100, "b", 1)).await?;

        // It comes back, catches up, rejoins the ISR, and holds the same bytes as the leader.
        cluster.node(followers[0]).restart()?;
        wait_isr(&any, "rep", &[1, 2, 3]).await?;
        send_all(&producer(&any, &idempotent)?, "rep", &numbered(100, "c", 1)).await?;
        wait_identical(&mut cluster, "rep", leader, &followers).await?;
        let mut want = numbered_values(200, "a", 1);
        want[0].extend(numbered_values(100, "b", 1).remove(0));
        want[0].extend(numbered_values(100, "c", 1).remove(0));
        ensure!(
            values_by_partition(&any, "rep", 1).await? == want,
            "every acknowledged record once, in order"
        );

        // Replication factor 2 with min.insync.replicas=2: with its follower dead, the ISR is
        // the leader alone and acks=all is refused with NOT_ENOUGH_REPLICAS; acks=1 still works.
        create_replicated_topic(&any, "pair", 1, 2, &[("min.insync.replicas", "2")]).await?;
        let (pair_leader, pair_replicas, _) = partition0(&any, "pair")?;
        wait_isr(&any, "pair", &pair_replicas).await?;
        let pair_follower = *pair_replicas
            .iter()
            .find(|&&r| r != pair_leader)
            .context("follower")?;
        cluster.node(pair_follower as usize).sigkill()?;
        let live: String = (1..=3usize)
            .filter(|&n| n != pair_follower as usize)
            .map(|n| cluster.node(n).bootstrap())
            .collect::<Vec<_>>()
            .join(",");
        wait_isr(&live, "pair", &[pair_leader]).await?;
        let short = producer(
            &live,
            &[
                ("acks", "all"),
                ("message.timeout.ms", "3000"),
                ("retries", "0"),
            ],
        )?;
        let refused = short
            .send(
                FutureRecord::<(), [u8]>::to("pair")
                    .partition(0)
                    .payload(b"refused"),
                Duration::from_secs(10),
            )
            .await;
        // Refused at append, or (when the ISR shrank while it waited) after it, as Kafka does;
        // in the second case the record is in the log although it was not acknowledged.
        let appended_anyway = match refused {
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::NotEnoughReplicas), _)) => false,
            Err((
                KafkaError::MessageProduction(RDKafkaErrorCode::NotEnoughReplicasAfterAppend),
                _,
            )) => true,
            other => anyhow::bail!("expected NOT_ENOUGH_REPLICAS, got {other:?}"),
        };
        send_all(
            &producer(&live, &[("acks", "1")])?,
            "pair",
            &numbered(10, "p", 1),
        )
        .await?;
        cluster.node(pair_follower as usize).restart()?;
        wait_isr(&any, "pair", &pair_replicas).await?;
        send_all(&producer(&any, &idempotent)?, "pair", &numbered(10, "q", 1)).await?;
        let mut want = vec![Vec::new()];
        if appended_anyway {
            want[0].push("refused".to_string());
        }
        want[0].extend(numbered_values(10, "p", 1).remove(0));
        want[0].extend(numbered_values(10, "q", 1).remove(0));
        ensure!(
            values_by_partition(&any, "pair", 1).await? == want,
            "pair records"
        );
        Ok(())
    });
}
