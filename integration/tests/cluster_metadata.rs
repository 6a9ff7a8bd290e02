//! Three `strata serve` processes form one cluster over the openraft metadata quorum (issue 8,
//! first slice): topics created through any broker spread their partitions over all brokers,
//! Metadata from any broker lists every broker and every partition's leader, librdkafka routes
//! produce and fetch to the right broker, the quorum survives the loss of one node (kill -9),
//! and a restarted node catches up with changes it missed.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::client::{
    admin_options, consumer, numbered, numbered_values, topic_names, values_by_partition,
};
use strata_integration::cluster::Cluster;
use strata_integration::{admin, create_topic, producer, run, send_all};

/// (broker ids listed, leader of each partition of `topic`) as one broker reports them.
fn layout(bootstrap: &str, topic: &str) -> Result<(BTreeSet<i32>, Vec<i32>)> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    let brokers = md.brokers().iter().map(|b| b.id()).collect();
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("topic listed")?;
    let mut leaders: Vec<(i32, i32)> = t
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect();
    leaders.sort();
    Ok((brokers, leaders.into_iter().map(|(_, l)| l).collect()))
}

#[test]
fn three_nodes_share_metadata_route_clients_and_survive_a_node_loss() {
    run(Duration::from_secs(240), async {
        let mut cluster = Cluster::start(3, &[])?;
        let b1 = cluster.node(1).bootstrap();
        let b2 = cluster.node(2).bootstrap();
        let b3 = cluster.node(3).bootstrap();

        // Created through node 1; every node reports the same layout, over all three brokers.
        create_topic(&b1, "spread", 6, &[]).await?;
        let (brokers, leaders) = layout(&b3, "spread")?;
        ensure!(brokers == BTreeSet::from([1, 2, 3]), "brokers {brokers:?}");
        ensure!(leaders.len() == 6, "{leaders:?}");
        let used: BTreeSet<i32> = leaders.iter().copied().collect();
        ensure!(used == BTreeSet::from([1, 2, 3]), "leaders {leaders:?}");
        for b in [&b1, &b2] {
            ensure!(
                layout(b, "spread")? == (brokers.clone(), leaders.clone()),
                "layout from {b}"
            );
        }
        // Each partition's directory exists on its leader only.
        for (p, leader) in leaders.iter().enumerate() {
            for id in 1..=3usize {
                let dir = cluster.node(id).data_dir().join(format!("spread-{p}"));
                ensure!(
                    dir.exists() == (*leader == id as i32),
                    "{} on node {id}",
                    dir.display()
                );
            }
        }

        // librdkafka bootstrapped from one node produces to and reads from all three.
        send_all(
            &producer(&b2, &[("acks", "all")])?,
            "spread",
            &numbered(300, "s", 6),
        )
        .await?;
        ensure!(
            values_by_partition(&b3, "spread", 6).await? == numbered_values(300, "s", 6),
            "records read back"
        );

        // Lose node 1 (kill -9): the other two keep a quorum and keep changing metadata.
        cluster.node(1).sigkill()?;
        create_topic(&b2, "after", 3, &[]).await?;
        ensure!(topic_names(&b3)?.contains(&"after".to_string()));

        // Node 1 comes back and catches up: it lists the topic it missed and hosts its share.
        cluster.node(1).restart()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if topic_names(&b1)?.contains(&"after".to_string()) {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "node 1 never saw 'after'"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, after_leaders) = layout(&b1, "after")?;
        for (p, leader) in after_leaders.iter().enumerate() {
            let dir = cluster
                .node(*leader as usize)
                .data_dir()
                .join(format!("after-{p}"));
            ensure!(dir.exists(), "{} missing", dir.display());
        }
        send_all(&producer(&b1, &[])?, "after", &numbered(30, "a", 3)).await?;
        ensure!(
            values_by_partition(&b2, "after", 3).await? == numbered_values(30, "a", 3),
            "after read back"
        );
        ensure!(
            values_by_partition(&b1, "spread", 6).await? == numbered_values(300, "s", 6),
            "spread after restart"
        );

        // Deleted through node 3: every node drops its partitions.
        let deleted = admin(&b3)?
            .delete_topics(&["spread"], &admin_options())
            .await?;
        ensure!(deleted == vec![Ok("spread".to_string())], "{deleted:?}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left: Vec<String> = (1..=3usize)
                .flat_map(|id| (0..6).map(move |p| (id, p)))
                .filter(|(id, p)| {
                    cluster.brokers[id - 1]
                        .data_dir()
                        .join(format!("spread-{p}"))
                        .exists()
                })
                .map(|(id, p)| format!("node {id}: spread-{p}"))
                .collect();
            if left.is_empty() {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "left behind: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    });
}
