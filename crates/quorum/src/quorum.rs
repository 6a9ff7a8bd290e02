//! The quorum handle: starts the Raft node (and its gRPC listener), executes metadata
//! operations on the leader, and publishes the applied image.
//!
//! Invariants:
//! - operations are planned one at a time on the leader (`exec` lock), against an image that
//!   includes every committed entry (`ensure_linearizable` first), so validation never races;
//! - [`Quorum::execute`] returns only once this node has applied the operation's entry, so the
//!   caller's next read of the image sees its own change;
//! - a node without `--voters` is a one-voter quorum of itself: same code path, no network;
//! - with [`QuorumConfig::tls`] the listener and every client this node opens (Raft, forwarded
//!   operations, heartbeats) speak mutual TLS (`link_tls.rs`); without it, plaintext.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ServerState};
use strata_meta::{plan, MetaError, MetaErrorKind, MetadataState, Operation, Outcome};
use tokio::sync::{watch, Mutex};

use crate::link_tls::{chain, ClusterTls};
use crate::log_store::LogStore;
use crate::network::{client_for, from_json, to_json, Network, MAX_MESSAGE_BYTES};
use crate::proto::cluster_server::ClusterServer;
use crate::service::ClusterService;
use crate::state_machine::{Published, StateMachine};
use crate::types::{Batch, NodeId, Raft};
use crate::voters::Voters;

/// How long [`Quorum::execute`] keeps looking for a leader before giving up.
pub const EXECUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Settings of one quorum member.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// `node.id`.
    pub node_id: NodeId,
    /// The metadata directory.
    pub dir: PathBuf,
    /// `controller.quorum.voters`: node id → cluster address. A single node lists itself.
    pub voters: Voters,
    /// Where to serve node-to-node gRPC (`--cluster-listen`); none for a one-voter quorum.
    pub cluster_listen: Option<SocketAddr>,
    /// TLS of the links between nodes (`--cluster-listen SSL://…`); none: plaintext.
    pub tls: Option<ClusterTls>,
    /// Raft heartbeat interval.
    pub heartbeat: Duration,
    /// Raft election timeout (lower bound; the upper bound is twice this).
    pub election_timeout: Duration,
}

impl QuorumConfig {
    /// A one-voter quorum of `node_id` in `dir`.
    pub fn single(node_id: NodeId, dir: PathBuf) -> QuorumConfig {
        QuorumConfig {
            node_id,
            dir,
            voters: BTreeMap::from([(node_id, "127.0.0.1:0".to_string())]),
            cluster_listen: None,
            tls: None,
            heartbeat: Duration::from_millis(100),
            election_timeout: Duration::from_millis(500),
        }
    }
}

impl std::fmt::Debug for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quorum")
            .field("node_id", &self.config.node_id)
            .field("voters", &self.config.voters)
            .finish()
    }
}

/// Where the quorum stands, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This node.
    pub node_id: NodeId,
    /// `Leader`, `Follower`, `Candidate` or `Learner`.
    pub role: String,
    /// Current leader, if known.
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Last log index on this node.
    pub last_log_index: u64,
    /// Last applied index on this node.
    pub applied: u64,
    /// Voters and their cluster addresses.
    pub voters: Voters,
    /// On the leader: each voter's matched log index.
    pub matched: BTreeMap<NodeId, u64>,
}

/// A running quorum member.
pub struct Quorum {
    config: QuorumConfig,
    raft: Raft,
    published: watch::Receiver<Published>,
    exec: Mutex<()>,
    stop_server: watch::Sender<bool>,
    /// On the leader: when each broker last sent a heartbeat.
    heartbeats: std::sync::Mutex<BTreeMap<i32, Instant>>,
}

impl Quorum {
    /// Opens the Raft log and state machine under `config.dir`, starts the node and its
    /// listener, and forms the cluster on first start.
    pub async fn start(config: QuorumConfig) -> Result<Arc<Quorum>, MetaError> {
        let log = LogStore::open(&config.dir)?;
        let sm = StateMachine::open(&config.dir)?;
        let published = sm.subscribe();
        let hb = config.heartbeat.as_millis().max(10) as u64;
        let election = config.election_timeout.as_millis().max(3 * hb as u128) as u64;
        let raft_config = openraft::Config {
            cluster_name: "strata".into(),
            heartbeat_interval: hb,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 200,
            snapshot_max_chunk_size: 4 * 1024 * 1024,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::new(MetaErrorKind::InvalidConfig, format!("raft config: {e}")))?;
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            Network::new(config.tls.clone()),
            log,
            sm,
        )
        .await
        .map_err(|e| MetaError::new(MetaErrorKind::Fatal, format!("start raft: {e}")))?;
        let (stop_server, stop_rx) = watch::channel(false);
        let quorum = Arc::new(Quorum {
            config: config.clone(),
            raft,
            published,
            exec: Mutex::new(()),
            stop_server,
            heartbeats: std::sync::Mutex::new(BTreeMap::new()),
        });
        if let Some(addr) = config.cluster_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                MetaError::new(
                    MetaErrorKind::InvalidConfig,
                    format!("cannot listen on --cluster-listen {addr}: {e}"),
                )
            })?;
            let service = ClusterServer::new(ClusterService::new(quorum.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES);
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let mut server = tonic::transport::Server::builder().tcp_nodelay(true);
            if let Some(tls) = &config.tls {
                server = server.tls_config(tls.server_config()).map_err(|e| {
                    MetaError::new(
                        MetaErrorKind::InvalidConfig,
                        format!("TLS of --cluster-listen {addr}: {}", chain(&e)),
                    )
                })?;
            }
            tracing::info!(%addr, tls = config.tls.is_some(), "quorum listener");
            let mut stop_rx = stop_rx;
            tokio::spawn(async move {
                let res = server
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, async move {
                        let _ = stop_rx.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = res {
                    tracing::error!(error = %e, "cluster listener stopped");
                }
            });
        }
        let initialized = quorum
            .raft
            .is_initialized()
            .await
            .map_err(|e| MetaError::new(MetaErrorKind::Fatal, format!("raft: {e}")))?;
        if !initialized {
            let members: BTreeMap<NodeId, BasicNode> = config
                .voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
                .collect();
            // Every voter may initialise with the same membership: openraft allows it.
            if let Err(e) = quorum.raft.initialize(members).await {
                tracing::info!(error = %e, "quorum already formed");
            }
        }
        Ok(quorum)
    }

    /// The Raft node.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The voters.
    pub fn voters(&self) -> &Voters {
        &self.config.voters
    }

    /// The applied image.
    pub fn image(&self) -> Arc<MetadataState> {
        self.published.borrow().image.clone()
    }

    /// Subscribes to applied images.
    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.published.clone()
    }

    /// The current leader, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Waits until a leader is known and this node has applied everything the leader had
    /// committed when asked. Used at start so the broker serves an up-to-date image.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), MetaError> {
        let deadline = Instant::now() + timeout;
        loop {
            let res = self.execute(Operation::Barrier).await;
            match res {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Executes `op` on the leader (forwarding it when that is another node) and waits until
    /// this node has applied it.
    pub async fn execute(&self, op: Operation) -> Result<Outcome, MetaError> {
        let deadline = Instant::now() + EXECUTE_TIMEOUT;
        let mut last_err = MetaError::new(MetaErrorKind::NoQuorum, "no quorum leader known");
        while Instant::now() < deadline {
            let attempt = match self.leader() {
                Some(l) if l == self.config.node_id => self.execute_as_leader(op.clone()).await,
                Some(l) => self.forward(l, &op).await,
                None => Err(MetaError::new(
                    MetaErrorKind::NoQuorum,
                    "no quorum leader known",
                )),
            };
            match attempt {
                Ok((outcome, index)) => {
                    self.wait_applied(index, deadline).await?;
                    return Ok(outcome);
                }
                Err(e) if e.kind == MetaErrorKind::NoQuorum => {
                    last_err = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err)
    }

    async fn forward(&self, leader: NodeId, op: &Operation) -> Result<(Outcome, u64), MetaError> {
        let no_quorum = |why: String| MetaError::new(MetaErrorKind::NoQuorum, why);
        let addr = self
            .config
            .voters
            .get(&leader)
            .ok_or_else(|| no_quorum(format!("leader {leader} is not a known voter")))?;
        let mut client = client_for(addr, self.config.tls.as_ref())
            .map_err(|e| no_quorum(format!("{addr}: {e}")))?;
        let call = client.execute(to_json(op));
        let reply = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .map_err(|_| no_quorum(format!("leader {leader} did not answer in time")))?
            .map_err(|s| no_quorum(format!("leader {leader}: {s}")))?;
        from_json::<Result<(Outcome, u64), MetaError>>(reply.get_ref())
            .map_err(|e| no_quorum(format!("leader {leader} answered garbage: {e}")))?
    }

    /// Plans and commits `op` if this node leads; `NoQuorum` otherwise. Returns the outcome and
    /// the Raft index at which it is applied.
    pub async fn execute_as_leader(&self, op: Operation) -> Result<(Outcome, u64), MetaError> {
        let no_quorum = |why: String| MetaError::new(MetaErrorKind::NoQuorum, why);
        let _one_at_a_time = self.exec.lock().await;
        self.raft
            .ensure_linearizable()
            .await
            .map_err(|e| no_quorum(format!("not the quorum leader: {e}")))?;
        let published = self.published.borrow().clone();
        let (records, outcome) = plan(&published.image, &op)?;
        if records.is_empty() {
            return Ok((outcome, published.applied));
        }
        let write = self.raft.client_write(Batch { records });
        match tokio::time::timeout(Duration::from_secs(10), write).await {
            Err(_) => Err(no_quorum("the quorum did not commit in time".into())),
            Ok(Ok(resp)) => Ok((outcome, resp.log_id.index)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(no_quorum(format!("leadership moved to {:?}", f.leader_id)))
            }
            Ok(Err(e)) => Err(MetaError::new(
                MetaErrorKind::Fatal,
                format!("metadata quorum failed: {e}"),
            )),
        }
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), MetaError> {
        let mut rx = self.published.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = rx.wait_for(|p| p.applied >= index);
        let res = tokio::time::timeout(left.max(Duration::from_secs(1)), wait).await;
        match res {
            Ok(Ok(_)) => Ok(()),
            _ => Err(MetaError::new(
                MetaErrorKind::NoQuorum,
                format!("committed at index {index} but not applied here in time"),
            )),
        }
    }

    /// Records a broker's heartbeat if this node leads the quorum; `NoQuorum` otherwise.
    pub fn record_heartbeat(&self, node: i32) -> Result<(), MetaError> {
        if self.leader() != Some(self.config.node_id) {
            return Err(MetaError::new(
                MetaErrorKind::NoQuorum,
                "not the quorum leader",
            ));
        }
        self.heartbeats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node, Instant::now());
        Ok(())
    }

    /// Sends `node`'s heartbeat to the quorum leader (recorded here if that is this node).
    pub async fn send_heartbeat(&self, node: i32) -> Result<(), MetaError> {
        let no_quorum = |why: String| MetaError::new(MetaErrorKind::NoQuorum, why);
        match self.leader() {
            None => Err(no_quorum("no quorum leader known".into())),
            Some(l) if l == self.config.node_id => self.record_heartbeat(node),
            Some(l) => {
                let addr = self
                    .config
                    .voters
                    .get(&l)
                    .ok_or_else(|| no_quorum(format!("leader {l} is not a known voter")))?;
                let mut client = client_for(addr, self.config.tls.as_ref())
                    .map_err(|e| no_quorum(format!("{addr}: {e}")))?;
                let reply =
                    tokio::time::timeout(Duration::from_secs(2), client.heartbeat(to_json(&node)))
                        .await
                        .map_err(|_| no_quorum(format!("leader {l} did not answer in time")))?
                        .map_err(|s| no_quorum(format!("leader {l}: {s}")))?;
                from_json::<Result<(), MetaError>>(reply.get_ref())
                    .map_err(|e| no_quorum(format!("leader {l} answered garbage: {e}")))?
            }
        }
    }

    /// On the leader: when `node` last sent a heartbeat. A broker this leader has not heard
    /// from yet (it just registered, or this node just became leader) counts as heard from
    /// now, so it gets a full session before it can be fenced.
    pub fn last_heartbeat(&self, node: i32) -> Instant {
        *self
            .heartbeats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node)
            .or_insert_with(Instant::now)
    }

    /// Forgets every heartbeat (a node that just became leader gives every broker a full
    /// session from now).
    pub fn reset_heartbeats(&self, nodes: impl IntoIterator<Item = i32>) {
        let now = Instant::now();
        let mut map = self.heartbeats.lock().unwrap_or_else(|p| p.into_inner());
        map.clear();
        for n in nodes {
            map.insert(n, now);
        }
    }

    /// Where the quorum stands.
    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => "Leader",
            ServerState::Follower => "Follower",
            ServerState::Candidate => "Candidate",
            ServerState::Learner => "Learner",
            ServerState::Shutdown => "Shutdown",
        };
        let matched = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.map(|l| l.index).unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        let voters = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        QuorumStatus {
            node_id: self.config.node_id,
            role: role.to_string(),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied: m.last_applied.map(|l| l.index).unwrap_or(0),
            voters,
            matched,
        }
    }

    /// Stops the Raft node and the listener.
    pub async fn shutdown(&self) {
        let _ = self.stop_server.send(true);
        let _ = self.raft.shutdown().await;
    }
}
