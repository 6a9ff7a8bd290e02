//! Partition reassignment (issue 8): AlterPartitionReassignments and ListPartitionReassignments
//! (sent raw with kafka-protocol: librdkafka has no API for them) on three `strata serve`
//! processes, and `strata broker decommission`.
//!
//! `a_reassigned_partition_moves_its_data_and_survives_its_old_leader`: a topic with
//! replication factor 2; the partition placed on brokers {1, 2} holds 200 records written with
//! acks=all and is reassigned to [2, 3]. Checked: bad requests get Kafka's error codes
//! (INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION); while
//! listed, the reassignment shows adding [3] and removing [1]; once the list is empty,
//! Metadata shows replicas [2, 3] in that order with ISR {2, 3}; broker 1's directory for the
//! partition is gone; a consumer reads exactly the 200 values in order; after 100 more records
//! (acks=all) broker 3's copy is byte-identical to broker 2's; and after kill -9 of broker 2,
//! broker 3 leads and serves all 300 records.
//!
//! `decommission_moves_every_replica_off_a_broker`: two topics with replication factor 2 and
//! records in every partition (the first 5 of each `d1` partition deleted with DeleteRecords,
//! so their leaders' log start is 5), plus `__consumer_offsets` (replication factor 3).
//! `strata broker decommission 3` exits 0 and afterwards no partition (internal ones included)
//! lists broker 3 as a replica or in its ISR, broker 3 holds no directory of those topics, each
//! new `d1` replica restarted its copy at the leader's log start (its only segment starts at
//! offset 5), `strata cluster status` shows no reassignment in progress, and after kill -9 of
//! broker 3 every record is still read back, in order, from brokers 1 and 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use strata_integration::client::{
    admin, admin_options, consumer, create_replicated_topic, numbered, numbered_values,
    read_partitions, read_topic, Outgoing,
};
use strata_integration::cluster::Cluster;
use strata_integration::raw::RawConn;
use strata_integration::{producer, run, send_all, strata_cli};

const BROKER_ARGS: &[&str] = &[
    "--set",
    "broker.session.timeout.ms=3000",
    "--set",
    "broker.heartbeat.interval.ms=300",
    "--set",
    "replica.lag.time.max.ms=5000",
];

/// Bound of every wait for the cluster to converge.
const CONVERGE: Duration = Duration::from_secs(60);

const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Records deleted (DeleteRecords) from the start of each partition of `d1`.
const DELETED: i64 = 5;

/// One partition as Metadata reports it: replicas in the broker's order, ISR sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    id: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// Every partition of `topic` (all topics when `None`), by topic, according to `bootstrap`.
fn views(bootstrap: &str, topic: Option<&str>) -> Result<Vec<(String, View)>> {
    let md = consumer(bootstrap, &[("allow.auto.create.topics", "false")])?
        .fetch_metadata(topic, Duration::from_secs(10))
        .context("Metadata")?;
    let mut out = Vec::new();
    for t in md.topics() {
        if let Some(e) = t.error() {
            bail!("topic {}: error {e:?}", t.name());
        }
        for p in t.partitions() {
            let mut isr = p.isr().to_vec();
            isr.sort();
            out.push((
                t.name().to_string(),
                View {
                    id: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr,
                },
            ));
        }
    }
    out.sort_by_key(|(t, v)| (t.clone(), v.id));
    Ok(out)
}

fn partition(bootstrap: &str, topic: &str, id: i32) -> Result<View> {
    views(bootstrap, Some(topic))?
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v.id == id)
        .with_context(|| format!("{topic}-{id} is not listed"))
}

/// Polls `probe` every 250 ms until it returns `Some`, for at most `CONVERGE`.
async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + CONVERGE;
    let mut last = String::new();
    loop {
        match probe() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: not within {CONVERGE:?} (last error: {last})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A raw Kafka connection for the requests librdkafka does not expose.
fn conn(addr: SocketAddr) -> Result<RawConn> {
    RawConn::open(addr, "cluster-reassign-it", Duration::from_secs(30))
}

/// AlterPartitionReassignments v0 for one partition (`None` cancels): its error code.
fn reassign(addr: SocketAddr, topic: &str, p: i32, replicas: Option<&[i32]>) -> Result<i16> {
    let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(p)
                .with_replicas(
                    replicas.map(|r| r.iter().copied().map(BrokerId).collect()),
                )]),
    ]);
    let resp: AlterPartitionReassignmentsResponse =
        conn(addr)?.call(ApiKey::AlterPartitionReassignments, 0, &req)?;
    ensure!(resp.error_code == 0, "top-level error {}", resp.error_code);
    let r = resp
        .responses
        .iter()
        .find(|t| t.name.0.as_str() == topic)
        .and_then(|t| t.partitions.iter().find(|x| x.partition_index == p))
        .context("the response lacks the partition")?;
    Ok(r.error_code)
}

/// ListPartitionReassignments v0 (all): `(topic, partition, replicas, adding, removing)`.
type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

fn list_reassignments(addr: SocketAddr) -> Result<Vec<Ongoing>> {
    let resp: ListPartitionReassignmentsResponse = conn(addr)?.call(
        ApiKey::ListPartitionReassignments,
        0,
        &ListPartitionReassignmentsRequest::default(),
    )?;
    ensure!(resp.error_code == 0, "error {}", resp.error_code);
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect())
}

fn first_segment(cluster: &mut Cluster, node: usize, topic: &str, p: i32) -> PathBuf {
    cluster
        .node(node)
        .data_dir()
        .join(format!("{topic}-{p}"))
        .join("00000000000000000000.log")
}

fn values(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

fn records_to(p: i32, tag: &str, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| Outgoing {
            partition: Some(p),
            key: Some(format!("k{i}").into_bytes()),
            value: format!("{tag}-{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

/// Every value of partition `p` of `topic`, in offset order.
async fn read_partition(bootstrap: &str, topic: &str, p: i32) -> Result<Vec<String>> {
    let read = read_partitions(bootstrap, topic, &[(p, Offset::Beginning)], &[]).await?;
    let mut offsets: Vec<i64> = read.iter().map(|r| r.offset).collect();
    let sorted = {
        let mut s = offsets.clone();
        s.sort();
        s
    };
    ensure!(offsets == sorted, "records out of offset order");
    offsets.dedup();
    ensure!(offsets.len() == read.len(), "an offset read twice");
    Ok(read
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect())
}

#[test]
fn a_reassigned_partition_moves_its_data_and_survives_its_old_leader() {
    run(Duration::from_secs(300), async {
        const TOPIC: &str = "moving";
        let mut cluster = Cluster::start(3, BROKER_ARGS)?;
        let any = cluster.bootstrap();
        let addr = cluster.node(1).addr();
        // Three partitions of replication factor 2 on three brokers: round-robin places
        // exactly one of them on {1, 2}.
        create_replicated_topic(&any, TOPIC, 3, 2, &[]).await?;
        let placed = wait_for("the partitions on {1, 2} in sync", || {
            let on_12: Vec<View> = views(&any, Some(TOPIC))?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| {
                    let mut r = v.replicas.clone();
                    r.sort();
                    r == [1, 2]
                })
                .collect();
            Ok((on_12.len() == 1 && on_12[0].isr == [1, 2]).then(|| on_12[0].clone()))
        })
        .await?;
        let p = placed.id;
        let acks_all = [("acks", "all"), ("enable.idempotence", "true")];
        send_all(&producer(&any, &acks_all)?, TOPIC, &records_to(p, "a", 200)).await?;

        // Bad requests: Kafka's error codes, and nothing changes.
        for (replicas, want) in [
            (Some(&[][..]), INVALID_REPLICA_ASSIGNMENT),
            (Some(&[2, 2][..]), INVALID_REPLICA_ASSIGNMENT),
            (Some(&[2, 9][..]), INVALID_REPLICA_ASSIGNMENT),
            (None, NO_REASSIGNMENT_IN_PROGRESS),
        ] {
            let code = reassign(addr, TOPIC, p, replicas)?;
            ensure!(code == want, "{replicas:?}: error {code}, wanted {want}");
        }
        ensure!(reassign(addr, TOPIC, 9, Some(&[1][..]))? == UNKNOWN_TOPIC_OR_PARTITION);
        ensure!(reassign(addr, "nope", 0, Some(&[1][..]))? == UNKNOWN_TOPIC_OR_PARTITION);
        ensure!(
            partition(&any, TOPIC, p)?.replicas == placed.replicas,
            "a refused reassignment changed the replicas"
        );

        // Move it to [2, 3] (sent to broker 3: any broker forwards to the quorum).
        let code = reassign(cluster.node(3).addr(), TOPIC, p, Some(&[2, 3][..]))?;
        ensure!(code == 0, "reassignment refused with error {code}");
        let listed = list_reassignments(addr)?;
        for (t, q, replicas, adding, removing) in &listed {
            // It may already be complete; while listed it shows both sets.
            ensure!(
                (t.as_str(), *q) == (TOPIC, p)
                    && replicas == &[2, 3, 1]
                    && adding == &[3]
                    && removing == &[1],
                "listed {listed:?}"
            );
        }
        wait_for("ListPartitionReassignments to be empty", || {
            Ok(list_reassignments(addr)?.is_empty().then_some(()))
        })
        .await?;
        let moved = partition(&any, TOPIC, p)?;
        ensure!(moved.replicas == [2, 3], "replicas {:?}", moved.replicas);
        ensure!(moved.isr == [2, 3], "ISR {:?}", moved.isr);
        ensure!(
            moved.leader == 2 || moved.leader == 3,
            "leader {}",
            moved.leader
        );
        let old_dir = cluster.node(1).data_dir().join(format!("{TOPIC}-{p}"));
        wait_for("broker 1 to remove its copy", || {
            Ok((!old_dir.exists()).then_some(()))
        })
        .await?;
        ensure!(
            read_partition(&any, TOPIC, p).await? == values("a", 200),
            "the 200 records, once, in order"
        );

        // More records with acks=all reach both new replicas; the new copy is byte-identical.
        send_all(&producer(&any, &acks_all)?, TOPIC, &records_to(p, "b", 100)).await?;
        let leader = partition(&any, TOPIC, p)?.leader as usize;
        let follower = if leader == 2 { 3 } else { 2 };
        let (lead_seg, follow_seg) = (
            first_segment(&mut cluster, leader, TOPIC, p),
            first_segment(&mut cluster, follower, TOPIC, p),
        );
        wait_for("the new replica's copy to match the leader's", || {
            let a = std::fs::read(&lead_seg)?;
            Ok((!a.is_empty() && std::fs::read(&follow_seg)? == a).then_some(()))
        })
        .await?;

        // Broker 2 dies: broker 3, in sync, leads and serves everything.
        cluster.node(2).sigkill()?;
        let live = format!(
            "{},{}",
            cluster.node(1).bootstrap(),
            cluster.node(3).bootstrap()
        );
        wait_for("broker 3 to lead", || {
            Ok((partition(&live, TOPIC, p)?.leader == 3).then_some(()))
        })
        .await?;
        let mut want = values("a", 200);
        want.extend(values("b", 100));
        ensure!(
            read_partition(&live, TOPIC, p).await? == want,
            "all 300 records from broker 3"
        );
        Ok(())
    });
}

#[test]
fn decommission_moves_every_replica_off_a_broker() {
    run(Duration::from_secs(300), async {
        let mut cluster = Cluster::start(3, BROKER_ARGS)?;
        let any = cluster.bootstrap();
        let topics = [("d1", 3), ("d2", 2)];
        let acks_all = [("acks", "all")];
        for (t, n) in topics {
            create_replicated_topic(&any, t, n, 2, &[]).await?;
            send_all(&producer(&any, &acks_all)?, t, &numbered(60, t, n)).await?;
        }
        // d1's first records are deleted: its leaders' log start is 5, so a new replica
        // (fetching from 0) must restart its copy there.
        let mut cut = TopicPartitionList::new();
        for p in 0..3 {
            cut.add_partition_offset("d1", p, Offset::Offset(DELETED))?;
        }
        let deleted = admin(&any)?
            .delete_records(&cut, &admin_options())
            .await
            .context("DeleteRecords")?;
        for e in deleted.elements() {
            ensure!(
                e.error().is_ok(),
                "DeleteRecords d1-{}: {:?}",
                e.partition(),
                e.error()
            );
        }
        let d1_before: Vec<View> = views(&any, Some("d1"))?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        // __consumer_offsets (replication factor 3) exists before the decommission, so it is
        // moved too (shrunk: every live broker already holds a copy).
        wait_for("__consumer_offsets", || {
            Ok(views(&any, None)?
                .iter()
                .any(|(t, _)| t == "__consumer_offsets")
                .then_some(()))
        })
        .await?;
        let on_3 = views(&any, None)?
            .iter()
            .filter(|(_, v)| v.replicas.contains(&3))
            .count();
        ensure!(on_3 > 0, "nothing on broker 3 to move");

        let node1 = cluster.node(1).bootstrap();
        let out = strata_cli(&[
            "broker",
            "decommission",
            "3",
            "--bootstrap-server",
            &node1,
            "--timeout",
            "50",
        ])?;
        out.ensure_success("strata broker decommission 3")?;
        let stdout = out.stdout_str();
        ensure!(
            stdout.contains("Done: no partition has a replica on broker 3."),
            "{stdout}"
        );

        for (t, v) in views(&any, None)? {
            ensure!(
                !v.replicas.contains(&3) && !v.isr.contains(&3),
                "{t}-{}: {v:?}",
                v.id
            );
            ensure!(v.leader == 1 || v.leader == 2, "{t}-{}: {v:?}", v.id);
        }
        let dir3 = cluster.node(3).data_dir().to_path_buf();
        wait_for("broker 3 to remove its copies", || {
            let left: Vec<String> = std::fs::read_dir(&dir3)?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| {
                    n.starts_with("d1-")
                        || n.starts_with("d2-")
                        || n.starts_with("__consumer_offsets-")
                })
                .collect();
            Ok(left.is_empty().then_some(()))
        })
        .await?;
        // Every new d1 replica copied the leader's bytes (the batch holding the log start
        // included) and took the leader's log start.
        let mut copied = 0;
        for before in &d1_before {
            let after = partition(&any, "d1", before.id)?;
            let leader_seg = first_segment(&mut cluster, after.leader as usize, "d1", before.id);
            for &r in after
                .replicas
                .iter()
                .filter(|r| !before.replicas.contains(r))
            {
                let seg = first_segment(&mut cluster, r as usize, "d1", before.id);
                let checkpoint = seg.with_file_name("log-start-offset-checkpoint");
                wait_for("the new replica's copy and log start", || {
                    let same = std::fs::read(&seg)? == std::fs::read(&leader_seg)?;
                    let start = std::fs::read_to_string(&checkpoint)?;
                    Ok((same && start == format!("0\n{DELETED}\n")).then_some(()))
                })
                .await?;
                copied += 1;
            }
        }
        ensure!(copied > 0, "no d1 partition moved");
        let status = strata_cli(&["cluster", "status", "--bootstrap-server", &node1])?;
        status.ensure_success("strata cluster status")?;
        ensure!(
            status.stdout_str().contains("Reassignments in progress: 0"),
            "{}",
            status.stdout_str()
        );

        // Broker 3 is no longer needed: kill it, and every record is still there.
        cluster.node(3).sigkill()?;
        let live = format!("{node1},{}", cluster.node(2).bootstrap());
        // Once fenced it is no longer listed, and clients stop trying to reach it.
        wait_for("broker 3 to be fenced", || {
            let md = consumer(&live, &[])?.fetch_metadata(None, Duration::from_secs(10))?;
            Ok(md.brokers().iter().all(|b| b.id() != 3).then_some(()))
        })
        .await?;
        for (t, n) in topics {
            let first = if t == "d1" { DELETED } else { 0 };
            let mut got = vec![Vec::new(); n as usize];
            for r in read_topic(&live, t, n).await? {
                if r.offset >= first {
                    got[r.partition as usize].push((
                        r.offset,
                        String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                            .into_owned(),
                    ));
                }
            }
            let got: Vec<Vec<String>> = got
                .into_iter()
                .map(|mut p| {
                    p.sort();
                    p.into_iter().map(|(_, v)| v).collect()
                })
                .collect();
            let want: Vec<Vec<String>> = numbered_values(60, t, n)
                .into_iter()
                .map(|p| p.into_iter().skip(first as usize).collect())
                .collect();
            ensure!(
                got == want,
                "{t}: every record from offset {first} once, in order"
            );
        }
        Ok(())
    });
}
