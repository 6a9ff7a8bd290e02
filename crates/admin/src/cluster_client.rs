//! Where an admin request must go in a cluster, and getting it there, as Kafka's AdminClient
//! does. The CLI's admin subcommands and the gRPC admin service talk to [`ClusterClient`],
//! never to one broker directly.
//!
//! - **Bootstrap.** Cluster-wide requests (Metadata, FindCoordinator, CreateTopics, …) go to the
//!   first reachable address of `--bootstrap-server` ([`ClusterClient::call`]).
//! - **Partition leaders.** ListOffsets must reach each partition's leader; other brokers answer
//!   NOT_LEADER_OR_FOLLOWER. [`ClusterClient::list_offsets`] groups the partitions by leader from
//!   a Metadata request and sends each leader its own. Partitions without a leader, whose leader
//!   could not be reached, or whose leader answered a retriable error are asked again with fresh
//!   Metadata, for [`LIST_OFFSETS_ROUNDS`] rounds at most; then they have no offset.
//! - **Group coordinators.** A group's requests must reach its coordinator (the leader of the
//!   group's `__consumer_offsets` partition); other brokers answer NOT_COORDINATOR.
//!   [`ClusterClient::coordinator_call`] asks the bootstrap broker with FindCoordinator, retrying
//!   COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE (the first FindCoordinator creates
//!   `__consumer_offsets`), NOT_COORDINATOR and connection errors with backoff, sends the request
//!   to the coordinator, and finds the coordinator again when it answers one of those errors or
//!   cannot be reached — all within [`RETRY_FOR`].
//! - **Every broker.** Some requests are answered per broker (ListGroups lists the groups that
//!   broker coordinates): [`ClusterClient::brokers`] lists them, [`ClusterClient::call_node`]
//!   sends to one.
//!
//! Connections are opened on first use and kept, one per node id. A connection whose request
//! failed (I/O error, [`REQUEST_TIMEOUT`], an unreadable response) is dropped, since where its
//! stream stands is unknown; the next request to that broker reconnects.
//!
//! **Security.** Every connection — bootstrap, leaders, coordinators — is opened with the one
//! [`ClientSecurity`] given to [`ClusterClient::connect_with`] (TLS, SASL login; PLAINTEXT for
//! [`ClusterClient::connect`]). Broker addresses come from Metadata and FindCoordinator, which
//! answer with the addresses of the listener the bootstrap connection came in on, so they
//! take the same security. A failed TLS handshake or SASL login ([`SecurityError`]) is never
//! retried: the same settings fail the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::ResponseError;

use strata_broker::kafka_client::{KafkaClient, SecurityError};

/// How [`ClusterClient`]'s connections are secured (re-exported for its callers).
pub use strata_broker::kafka_client::ClientSecurity;

/// A topic partition: (topic, partition index).
pub type TopicPartition = (String, i32);

/// How long [`ClusterClient::coordinator_call`] keeps looking for a coordinator that answers.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// Bound of one request (Kafka: `request.timeout.ms`), above the 30 s server-side timeouts the
/// admin commands ask for (CreateTopics, DeleteTopics, …).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// Bound of opening one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait between retries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// ListOffsets rounds: the first, then re-asks (fresh Metadata) for partitions whose leader was
/// unknown, unreachable or answered a retriable error.
const LIST_OFFSETS_ROUNDS: u32 = 4;
/// ListOffsets timestamp of the first offset on the leader's local disk (Kafka's
/// `EARLIEST_LOCAL_TIMESTAMP`, ListOffsets v8+).
pub const EARLIEST_LOCAL: i64 = -4;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Kafka's name of an error code (`16` → `NOT_COORDINATOR`), or `error N` for a code
/// `kafka-protocol` does not know.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(c)) => format!("error {c}"),
        Some(e) => {
            let mut name = String::new();
            for (i, c) in e.to_string().chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// The partitions Metadata lists for topic `t`.
pub fn partitions_of(t: &MetadataResponseTopic) -> BTreeSet<TopicPartition> {
    let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
    t.partitions
        .iter()
        .map(|p| (name.clone(), p.partition_index))
        .collect()
}

/// Whether `code` says the broker is not (yet) the group's coordinator: find it again.
fn is_coordinator_error(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(
            ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
        )
    )
}

/// Waits between retries: [`FIRST_BACKOFF`], doubling up to [`MAX_BACKOFF`], never past a
/// deadline.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(FIRST_BACKOFF)
    }

    async fn wait(&mut self, deadline: Option<Instant>) {
        let mut delay = self.0;
        if let Some(d) = deadline {
            delay = delay.min(d.saturating_duration_since(Instant::now()));
        }
        tokio::time::sleep(delay).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}

async fn open(addr: &str, security: &ClientSecurity) -> anyhow::Result<KafkaClient> {
    tokio::time::timeout(CONNECT_TIMEOUT, KafkaClient::connect_with(addr, security))
        .await
        .map_err(|_| anyhow!("connecting to {addr}: no answer within {CONNECT_TIMEOUT:?}"))?
}

/// Whether retrying after `e` cannot help: a failed TLS handshake or SASL login.
fn is_permanent(e: &anyhow::Error) -> bool {
    SecurityError::find(e).is_some()
}

async fn exchange<R: Request>(
    conn: &mut KafkaClient,
    req: R,
    version: i16,
) -> anyhow::Result<R::Response> {
    tokio::time::timeout(REQUEST_TIMEOUT, conn.call(req, version))
        .await
        .map_err(|_| anyhow!("no response within {REQUEST_TIMEOUT:?}"))?
}

/// Connections to the brokers of one cluster (see the module docs).
#[derive(Debug)]
pub struct ClusterClient {
    bootstrap: String,
    /// How every connection is secured.
    security: ClientSecurity,
    bootstrap_conn: Option<KafkaClient>,
    /// Each broker's Kafka address, `HOST:PORT`, from Metadata and FindCoordinator.
    addrs: BTreeMap<i32, String>,
    conns: BTreeMap<i32, KafkaClient>,
    /// Coordinators found, by (FindCoordinator key type, key).
    coordinators: BTreeMap<(i8, String), i32>,
}

impl ClusterClient {
    /// Connects to the first reachable broker of `bootstrap` (`HOST:PORT[,HOST:PORT…]`) over
    /// PLAINTEXT.
    pub async fn connect(bootstrap: &str) -> anyhow::Result<ClusterClient> {
        ClusterClient::connect_with(bootstrap, ClientSecurity::plaintext()).await
    }

    /// Connects to the first reachable broker of `bootstrap` with `security`, which every
    /// later connection uses too.
    pub async fn connect_with(
        bootstrap: &str,
        security: ClientSecurity,
    ) -> anyhow::Result<ClusterClient> {
        let conn = open(bootstrap, &security).await?;
        Ok(ClusterClient {
            bootstrap: bootstrap.to_string(),
            security,
            bootstrap_conn: Some(conn),
            addrs: BTreeMap::new(),
            conns: BTreeMap::new(),
            coordinators: BTreeMap::new(),
        })
    }

    /// Sends `req` at `version` to the bootstrap broker (reconnecting if an earlier request
    /// broke the connection).
    pub async fn call<R: Request>(&mut self, req: R, version: i16) -> anyhow::Result<R::Response> {
        let conn = match self.bootstrap_conn.take() {
            Some(c) => c,
            None => open(&self.bootstrap, &self.security).await?,
        };
        let conn = self.bootstrap_conn.insert(conn);
        let out = exchange(conn, req, version).await;
        if out.is_err() {
            self.bootstrap_conn = None;
        }
        out
    }

    /// Sends `req` at `version` to broker `node` (its address learned from Metadata or
    /// FindCoordinator). Errors name the broker.
    pub async fn call_node<R: Request>(
        &mut self,
        node: i32,
        req: R,
        version: i16,
    ) -> anyhow::Result<R::Response> {
        let addr = self
            .addrs
            .get(&node)
            .with_context(|| format!("broker {node} is not in the cluster metadata"))?
            .clone();
        let conn = match self.conns.remove(&node) {
            Some(c) => c,
            None => open(&addr, &self.security)
                .await
                .with_context(|| format!("broker {node} ({addr})"))?,
        };
        let conn = self.conns.entry(node).or_insert(conn);
        let out = exchange(conn, req, version)
            .await
            .with_context(|| format!("broker {node} ({addr})"));
        if out.is_err() {
            self.conns.remove(&node);
        }
        out
    }

    /// Records broker `node`'s address; a connection to an old address is dropped.
    fn learn(&mut self, node: i32, addr: String) {
        if self.addrs.get(&node) != Some(&addr) {
            self.conns.remove(&node);
            self.addrs.insert(node, addr);
        }
    }

    /// Metadata (v12) for `topics` (`None`: every topic; empty: brokers only), never creating
    /// a topic. Remembers every broker's address.
    pub async fn metadata(&mut self, topics: Option<&[&str]>) -> anyhow::Result<MetadataResponse> {
        let topics = topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(sb(t)))))
                .collect()
        });
        let req = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(false);
        let resp = self.call(req, 12).await.context("Metadata")?;
        for b in &resp.brokers {
            self.learn(b.node_id.0, format!("{}:{}", b.host, b.port));
        }
        Ok(resp)
    }

    /// Every broker of the cluster (Metadata): `(node id, HOST:PORT)`, by node id.
    pub async fn brokers(&mut self) -> anyhow::Result<Vec<(i32, String)>> {
        let md = self.metadata(Some(&[])).await?;
        let mut brokers: Vec<(i32, String)> = md
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect();
        brokers.sort();
        Ok(brokers)
    }

    /// The node id of `group`'s coordinator (FindCoordinator v3 through the bootstrap broker),
    /// retrying coordinator errors and connection errors until `deadline`.
    async fn find_coordinator(
        &mut self,
        key_type: i8,
        group: &str,
        deadline: Instant,
    ) -> anyhow::Result<i32> {
        let mut backoff = Backoff::new();
        loop {
            let req = FindCoordinatorRequest::default()
                .with_key(sb(group))
                .with_key_type(key_type);
            let why = match self.call(req, 3).await {
                Ok(r) if r.error_code == 0 => {
                    let node = r.node_id.0;
                    self.learn(node, format!("{}:{}", r.host, r.port));
                    self.coordinators
                        .insert((key_type, group.to_string()), node);
                    return Ok(node);
                }
                Ok(r) => {
                    let why = anyhow!(
                        "FindCoordinator: {}{}",
                        error_name(r.error_code),
                        r.error_message
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    );
                    if !is_coordinator_error(r.error_code) {
                        return Err(why.context(format!(
                            "finding the coordinator of group '{group}' failed"
                        )));
                    }
                    why
                }
                Err(e) if is_permanent(&e) => return Err(e.context("FindCoordinator")),
                Err(e) => e.context("FindCoordinator"),
            };
            if Instant::now() >= deadline {
                return Err(why.context(format!(
                    "no coordinator for group '{group}' answered within {RETRY_FOR:?}"
                )));
            }
            tracing::debug!(group, "coordinator not found yet: {why:#}");
            backoff.wait(Some(deadline)).await;
        }
    }

    /// Sends a request of `group` to the group's coordinator and returns its response. `error`
    /// picks the response's error code: COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE
    /// or NOT_COORDINATOR (or a connection error) makes it find the coordinator again and
    /// resend, until [`RETRY_FOR`] has passed; then the last response (or error) is returned.
    pub async fn coordinator_call<R: Request + Clone>(
        &mut self,
        group: &str,
        req: R,
        version: i16,
        error: impl Fn(&R::Response) -> i16,
    ) -> anyhow::Result<R::Response> {
        self.keyed_coordinator_call(0, group, req, version, error)
            .await
    }

    /// [`ClusterClient::coordinator_call`] for the coordinator of a transactional id
    /// (FindCoordinator key type 1).
    pub async fn txn_coordinator_call<R: Request + Clone>(
        &mut self,
        transactional_id: &str,
        req: R,
        version: i16,
        error: impl Fn(&R::Response) -> i16,
    ) -> anyhow::Result<R::Response> {
        self.keyed_coordinator_call(1, transactional_id, req, version, error)
            .await
    }

    async fn keyed_coordinator_call<R: Request + Clone>(
        &mut self,
        key_type: i8,
        group: &str,
        req: R,
        version: i16,
        error: impl Fn(&R::Response) -> i16,
    ) -> anyhow::Result<R::Response> {
        let deadline = Instant::now() + RETRY_FOR;
        let mut backoff = Backoff::new();
        let cache_key = (key_type, group.to_string());
        loop {
            let node = match self.coordinators.get(&cache_key) {
                Some(node) => *node,
                None => self.find_coordinator(key_type, group, deadline).await?,
            };
            let why = match self.call_node(node, req.clone(), version).await {
                Ok(resp) => {
                    let code = error(&resp);
                    if !is_coordinator_error(code) || Instant::now() >= deadline {
                        return Ok(resp);
                    }
                    anyhow!("{}", error_name(code))
                }
                Err(e) if Instant::now() >= deadline || is_permanent(&e) => return Err(e),
                Err(e) => e,
            };
            tracing::debug!(
                group,
                node,
                "coordinator answered {why:#}; finding it again"
            );
            self.coordinators.remove(&cache_key);
            backoff.wait(Some(deadline)).await;
        }
    }

    /// ListOffsets (v7, read_uncommitted; v8 for -4) at each of `timestamps` (-1 latest,
    /// -2 earliest, [`EARLIEST_LOCAL`], or a time in ms) for every partition, each sent to the
    /// partition's leader; one map per timestamp. A partition is missing from a map when its
    /// topic is unknown, it had no reachable leader within [`LIST_OFFSETS_ROUNDS`], or its
    /// leader answered an error.
    pub async fn list_offsets<const N: usize>(
        &mut self,
        partitions: &BTreeSet<TopicPartition>,
        timestamps: [i64; N],
    ) -> anyhow::Result<[BTreeMap<TopicPartition, i64>; N]> {
        let mut out: [BTreeMap<TopicPartition, i64>; N] = std::array::from_fn(|_| BTreeMap::new());
        let mut pending = partitions.clone();
        let mut backoff = Backoff::new();
        for round in 0..LIST_OFFSETS_ROUNDS {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                backoff.wait(None).await;
            }
            let topics: BTreeSet<&str> = pending.iter().map(|(t, _)| t.as_str()).collect();
            let topics: Vec<&str> = topics.into_iter().collect();
            let md = self.metadata(Some(&topics)).await?;
            let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            let mut again = BTreeSet::new();
            for t in &md.topics {
                let Some(name) = &t.name else { continue };
                for p in &t.partitions {
                    let tp = (name.to_string(), p.partition_index);
                    if !pending.contains(&tp) {
                        continue;
                    }
                    let leader = p.leader_id.0;
                    if leader >= 0 && self.addrs.contains_key(&leader) {
                        by_leader.entry(leader).or_default().push(tp);
                    } else {
                        again.insert(tp);
                    }
                }
            }
            for (leader, tps) in by_leader {
                match self
                    .list_offsets_at(leader, &tps, &timestamps, &mut out)
                    .await
                {
                    Ok(retriable) => again.extend(retriable),
                    Err(e) if is_permanent(&e) => return Err(e.context("ListOffsets")),
                    Err(e) => {
                        tracing::debug!("ListOffsets: {e:#}");
                        again.extend(tps);
                    }
                }
            }
            pending = again;
        }
        Ok(out)
    }

    /// One ListOffsets per timestamp to `leader` for `tps`, answers into `out`; returns the
    /// partitions that answered a retriable error.
    async fn list_offsets_at(
        &mut self,
        leader: i32,
        tps: &[TopicPartition],
        timestamps: &[i64],
        out: &mut [BTreeMap<TopicPartition, i64>],
    ) -> anyhow::Result<BTreeSet<TopicPartition>> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in tps {
            by_topic.entry(t).or_default().push(*p);
        }
        let mut retriable = BTreeSet::new();
        for (ts, answers) in timestamps.iter().zip(out.iter_mut()) {
            let topics = by_topic
                .iter()
                .map(|(t, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(TopicName(sb(t)))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(*p)
                                        .with_timestamp(*ts)
                                })
                                .collect(),
                        )
                })
                .collect();
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(topics);
            // EARLIEST_LOCAL (-4) is ListOffsets v8; the rest keeps v7.
            let version = if *ts == EARLIEST_LOCAL { 8 } else { 7 };
            let resp = self.call_node(leader, req, version).await?;
            for t in &resp.topics {
                for p in &t.partitions {
                    let tp = (t.name.to_string(), p.partition_index);
                    match ResponseError::try_from_code(p.error_code) {
                        None => {
                            answers.insert(tp, p.offset);
                        }
                        Some(e) if e.is_retriable() => {
                            retriable.insert(tp);
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(retriable)
    }
}

#[cfg(test)]
#[path = "cluster_client_tests.rs"]
mod tests;
