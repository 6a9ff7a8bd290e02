//! Fetch from follower (KIP-392): consumers read from a replica in their own rack.
//!
//! Three `strata serve` processes in racks `r1`, `r2`, `r3` (`broker.rack`), each with
//! `replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector` and a
//! metrics listener; a topic of three partitions with replication factor 3 holds 300 records
//! produced with acks=all. Checked, with raw requests (kafka-protocol) and with librdkafka:
//! - a leader answers a consumer Fetch v12 naming a follower's rack with that follower as
//!   `preferred_read_replica` and no records; a consumer in the leader's own rack, or an
//!   older Fetch (v10, no rack), is served by the leader;
//! - the follower serves a consumer Fetch v12 exactly the partition's records up to its high
//!   watermark (which it learns from the leader), answers OFFSET_OUT_OF_RANGE past its log end,
//!   and keeps refusing older fetches, replica fetches and ListOffsets with
//!   NOT_LEADER_OR_FOLLOWER (those stay leader-only);
//! - a librdkafka consumer with `client.rack` set to that follower's rack reads every value
//!   exactly once, in order per partition; its statistics show every partition fetched from
//!   the rack-local broker, whose `strata_fetch_follower_reads_total` grew by at least the
//!   partitions it follows (no other broker served a follower read), and the other leaders
//!   counted their redirects (`strata_fetch_preferred_replica_redirects_total`).
//!
//! Without `replica.selector.class` (Kafka's default), nothing changes: a follower refuses a
//! consumer Fetch v12 with NOT_LEADER_OR_FOLLOWER, leaders never redirect, and the consumer in
//! the follower's rack reads everything from the leader.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::{Message, Offset, TopicPartitionList};
use strata_integration::broker::free_port;
use strata_integration::client::{consumer, create_replicated_topic, numbered, numbered_values};
use strata_integration::cluster::Cluster;
use strata_integration::prom::metric;
use strata_integration::raw::RawConn;
use strata_integration::{producer, run, send_all};

const SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
const TOPIC: &str = "near";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 300;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const FOLLOWER_READS: &str = "strata_fetch_follower_reads_total";
const REDIRECTS: &str = "strata_fetch_preferred_replica_redirects_total";
const CONVERGE: Duration = Duration::from_secs(60);

/// `n` nodes, node `id` in rack `r<id>` with a metrics listener; the selector on every node
/// or on none. Returns the cluster and each node's metrics port (by node id − 1).
fn start(n: usize, selector: bool) -> Result<(Cluster, Vec<u16>)> {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_>>()?;
    let cluster = Cluster::start_each(n, |id| {
        let mut args = vec![
            "--set".to_string(),
            format!("broker.rack=r{id}"),
            "--metrics-listen".to_string(),
            format!("127.0.0.1:{}", ports[id - 1]),
        ];
        if selector {
            args.extend([
                "--set".to_string(),
                format!("replica.selector.class={SELECTOR}"),
            ]);
        }
        args
    })?;
    Ok((cluster, ports))
}

/// A partition as Metadata reports it.
#[derive(Debug, Clone, PartialEq)]
struct Placement {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

fn placements(bootstrap: &str) -> Result<Vec<Placement>> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == TOPIC)
        .context("topic listed")?;
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let m = t
            .partitions()
            .iter()
            .find(|m| m.id() == p)
            .with_context(|| format!("partition {p} listed"))?;
        let mut replicas = m.replicas().to_vec();
        replicas.sort();
        let mut isr = m.isr().to_vec();
        isr.sort();
        out.push(Placement {
            leader: m.leader(),
            replicas,
            isr,
        });
    }
    Ok(out)
}

/// Waits until every partition has a leader and all its replicas in sync.
async fn wait_in_sync(bootstrap: &str, rf: usize) -> Result<Vec<Placement>> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let now = placements(bootstrap)?;
        if now
            .iter()
            .all(|p| p.leader > 0 && p.replicas.len() == rf && p.isr == p.replicas)
        {
            return Ok(now);
        }
        ensure!(
            Instant::now() < deadline,
            "partitions not fully in sync within {CONVERGE:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A raw Kafka connection for the requests librdkafka does not expose.
fn conn(addr: SocketAddr) -> Result<RawConn> {
    RawConn::open(addr, "follower-fetch-it", Duration::from_secs(10))
}

/// A Fetch of partition `partition` of the topic from `offset` (max_wait 0), as a consumer
/// (`replica` -1) or a broker, in `rack` (sent from v11 on); the partition's answer.
fn fetch(
    addr: SocketAddr,
    version: i16,
    replica: i32,
    rack: &str,
    partition: i32,
    offset: i64,
) -> Result<PartitionData> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(replica))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_rack_id(StrBytes::from_string(rack.to_string()))
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let resp: FetchResponse = conn(addr)?.call(ApiKey::Fetch, version, &req)?;
    resp.responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .context("the Fetch response lacks the partition")
}

/// (first base offset, last offset) of the batches in a partition's records, if any.
fn offset_range(p: &PartitionData) -> Result<Option<(i64, i64)>> {
    let records = p.records.clone().unwrap_or_default();
    let mut range: Option<(i64, i64)> = None;
    for item in strata_records::batches(&records) {
        let (_, h) = item.map_err(|e| anyhow::anyhow!("bad batch in the response: {e}"))?;
        range = Some(match range {
            None => (h.base_offset, h.last_offset()),
            Some((first, _)) => (first, h.last_offset()),
        });
    }
    Ok(range)
}

/// ListOffsets v7 (latest) of partition `partition`: its error code.
fn list_offsets_error(addr: SocketAddr, partition: i32) -> Result<i16> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let resp: ListOffsetsResponse = conn(addr)?.call(ApiKey::ListOffsets, 7, &req)?;
    resp.topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .map(|p| p.error_code)
        .context("the ListOffsets response lacks the partition")
}

/// A consumer context keeping librdkafka's latest statistics.
#[derive(Clone, Default)]
struct LatestStats(Arc<Mutex<Option<Statistics>>>);

impl ClientContext for LatestStats {
    fn stats(&self, statistics: Statistics) {
        if let Ok(mut latest) = self.0.lock() {
            *latest = Some(statistics);
        }
    }
}

impl ConsumerContext for LatestStats {}

impl LatestStats {
    /// Per partition of the topic, the broker the consumer fetches it from (statistics).
    fn fetch_brokers(&self) -> Option<BTreeMap<i32, i32>> {
        let latest = self.0.lock().ok()?;
        let topic = latest.as_ref()?.topics.get(TOPIC)?;
        Some(
            topic
                .partitions
                .values()
                .filter(|p| (0..PARTITIONS).contains(&p.partition))
                .map(|p| (p.partition, p.broker))
                .collect(),
        )
    }
}

/// What a consumer read, and from where.
struct Consumed {
    /// Values per partition, in offset order.
    values: Vec<Vec<String>>,
    /// Per partition, the broker librdkafka fetched it from at the end (its statistics).
    fetched_from: BTreeMap<i32, i32>,
}

/// Reads every partition of the topic from the beginning with librdkafka in `rack`, until each
/// holds `want` values and reported its end after them; then waits for fresh statistics
/// naming the broker each partition is fetched from.
fn read_in_rack(bootstrap: &str, rack: &str, want: usize) -> Result<Consumed> {
    let stats = LatestStats::default();
    let consumer: BaseConsumer<LatestStats> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", "follower-fetch-it")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "100")
        .set("client.rack", rack)
        .set("statistics.interval.ms", "200")
        .create_with_context(stats.clone())
        .context("creating the consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut values: Vec<Vec<(i64, String)>> = vec![Vec::new(); PARTITIONS as usize];
    let mut ended = [false; PARTITIONS as usize];
    let deadline = Instant::now() + CONVERGE;
    while !ended.iter().all(|e| *e) {
        ensure!(
            Instant::now() < deadline,
            "did not read {want} values of every partition within {CONVERGE:?}: read {:?}",
            values.iter().map(Vec::len).collect::<Vec<_>>()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let p = usize::try_from(m.partition())?;
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                values[p].push((m.offset(), value));
                ended[p] = false;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                let p = usize::try_from(p)?;
                ended[p] = values[p].len() >= want;
            }
            Some(Err(e)) => bail!("consumer error: {e}"),
        }
    }
    // Statistics from before the last records may predate a redirect: wait for fresh ones.
    if let Ok(mut latest) = stats.0.lock() {
        *latest = None;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let fetched_from = loop {
        // Polling serves the statistics callback.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            bail!(
                "an extra record after the end: partition {} offset {}",
                m.partition(),
                m.offset()
            );
        }
        match stats.fetch_brokers() {
            Some(b) if b.len() == PARTITIONS as usize => break b,
            _ if Instant::now() < deadline => {}
            other => bail!("no statistics for every partition: {other:?}"),
        }
    };
    let values = values
        .into_iter()
        .map(|p| p.into_iter().map(|(_, v)| v).collect())
        .collect();
    Ok(Consumed {
        values,
        fetched_from,
    })
}

#[test]
fn consumers_read_from_the_in_sync_follower_in_their_rack() {
    run(Duration::from_secs(240), async {
        let (mut cluster, metrics) = start(3, true)?;
        let any = cluster.bootstrap();
        create_replicated_topic(&any, TOPIC, PARTITIONS, 3, &[("min.insync.replicas", "2")])
            .await?;
        let placed = wait_in_sync(&any, 3).await?;
        let idempotent = [("acks", "all"), ("enable.idempotence", "true")];
        send_all(
            &producer(&any, &idempotent)?,
            TOPIC,
            &numbered(RECORDS, "v", PARTITIONS),
        )
        .await?;
        let per_partition = (RECORDS / PARTITIONS as usize) as i64;

        // The client's rack: that of a follower of partition 0.
        let leader = placed[0].leader;
        let near = leader % 3 + 1;
        let rack = format!("r{near}");
        let leader_addr = cluster.node(leader as usize).addr();
        let near_addr = cluster.node(near as usize).addr();

        // The leader sends a consumer in the follower's rack there, with no records.
        let p = fetch(leader_addr, 12, -1, &rack, 0, 0)?;
        ensure!(
            (p.error_code, p.preferred_read_replica.0, p.high_watermark)
                == (0, near, per_partition),
            "leader's answer to a consumer in {rack}: {p:?}"
        );
        ensure!(
            p.records.as_ref().is_none_or(Bytes::is_empty),
            "a redirect carries no records"
        );
        // A consumer in the leader's rack, or one too old to name its rack, reads there.
        for (version, client_rack) in [
            (12, format!("r{leader}")),
            (12, "r9".into()),
            (10, rack.clone()),
        ] {
            let p = fetch(leader_addr, version, -1, &client_rack, 0, 0)?;
            ensure!(
                p.error_code == 0
                    && p.preferred_read_replica.0 == -1
                    && offset_range(&p)? == Some((0, per_partition - 1)),
                "leader's answer to v{version} in {client_rack}: {p:?}"
            );
        }

        // The follower serves consumers up to its high watermark, once it learned it.
        let deadline = Instant::now() + CONVERGE;
        let p = loop {
            let p = fetch(near_addr, 12, -1, &rack, 0, 0)?;
            if p.high_watermark == per_partition || Instant::now() >= deadline {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        ensure!(
            p.error_code == 0
                && p.preferred_read_replica.0 == -1
                && p.high_watermark == per_partition
                && offset_range(&p)? == Some((0, per_partition - 1)),
            "follower's answer to a consumer: {p:?}"
        );
        let p = fetch(near_addr, 12, -1, &rack, 0, per_partition)?;
        ensure!(
            p.error_code == 0 && offset_range(&p)?.is_none(),
            "follower at its high watermark: {p:?}"
        );
        let p = fetch(near_addr, 12, -1, &rack, 0, 1_000_000)?;
        ensure!(
            (p.error_code, p.high_watermark) == (OFFSET_OUT_OF_RANGE, per_partition),
            "follower past its log end: {p:?}"
        );
        // Older consumers, replica fetches and ListOffsets stay leader-only.
        let p = fetch(near_addr, 10, -1, "", 0, 0)?;
        ensure!(
            p.error_code == NOT_LEADER_OR_FOLLOWER,
            "v10 on the follower: {p:?}"
        );
        let other = 6 - leader - near;
        let p = fetch(near_addr, 12, other, "", 0, 0)?;
        ensure!(
            p.error_code == NOT_LEADER_OR_FOLLOWER,
            "replica fetch on the follower: {p:?}"
        );
        let code = list_offsets_error(near_addr, 0)?;
        ensure!(
            code == NOT_LEADER_OR_FOLLOWER,
            "ListOffsets on the follower: {code}"
        );

        // librdkafka in the follower's rack reads everything, from that broker only.
        let before: Vec<f64> = metrics
            .iter()
            .map(|&m| metric(m, FOLLOWER_READS))
            .collect::<Result<_>>()?;
        let bootstrap = any.clone();
        let client_rack = rack.clone();
        let Consumed {
            values,
            fetched_from,
        } = tokio::task::spawn_blocking(move || {
            read_in_rack(&bootstrap, &client_rack, per_partition as usize)
        })
        .await??;
        ensure!(
            values == numbered_values(RECORDS, "v", PARTITIONS),
            "every value exactly once, in order per partition"
        );
        let want: BTreeMap<i32, i32> = (0..PARTITIONS).map(|p| (p, near)).collect();
        ensure!(
            fetched_from == want,
            "every partition fetched from node {near} (rack {rack}): {fetched_from:?}"
        );
        let followed = placed.iter().filter(|p| p.leader != near).count() as f64;
        for node in 1..=3i32 {
            let reads = metric(metrics[node as usize - 1], FOLLOWER_READS)?;
            let grew = reads - before[node as usize - 1];
            if node == near {
                ensure!(
                    grew >= followed,
                    "node {node} served {grew} follower reads, fewer than the {followed} \
                     partitions it follows"
                );
            } else {
                ensure!(reads == 0.0, "node {node} served {reads} follower reads");
            }
        }
        for p in placed.iter().filter(|p| p.leader != near) {
            let redirects = metric(metrics[p.leader as usize - 1], REDIRECTS)?;
            ensure!(
                redirects >= 1.0,
                "leader {} redirected no consumer",
                p.leader
            );
        }
        Ok(())
    });
}

#[test]
fn without_a_replica_selector_followers_refuse_consumers() {
    run(Duration::from_secs(180), async {
        let (mut cluster, metrics) = start(2, false)?;
        let any = cluster.bootstrap();
        create_replicated_topic(&any, TOPIC, PARTITIONS, 2, &[]).await?;
        let placed = wait_in_sync(&any, 2).await?;
        send_all(
            &producer(&any, &[("acks", "all")])?,
            TOPIC,
            &numbered(30, "w", PARTITIONS),
        )
        .await?;
        let leader = placed[0].leader;
        let follower = 3 - leader;
        let rack = format!("r{follower}");
        let p = fetch(cluster.node(follower as usize).addr(), 12, -1, &rack, 0, 0)?;
        ensure!(
            p.error_code == NOT_LEADER_OR_FOLLOWER,
            "follower's answer to a consumer: {p:?}"
        );
        let p = fetch(cluster.node(leader as usize).addr(), 12, -1, &rack, 0, 0)?;
        ensure!(
            p.error_code == 0
                && p.preferred_read_replica.0 == -1
                && offset_range(&p)? == Some((0, 9)),
            "leader's answer to a consumer in the follower's rack: {p:?}"
        );
        let bootstrap = any.clone();
        let Consumed {
            values,
            fetched_from,
        } = tokio::task::spawn_blocking(move || read_in_rack(&bootstrap, &rack, 10)).await??;
        ensure!(values == numbered_values(30, "w", PARTITIONS), "values");
        let leaders: BTreeMap<i32, i32> = placed
            .iter()
            .enumerate()
            .map(|(p, pl)| (p as i32, pl.leader))
            .collect();
        ensure!(
            fetched_from == leaders,
            "every partition fetched from its leader: {fetched_from:?}"
        );
        for &m in &metrics {
            ensure!(metric(m, FOLLOWER_READS)? == 0.0, "a follower read");
            ensure!(metric(m, REDIRECTS)? == 0.0, "a redirect");
        }
        Ok(())
    });
}
