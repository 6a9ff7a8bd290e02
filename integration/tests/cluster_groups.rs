//! Group coordination in a cluster (issue 8): `__consumer_offsets` is a replicated topic
//! (50 partitions, replication factor 3 on three voters, created automatically), and the
//! coordinator of a group is the leader of partition `abs(java_hash(group)) % 50` of it.
//!
//! Three `strata serve` processes; a topic with replication factor 3 and
//! `min.insync.replicas=2` holds 300 numbered records. A librdkafka group member reads a
//! different number of records from each partition, commits exactly those positions
//! synchronously and leaves. Checked:
//! - `__consumer_offsets` is listed with 50 partitions of 3 replicas each, and the group's
//!   partition has its full ISR;
//! - FindCoordinator on every broker names that partition's leader (with its address), and
//!   every other broker answers OffsetFetch for the group with NOT_COORDINATOR;
//! - after kill -9 of the coordinator, a new member of the group reads the committed offsets
//!   back (OffsetFetch through librdkafka), starts each partition exactly at its committed
//!   offset, and together the two members read every record exactly once;
//! - the new coordinator is the partition's new leader (a survivor), the other survivor
//!   answers NOT_COORDINATOR, and after the killed broker is back it rejoins the partition's
//!   ISR and the group's offsets are still served.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use strata_integration::client::{consumer, create_replicated_topic, numbered, Delivered};
use strata_integration::cluster::Cluster;
use strata_integration::groups::{java_string_hash, offsets_partition_for};
use strata_integration::raw::RawConn;
use strata_integration::{producer, run, send_all};

const TOPIC: &str = "cg";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 300;
/// Records per partition (`numbered` sends record `i` to partition `i mod 3`).
const PER_PARTITION: i64 = (RECORDS as i64) / (PARTITIONS as i64);
/// What the first member reads from each partition before it commits: 150 records in all,
/// a different count per partition so that a mix-up between partitions shows.
const FIRST_SHARE: [i64; 3] = [40, 50, 60];
const GROUP: &str = "strata-cluster-groups";
const OFFSETS_TOPIC: &str = "__consumer_offsets";
const OFFSETS_PARTITIONS: usize = 50;
const ALL_NODES: [i32; 3] = [1, 2, 3];
/// Kafka error code NOT_COORDINATOR.
const NOT_COORDINATOR: i16 = 16;

/// Bound of every wait for the cluster to converge (topic creation, ISR, elections).
const CONVERGE: Duration = Duration::from_secs(90);
/// Bound of each consumer phase.
const CONSUME: Duration = Duration::from_secs(120);

const BROKER_ARGS: &[&str] = &[
    "--set",
    "broker.session.timeout.ms=3000",
    "--set",
    "broker.heartbeat.interval.ms=300",
    "--set",
    "replica.lag.time.max.ms=5000",
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "group.min.session.timeout.ms=1000",
];

/// The value `numbered(RECORDS, "g", PARTITIONS)` puts at `offset` of `partition`.
fn value_at(partition: i32, offset: i64) -> String {
    format!(
        "g-{}",
        offset * i64::from(PARTITIONS) + i64::from(partition)
    )
}

/// One partition of `__consumer_offsets` as Metadata reports it (replicas and ISR sorted).
#[derive(Debug, Clone)]
struct OffsetsPartition {
    id: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// The partitions of `__consumer_offsets` (sorted by id) according to one Metadata request.
fn offsets_topic(bootstrap: &str) -> Result<Vec<OffsetsPartition>> {
    let md = consumer(bootstrap, &[("allow.auto.create.topics", "false")])?
        .fetch_metadata(Some(OFFSETS_TOPIC), Duration::from_secs(10))
        .context("Metadata for __consumer_offsets")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == OFFSETS_TOPIC)
        .context("__consumer_offsets is not in the Metadata response")?;
    if let Some(e) = t.error() {
        bail!("__consumer_offsets: topic error {e:?}");
    }
    let mut parts = Vec::new();
    for p in t.partitions() {
        if let Some(e) = p.error() {
            bail!("__consumer_offsets-{}: partition error {e:?}", p.id());
        }
        let mut replicas = p.replicas().to_vec();
        replicas.sort_unstable();
        let mut isr = p.isr().to_vec();
        isr.sort_unstable();
        parts.push(OffsetsPartition {
            id: p.id(),
            leader: p.leader(),
            replicas,
            isr,
        });
    }
    parts.sort_by_key(|p| p.id);
    Ok(parts)
}

/// Waits until `__consumer_offsets` is listed with 50 partitions, each with replicas 1, 2, 3
/// and a leader.
async fn wait_offsets_topic(bootstrap: &str) -> Result<Vec<OffsetsPartition>> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let last = match offsets_topic(bootstrap) {
            Ok(parts) => {
                let ids: Vec<i32> = parts.iter().map(|p| p.id).collect();
                let want_ids: Vec<i32> = (0..OFFSETS_PARTITIONS as i32).collect();
                let bad: Vec<&OffsetsPartition> = parts
                    .iter()
                    .filter(|p| p.replicas != ALL_NODES || !ALL_NODES.contains(&p.leader))
                    .collect();
                if ids == want_ids && bad.is_empty() {
                    return Ok(parts);
                }
                format!(
                    "{} partitions listed (want {OFFSETS_PARTITIONS}, ids 0..{OFFSETS_PARTITIONS}); \
                     partitions without 3 replicas or a leader: {bad:?}",
                    parts.len()
                )
            }
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!(
                "__consumer_offsets was not created with {OFFSETS_PARTITIONS} partitions of \
                 replication factor 3 within {CONVERGE:?}; last observation: {last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until partition `partition` of `__consumer_offsets` has a live leader (one of
/// `live`, other than `not`) and an ISR equal to `isr`; returns the leader.
async fn wait_offsets_partition(
    bootstrap: &str,
    partition: i32,
    live: &[i32],
    not: Option<i32>,
    isr: &[i32],
) -> Result<i32> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let last = match offsets_topic(bootstrap) {
            Ok(parts) => match parts.iter().find(|p| p.id == partition) {
                Some(p) => {
                    if live.contains(&p.leader) && Some(p.leader) != not && p.isr == isr {
                        return Ok(p.leader);
                    }
                    format!("{p:?}")
                }
                None => format!("partition {partition} not listed"),
            },
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!(
                "{OFFSETS_TOPIC}-{partition} did not get a leader among {live:?} (not {not:?}) \
                 with ISR {isr:?} within {CONVERGE:?}; last observation: {last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A raw Kafka connection for the requests librdkafka does not expose.
fn conn(addr: SocketAddr) -> Result<RawConn> {
    RawConn::open(addr, "cluster-groups-it", Duration::from_secs(10))
}

/// FindCoordinator v3 (group key) sent to `addr`: (error code, node id, host, port).
fn find_coordinator(addr: SocketAddr) -> Result<(i16, i32, String, i32)> {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str(GROUP))
        .with_key_type(0);
    let resp: FindCoordinatorResponse = conn(addr)?.call(ApiKey::FindCoordinator, 3, &req)?;
    Ok((
        resp.error_code,
        resp.node_id.0,
        resp.host.to_string(),
        resp.port,
    ))
}

/// OffsetFetch v7 for the group's partitions of `TOPIC` sent to `addr`: the top-level error
/// code (NOT_COORDINATOR from a broker that does not coordinate the group).
fn offset_fetch_error(addr: SocketAddr) -> Result<i16> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_indexes((0..PARTITIONS).collect())]))
        .with_require_stable(false);
    let resp: OffsetFetchResponse = conn(addr)?.call(ApiKey::OffsetFetch, 7, &req)?;
    Ok(resp.error_code)
}

/// Waits until the live brokers agree that the group's coordinator is the leader of
/// `__consumer_offsets-<partition>`: Metadata names a leader among `live` (not `not`),
/// FindCoordinator on every live broker answers that leader with its address, and OffsetFetch
/// on every other live broker answers NOT_COORDINATOR. Returns the coordinator.
async fn wait_coordinator(
    addrs: &BTreeMap<i32, SocketAddr>,
    live: &[i32],
    partition: i32,
    not: Option<i32>,
) -> Result<i32> {
    let bootstrap = live
        .iter()
        .map(|n| addrs[n].to_string())
        .collect::<Vec<_>>()
        .join(",");
    let deadline = Instant::now() + CONVERGE;
    loop {
        let last = match coordinator_view(addrs, live, partition, not, &bootstrap) {
            Ok(Ok(leader)) => return Ok(leader),
            Ok(Err(disagreement)) => disagreement,
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!(
                "the brokers {live:?} did not agree within {CONVERGE:?} that the coordinator of \
                 {GROUP} is the leader of {OFFSETS_TOPIC}-{partition}; last observation: {last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One look at the coordinator: `Ok(Ok(leader))` if everything agrees, `Ok(Err(why))` if not.
fn coordinator_view(
    addrs: &BTreeMap<i32, SocketAddr>,
    live: &[i32],
    partition: i32,
    not: Option<i32>,
    bootstrap: &str,
) -> Result<std::result::Result<i32, String>> {
    let parts = offsets_topic(bootstrap)?;
    let p = parts
        .iter()
        .find(|p| p.id == partition)
        .with_context(|| format!("{OFFSETS_TOPIC}-{partition} not listed"))?;
    if !live.contains(&p.leader) || Some(p.leader) == not {
        return Ok(Err(format!("metadata: {p:?}")));
    }
    let leader = p.leader;
    let leader_addr = addrs[&leader];
    for n in live {
        let (error, node, host, port) = find_coordinator(addrs[n])?;
        let want_port = i32::from(leader_addr.port());
        if error != 0 || node != leader || host != "127.0.0.1" || port != want_port {
            return Ok(Err(format!(
                "FindCoordinator on broker {n}: error {error}, node {node} at {host}:{port}; \
                 want node {leader} at {leader_addr} (metadata: {p:?})"
            )));
        }
    }
    for n in live.iter().filter(|n| **n != leader) {
        let error = offset_fetch_error(addrs[n])?;
        if error != NOT_COORDINATOR {
            return Ok(Err(format!(
                "OffsetFetch on broker {n} (not the coordinator, which is {leader}): error \
                 {error}, want NOT_COORDINATOR ({NOT_COORDINATOR})"
            )));
        }
    }
    Ok(Ok(leader))
}

/// A librdkafka member of `GROUP` (not yet subscribed): manual commits only, starting from
/// the earliest offset where the group has none.
fn group_member(bootstrap: &str) -> Result<BaseConsumer> {
    consumer(
        bootstrap,
        &[
            ("group.id", GROUP),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("allow.auto.create.topics", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
}

fn positions(offsets: &[i64; 3]) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in (0..PARTITIONS).zip(offsets) {
        tpl.add_partition_offset(TOPIC, p, Offset::Offset(*o))?;
    }
    Ok(tpl)
}

/// Commits exactly `offsets` synchronously, retrying failed attempts until `CONVERGE` passes.
fn commit_exactly(member: &BaseConsumer, offsets: &[i64; 3]) -> Result<()> {
    let tpl = positions(offsets)?;
    let deadline = Instant::now() + CONVERGE;
    loop {
        match member.commit(&tpl, CommitMode::Sync) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                eprintln!("commit of {offsets:?} failed, retrying: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => bail!("committing {offsets:?} failed until {CONVERGE:?} passed: {e}"),
        }
    }
}

/// Asks the group's coordinator (OffsetFetch through librdkafka) for the committed offsets of
/// the topic's partitions until it answers without error, then requires exactly `want`.
/// Errors (no coordinator yet, coordinator loading) are retried for up to `CONVERGE`; a clean
/// answer with other offsets fails at once.
fn expect_committed(member: &BaseConsumer, want: &[i64; 3], when: &str) -> Result<()> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let mut query = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            query.add_partition(TOPIC, p);
        }
        let last = match member.committed_offsets(query, Duration::from_secs(10)) {
            Ok(tpl) => {
                let mut got = BTreeMap::new();
                let mut errors = Vec::new();
                for e in tpl.elements_for_topic(TOPIC) {
                    match e.error() {
                        Ok(()) => {
                            got.insert(e.partition(), e.offset());
                        }
                        Err(err) => errors.push(format!("partition {}: {err}", e.partition())),
                    }
                }
                if errors.is_empty() {
                    let want_map: BTreeMap<i32, Offset> = (0..PARTITIONS)
                        .zip(want)
                        .map(|(p, o)| (p, Offset::Offset(*o)))
                        .collect();
                    ensure!(
                        got == want_map,
                        "{when}: the group's committed offsets are {got:?}, want {want_map:?}"
                    );
                    return Ok(());
                }
                errors.join("; ")
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            bail!(
                "{when}: the committed offsets of {GROUP} could not be read within \
                 {CONVERGE:?}; last error: {last}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Keeps the last 20 consumer errors for the failure message.
fn note_error(errors: &mut Vec<String>, e: String) {
    if errors.len() == 20 {
        errors.remove(0);
    }
    errors.push(e);
}

/// A record a member read: (partition, offset, value).
type Consumed = (i32, i64, String);

/// Phase 1 (blocking): a member subscribes, reads offsets `0..FIRST_SHARE[p]` of every
/// partition (each once, in order; anything beyond its share is left for later), commits
/// exactly `FIRST_SHARE`, checks the commit reads back, and leaves the group.
fn read_first_share(bootstrap: &str) -> Result<Vec<Consumed>> {
    let member = group_member(bootstrap)?;
    member.subscribe(&[TOPIC]).context("subscribe")?;
    let deadline = Instant::now() + CONSUME;
    let mut next = [0i64; 3];
    let mut read = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    while (0..3).any(|i| next[i] < FIRST_SHARE[i]) {
        if Instant::now() >= deadline {
            bail!(
                "the first member did not read its share {FIRST_SHARE:?} within {CONSUME:?}: \
                 next offsets {next:?}; last consumer errors: {errors:?}"
            );
        }
        match member.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let (p, o) = (m.partition(), m.offset());
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                ensure!(
                    m.topic() == TOPIC && (0..PARTITIONS).contains(&p),
                    "first member: unexpected record from {}-{p}",
                    m.topic()
                );
                ensure!(
                    value == value_at(p, o),
                    "first member: {TOPIC}-{p} offset {o} holds {value:?}, want {:?}",
                    value_at(p, o)
                );
                let i = usize::try_from(p)?;
                if next[i] >= FIRST_SHARE[i] {
                    // Its share is read; the rest is left for the second member.
                    continue;
                }
                if o > next[i] {
                    bail!(
                        "first member: {TOPIC}-{p} jumped from offset {} to {o} (nothing is \
                         committed yet, so it must start at 0 and read in order)",
                        next[i]
                    );
                }
                // Below `next`: a re-delivery, legal while nothing is committed (a rebalance);
                // at or past the share: left for the second member.
                if o == next[i] && o < FIRST_SHARE[i] {
                    read.push((p, o, value));
                    next[i] += 1;
                }
            }
            Some(Err(e)) => note_error(&mut errors, e.to_string()),
        }
    }
    commit_exactly(&member, &FIRST_SHARE)?;
    expect_committed(
        &member,
        &FIRST_SHARE,
        "right after the first member's commit",
    )?;
    // Dropping a subscribed BaseConsumer closes it: LeaveGroup, so the group is empty.
    drop(member);
    Ok(read)
}

/// Phase 2 (blocking), after the coordinator was killed: a new member first reads the
/// committed offsets back, then subscribes and reads the rest of every partition. Each
/// partition must start exactly at its committed offset and continue without gap or repeat.
/// Commits the end positions before leaving.
fn read_the_rest(bootstrap: &str) -> Result<Vec<Consumed>> {
    let member = group_member(bootstrap)?;
    expect_committed(
        &member,
        &FIRST_SHARE,
        "a new member after kill -9 of the coordinator",
    )?;
    member.subscribe(&[TOPIC]).context("subscribe")?;
    let deadline = Instant::now() + CONSUME;
    let mut next: [Option<i64>; 3] = [None; 3];
    let mut read = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    while next.iter().any(|n| *n != Some(PER_PARTITION)) {
        if Instant::now() >= deadline {
            bail!(
                "the second member did not read to the end ({PER_PARTITION} per partition) \
                 within {CONSUME:?}: next offsets {next:?} (committed {FIRST_SHARE:?}); \
                 last consumer errors: {errors:?}"
            );
        }
        match member.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let (p, o) = (m.partition(), m.offset());
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                ensure!(
                    m.topic() == TOPIC && (0..PARTITIONS).contains(&p),
                    "second member: unexpected record from {}-{p}",
                    m.topic()
                );
                ensure!(
                    value == value_at(p, o),
                    "second member: {TOPIC}-{p} offset {o} holds {value:?}, want {:?}",
                    value_at(p, o)
                );
                let i = usize::try_from(p)?;
                let want = next[i].unwrap_or(FIRST_SHARE[i]);
                ensure!(
                    o == want,
                    "second member: {TOPIC}-{p} delivered offset {o}, want {want} ({}; the group \
                     committed {} for this partition before the coordinator was killed)",
                    if next[i].is_none() {
                        "its first record"
                    } else {
                        "the next in order"
                    },
                    FIRST_SHARE[i]
                );
                read.push((p, o, value));
                next[i] = Some(o + 1);
            }
            Some(Err(e)) => note_error(&mut errors, e.to_string()),
        }
    }
    commit_exactly(&member, &[PER_PARTITION; 3])?;
    expect_committed(
        &member,
        &[PER_PARTITION; 3],
        "right after the second member's commit",
    )?;
    drop(member);
    Ok(read)
}

#[test]
fn java_string_hash_and_partition_match_kafka() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("abc"), 96354);
    assert_eq!(java_string_hash("hello"), 99162322);
    // A surrogate pair hashes as two UTF-16 code units.
    assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Utils.abs maps to 0.
    assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    assert_eq!(offsets_partition_for("polygenelubricants", 50), 0);
    assert_eq!(offsets_partition_for("hello", 50), 99162322 % 50);
    // Negative hashes are made positive before the modulo.
    let h = java_string_hash("strata-cluster-groups-negative-check");
    assert_eq!(
        offsets_partition_for("strata-cluster-groups-negative-check", 50),
        if h == i32::MIN { 0 } else { h.abs() } % 50
    );
}

#[test]
fn committed_offsets_survive_kill_9_of_the_group_coordinator() {
    run(Duration::from_secs(290), async {
        let mut cluster = Cluster::start(3, BROKER_ARGS)?;
        let all = cluster.bootstrap();
        let addrs: BTreeMap<i32, SocketAddr> = ALL_NODES
            .iter()
            .map(|n| (*n, cluster.node(*n as usize).addr()))
            .collect();

        // The internal topic appears by itself: 50 partitions, 3 replicas each.
        let layout = wait_offsets_topic(&all).await?;
        ensure!(layout.len() == OFFSETS_PARTITIONS);
        let partition = offsets_partition_for(GROUP, OFFSETS_PARTITIONS as i32);

        // 300 records, acknowledged by the whole ISR, at known partitions and offsets.
        create_replicated_topic(&all, TOPIC, PARTITIONS, 3, &[("min.insync.replicas", "2")])
            .await?;
        let producer = producer(
            &all,
            &[
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "60000"),
            ],
        )?;
        let delivered = send_all(&producer, TOPIC, &numbered(RECORDS, "g", PARTITIONS)).await?;
        let want_delivered: Vec<Delivered> = (0..RECORDS as i64)
            .map(|i| Delivered {
                partition: (i % i64::from(PARTITIONS)) as i32,
                offset: i / i64::from(PARTITIONS),
            })
            .collect();
        ensure!(
            delivered == want_delivered,
            "records were not written at the expected partitions and offsets: {delivered:?}"
        );
        drop(producer);

        // Phase 1: read a share of every partition, commit exactly that, leave.
        let bootstrap = all.clone();
        let first = tokio::task::spawn_blocking(move || read_first_share(&bootstrap))
            .await
            .context("the first member's thread panicked")??;
        ensure!(
            first.len() as i64 == FIRST_SHARE.iter().sum::<i64>(),
            "the first member read {} records",
            first.len()
        );

        // The coordinator is the leader of the group's partition of __consumer_offsets, whose
        // ISR holds all three brokers; the others refuse the group with NOT_COORDINATOR.
        wait_offsets_partition(&all, partition, &ALL_NODES, None, &ALL_NODES).await?;
        let coordinator = wait_coordinator(&addrs, &ALL_NODES, partition, None).await?;
        eprintln!(
            "group {GROUP}: {OFFSETS_TOPIC}-{partition}, coordinator (leader) broker \
             {coordinator}"
        );

        // kill -9 the coordinator.
        cluster.node(coordinator as usize).sigkill()?;
        let survivors: Vec<i32> = ALL_NODES
            .iter()
            .copied()
            .filter(|n| *n != coordinator)
            .collect();

        // Phase 2: a new member (bootstrap lists every broker, the dead one too) finds the
        // new coordinator, which serves the committed offsets; it resumes exactly there.
        let bootstrap = all.clone();
        let rest = tokio::task::spawn_blocking(move || read_the_rest(&bootstrap))
            .await
            .context("the second member's thread panicked")??;

        // Together: every record exactly once.
        let mut union: Vec<(i32, i64, String)> = first.into_iter().chain(rest).collect();
        union.sort();
        let want: Vec<(i32, i64, String)> = (0..PARTITIONS)
            .flat_map(|p| (0..PER_PARTITION).map(move |o| (p, o, value_at(p, o))))
            .collect();
        ensure!(
            union.len() == RECORDS && union == want,
            "the two members together did not read every record exactly once: {} records, \
             want {RECORDS}",
            union.len()
        );
        let mut values: Vec<String> = union.into_iter().map(|(_, _, v)| v).collect();
        values.sort();
        let mut want_values: Vec<String> = (0..RECORDS).map(|i| format!("g-{i}")).collect();
        want_values.sort();
        ensure!(
            values == want_values,
            "values read differ from the 300 produced"
        );

        // The new coordinator is the partition's new leader, a survivor; the other survivor
        // answers NOT_COORDINATOR.
        let new_coordinator =
            wait_coordinator(&addrs, &survivors, partition, Some(coordinator)).await?;
        eprintln!("after kill -9 of broker {coordinator}: coordinator broker {new_coordinator}");

        // The killed broker comes back, catches up on the partition and rejoins its ISR; the
        // group's offsets are still served.
        cluster.node(coordinator as usize).restart()?;
        wait_offsets_partition(&all, partition, &ALL_NODES, None, &ALL_NODES).await?;
        let bootstrap = all.clone();
        tokio::task::spawn_blocking(move || {
            let member = group_member(&bootstrap)?;
            expect_committed(
                &member,
                &[PER_PARTITION; 3],
                "after the killed broker came back",
            )
        })
        .await
        .context("the final check's thread panicked")??;
        wait_coordinator(&addrs, &ALL_NODES, partition, None).await?;
        Ok(())
    });
}
