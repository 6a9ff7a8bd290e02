//! The quorum over real gRPC on loopback: formation, forwarding, leader loss, catch-up after a
//! restart, and a one-voter quorum surviving restarts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_meta::{Operation, Outcome};
use strata_quorum::{Quorum, QuorumConfig, Voters};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(id: u64, dir: &std::path::Path, voters: &Voters) -> QuorumConfig {
    QuorumConfig {
        node_id: id,
        dir: dir.join(format!("n{id}")),
        voters: voters.clone(),
        cluster_listen: Some(voters[&id].parse().unwrap()),
        tls: None,
        heartbeat: Duration::from_millis(50),
        election_timeout: Duration::from_millis(300),
    }
}

fn create(name: &str) -> Operation {
    Operation::CreateTopic {
        name: name.into(),
        topic_id: format!("id-{name}"),
        partitions: 2,
        replication_factor: 1,
        configs: BTreeMap::new(),
        validate_only: false,
    }
}

async fn wait_leader(nodes: &[&Arc<Quorum>]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leaders: Vec<_> = nodes.iter().filter_map(|n| n.leader()).collect();
        if leaders.len() == nodes.len()
            && leaders.iter().all(|l| *l == leaders[0])
            && nodes.iter().any(|n| n.node_id() == leaders[0])
        {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "no agreed leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_topic(node: &Quorum, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.image().topics.contains_key(name) {
        assert!(
            Instant::now() < deadline,
            "node {} never saw {name}",
            node.node_id()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_form_forward_fail_over_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let voters: Voters = (1..=3)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(
            Quorum::start(config(id, dir.path(), &voters))
                .await
                .unwrap(),
        );
    }
    let leader = wait_leader(&nodes.iter().collect::<Vec<_>>()).await;
    let follower = nodes.iter().find(|n| n.node_id() != leader).unwrap();
    // A follower forwards to the leader and returns once it has applied the change itself.
    let out = follower.execute(create("a")).await.unwrap();
    assert!(matches!(out, Outcome::Topic(ref t) if t.name == "a" && t.partitions == 2));
    assert!(follower.image().topics.contains_key("a"));
    for n in &nodes {
        wait_topic(n, "a").await;
    }
    // Validation runs on the leader: a duplicate is refused with TOPIC_ALREADY_EXISTS.
    let dup = follower.execute(create("a")).await.unwrap_err();
    assert_eq!(dup.kafka_error_code(), 36);
    // Producer-id blocks never overlap, whoever asks.
    let mut blocks = Vec::new();
    for n in &nodes {
        match n.execute(Operation::AllocateProducerIds).await.unwrap() {
            Outcome::ProducerIds { first, end } => blocks.push((first, end)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(blocks, vec![(0, 1000), (1000, 2000), (2000, 3000)]);

    // The leader goes away: the other two elect a new one and keep committing.
    let old = nodes.iter().position(|n| n.node_id() == leader).unwrap();
    nodes[old].shutdown().await;
    let rest: Vec<&Arc<Quorum>> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != old)
        .map(|(_, n)| n)
        .collect();
    let new_leader = wait_leader(&rest).await;
    assert_ne!(new_leader, leader);
    rest[0].execute(create("b")).await.unwrap();
    for n in &rest {
        wait_topic(n, "b").await;
    }

    // The old leader restarts from its directory and catches up.
    let restarted = Quorum::start(config(leader, dir.path(), &voters))
        .await
        .unwrap();
    wait_topic(&restarted, "b").await;
    let image = restarted.image();
    assert_eq!(
        image.topics.keys().cloned().collect::<Vec<_>>(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(image.next_producer_id, 3000);
    let status = restarted.status();
    assert_eq!(status.voters.len(), 3);
    for n in rest {
        n.shutdown().await;
    }
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_voter_survives_restarts_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = QuorumConfig::single(1, dir.path().join("meta"));
    {
        let q = Quorum::start(cfg.clone()).await.unwrap();
        q.wait_ready(Duration::from_secs(10)).await.unwrap();
        // Enough entries to cross the snapshot policy and purge part of the log.
        for i in 0..1100 {
            q.execute(Operation::AllocateProducerIds).await.unwrap();
            if i == 0 {
                q.execute(create("kept")).await.unwrap();
            }
        }
        q.shutdown().await;
    }
    assert!(dir.path().join("meta/raft-snapshot.json").exists());
    let q = Quorum::start(cfg).await.unwrap();
    q.wait_ready(Duration::from_secs(10)).await.unwrap();
    let image = q.image();
    assert!(image.topics.contains_key("kept"));
    assert_eq!(image.next_producer_id, 1100 * 1000);
    q.shutdown().await;
}
