//! The server side of node-to-node RPC (`--cluster-listen`): Raft messages into the local Raft
//! node, and operations forwarded by other nodes into the local leader's executor.
//!
//! Invariant: a message that does not decode is answered with `INVALID_ARGUMENT`, never a
//! panic; a forwarded operation that reaches a node that is not the leader is answered with a
//! `NoQuorum` error, and the sender looks for the leader again.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::network::{from_json, to_json};
use crate::proto::cluster_server::Cluster;
use crate::proto::Json;
use crate::quorum::Quorum;

/// The `Cluster` gRPC service of one node.
#[derive(Debug, Clone)]
pub struct ClusterService {
    quorum: Arc<Quorum>,
}

impl ClusterService {
    /// Serves `quorum`.
    pub fn new(quorum: Arc<Quorum>) -> ClusterService {
        ClusterService { quorum }
    }
}

fn decode<T: serde::de::DeserializeOwned>(req: &Request<Json>) -> Result<T, Status> {
    from_json(req.get_ref()).map_err(|e| Status::invalid_argument(format!("bad message: {e}")))
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn append_entries(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let rpc = decode(&req)?;
        let res = self.quorum.raft().append_entries(rpc).await;
        Ok(Response::new(to_json(&res)))
    }

    async fn vote(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let rpc = decode(&req)?;
        let res = self.quorum.raft().vote(rpc).await;
        Ok(Response::new(to_json(&res)))
    }

    async fn install_snapshot(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let rpc = decode(&req)?;
        let res = self.quorum.raft().install_snapshot(rpc).await;
        Ok(Response::new(to_json(&res)))
    }

    async fn heartbeat(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let node: i32 = decode(&req)?;
        let res = self.quorum.record_heartbeat(node);
        Ok(Response::new(to_json(&res)))
    }

    async fn execute(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let op = decode(&req)?;
        let res = self.quorum.execute_as_leader(op).await;
        Ok(Response::new(to_json(&res)))
    }
}
