//! The client side of node-to-node RPC: openraft's network over tonic, and forwarding a
//! metadata operation to the quorum leader.
//!
//! Every message is openraft's (or Strata's) own serde type carried as JSON in the `Json`
//! message of `proto/strata_cluster.proto`.
//!
//! Invariants:
//! - a peer that cannot be reached is reported as `Unreachable`, so openraft backs off instead
//!   of spinning; every call is bounded by openraft's hard TTL;
//! - channels connect lazily and reconnect by themselves (tonic), so a restarted peer is found
//!   again without restarting this node;
//! - with [`ClusterTls`] every channel is TLS (`https://`, the node certificate as client
//!   certificate, the peer checked against the cluster CA; see `link_tls.rs`), never plaintext;
//! - a link that starts failing (peer down, TLS handshake refused either way) is logged at warn
//!   with the reason, again only when the reason changes, and once at info when it works
//!   again; repeats are logged at debug, so an unreachable voter does not flood the log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

use crate::link_tls::{chain, ClusterTls};
use crate::proto::cluster_client::ClusterClient;
use crate::proto::Json;
use crate::types::{NodeId, TypeConfig};

/// Largest gRPC message between nodes (snapshots are chunked well below this).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A lazily connecting client for the node at `addr` (`host:port`), over TLS when `tls` is
/// given.
pub fn client_for(
    addr: &str,
    tls: Option<&ClusterTls>,
) -> Result<ClusterClient<Channel>, tonic::transport::Error> {
    let endpoint = match tls {
        None => Endpoint::from_shared(format!("http://{addr}"))?,
        Some(tls) => {
            Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls.client_config())?
        }
    };
    let channel = endpoint
        .connect_timeout(Duration::from_millis(500))
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(ClusterClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Encodes a message as the RPC payload.
pub fn to_json<T: Serialize>(value: &T) -> Json {
    Json {
        json: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// Decodes an RPC payload.
pub fn from_json<T: DeserializeOwned>(msg: &Json) -> Result<T, serde_json::Error> {
    serde_json::from_slice(&msg.json)
}

/// Makes one openraft client per peer.
#[derive(Debug, Clone, Default)]
pub struct Network {
    tls: Option<ClusterTls>,
    links: Links,
}

impl Network {
    /// The network of a node whose links use `tls` (plaintext without).
    pub fn new(tls: Option<ClusterTls>) -> Network {
        Network {
            tls,
            links: Links::default(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            node: node.clone(),
            client: client_for(&node.addr, self.tls.as_ref()).ok(),
            links: self.links.clone(),
        }
    }
}

/// Why each failing peer's link last failed, shared by every client of one node (openraft
/// makes new clients for each replication stream and election), so each outage, and each
/// change of its reason (connection refused, then a refused certificate), is logged once.
#[derive(Debug, Clone, Default)]
struct Links(Arc<Mutex<BTreeMap<NodeId, String>>>);

impl Links {
    fn failed(&self, target: NodeId, addr: &str, why: &str) {
        let previous = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target, why.to_string());
        if previous.as_deref() != Some(why) {
            tracing::warn!(node = target, %addr, "quorum link to node {target} at {addr} failed: {why}");
        } else {
            tracing::debug!(node = target, %addr, "quorum link to node {target} still failing: {why}");
        }
    }

    fn worked(&self, target: NodeId, addr: &str) {
        let was_failing = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&target);
        if was_failing.is_some() {
            tracing::info!(node = target, %addr, "quorum link to node {target} at {addr} works again");
        }
    }
}

/// A failed call's status as one line: its message and the reasons under it (a refused
/// connection, a TLS alert, an untrusted certificate).
fn describe(status: &tonic::Status) -> String {
    match std::error::Error::source(status) {
        Some(source) => format!("{}: {}", status.message(), chain(source)),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// openraft's connection to one peer.
#[derive(Debug)]
pub struct PeerClient {
    target: NodeId,
    node: BasicNode,
    client: Option<ClusterClient<Channel>>,
    links: Links,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transport(String);

impl PeerClient {
    async fn call<Req, Resp, E>(
        &mut self,
        which: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(client) = self.client.as_mut() else {
            return Err(RPCError::Unreachable(Unreachable::new(&Transport(
                format!("bad address {}", self.node.addr),
            ))));
        };
        let msg = to_json(req);
        let fut = async {
            match which {
                Rpc::Append => client.append_entries(msg).await,
                Rpc::Vote => client.vote(msg).await,
                Rpc::Snapshot => client.install_snapshot(msg).await,
            }
        };
        let reply = match tokio::time::timeout(option.hard_ttl(), fut).await {
            Err(_) => {
                let why = format!("no answer within {:?}", option.hard_ttl());
                self.links.failed(self.target, &self.node.addr, &why);
                return Err(RPCError::Unreachable(Unreachable::new(&Transport(
                    format!("node {}: {why}", self.target),
                ))));
            }
            Ok(Err(status)) => {
                let why = describe(&status);
                self.links.failed(self.target, &self.node.addr, &why);
                return Err(RPCError::Unreachable(Unreachable::new(&Transport(
                    format!("node {} at {}: {why}", self.target, self.node.addr),
                ))));
            }
            Ok(Ok(reply)) => reply.into_inner(),
        };
        self.links.worked(self.target, &self.node.addr);
        let result: Result<Resp, RaftError<NodeId, E>> =
            from_json(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }
}
