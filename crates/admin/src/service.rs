//! The tonic service: one method per call of `strata.admin.v1.Admin`.
//!
//! Invariants:
//! - Every call runs in a tracing span `admin_call` with the call's name and its topic or
//!   group, and logs its outcome (gRPC code and time taken) at the end.
//! - Every unary call opens its own [`ClusterClient`] to the bootstrap address and drops it
//!   when done: calls never share a connection, so one slow call cannot stall another, and a
//!   broken connection never outlives its call.
//! - Every error becomes a status through [`crate::error::to_status`].

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use strata_tier::store::RemoteStore;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::cluster_client::ClusterClient;
use crate::error::to_status;
use crate::proto;
use crate::proto::admin_server::Admin;
use crate::{groups, tier, topics, watch};

/// What every call needs: where the cluster is, and the object store of tiered segments.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Kafka bootstrap address, `HOST:PORT`.
    pub(crate) bootstrap: String,
    /// How the Kafka client connects (TLS, SASL login).
    pub(crate) security: strata_broker::kafka_client::ClientSecurity,
    /// The object store (None: remote ranges are reported empty).
    pub(crate) store: Option<Arc<RemoteStore>>,
    /// Its URL, as reported by TierStatus.
    pub(crate) store_url: String,
    /// Becomes true when the server shuts down: WatchTopic streams end then.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

/// The `Admin` service.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    shared: Arc<Shared>,
}

impl AdminService {
    pub(crate) fn new(shared: Shared) -> AdminService {
        AdminService {
            shared: Arc::new(shared),
        }
    }

    /// Runs `call` with a fresh client in `span`, mapping its error to a status.
    async fn unary<T, F, Fut>(&self, span: tracing::Span, call: F) -> Result<Response<T>, Status>
    where
        F: FnOnce(ClusterClient, Arc<Shared>) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let shared = self.shared.clone();
        let started = Instant::now();
        async move {
            let out = match ClusterClient::connect_with(&shared.bootstrap, shared.security.clone())
                .await
            {
                Ok(client) => call(client, shared.clone()).await,
                Err(e) => Err(e.context(format!("connect to {}", shared.bootstrap))),
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match out {
                Ok(v) => {
                    tracing::info!(code = "OK", elapsed_ms, "admin call done");
                    Ok(Response::new(v))
                }
                Err(e) => {
                    let status = to_status(&e);
                    tracing::info!(code = ?status.code(), elapsed_ms, "admin call failed: {e:#}");
                    Err(status)
                }
            }
        }
        .instrument(span)
        .await
    }
}

fn span(call: &'static str, subject: &str) -> tracing::Span {
    tracing::info_span!("admin_call", call, subject)
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn list_topics(
        &self,
        request: Request<proto::ListTopicsRequest>,
    ) -> Result<Response<proto::ListTopicsResponse>, Status> {
        let req = request.into_inner();
        self.unary(span("ListTopics", ""), |mut c, _| async move {
            topics::list_topics(&mut c, req.include_internal).await
        })
        .await
    }

    async fn describe_topic(
        &self,
        request: Request<proto::DescribeTopicRequest>,
    ) -> Result<Response<proto::DescribeTopicResponse>, Status> {
        let req = request.into_inner();
        self.unary(span("DescribeTopic", &req.name), |mut c, s| async move {
            topics::describe_topic(&mut c, s.store.as_deref(), &req.name).await
        })
        .await
    }

    async fn create_topic(
        &self,
        request: Request<proto::CreateTopicRequest>,
    ) -> Result<Response<proto::CreateTopicResponse>, Status> {
        let req = request.into_inner();
        let span = span("CreateTopic", &req.name);
        self.unary(span, |mut c, _| async move {
            topics::create_topic(&mut c, req).await
        })
        .await
    }

    async fn delete_topic(
        &self,
        request: Request<proto::DeleteTopicRequest>,
    ) -> Result<Response<proto::DeleteTopicResponse>, Status> {
        let req = request.into_inner();
        self.unary(span("DeleteTopic", &req.name), |mut c, _| async move {
            topics::delete_topic(&mut c, &req.name).await
        })
        .await
    }

    async fn alter_topic_config(
        &self,
        request: Request<proto::AlterTopicConfigRequest>,
    ) -> Result<Response<proto::AlterTopicConfigResponse>, Status> {
        let req = request.into_inner();
        let span = span("AlterTopicConfig", &req.name);
        self.unary(span, |mut c, _| async move {
            topics::alter_topic_config(&mut c, req).await
        })
        .await
    }

    async fn list_groups(
        &self,
        _request: Request<proto::ListGroupsRequest>,
    ) -> Result<Response<proto::ListGroupsResponse>, Status> {
        self.unary(span("ListGroups", ""), |mut c, _| async move {
            groups::list_groups(&mut c).await
        })
        .await
    }

    async fn describe_group(
        &self,
        request: Request<proto::DescribeGroupRequest>,
    ) -> Result<Response<proto::DescribeGroupResponse>, Status> {
        let req = request.into_inner();
        self.unary(
            span("DescribeGroup", &req.group_id),
            |mut c, _| async move { groups::describe_group(&mut c, &req.group_id).await },
        )
        .await
    }

    async fn tier_status(
        &self,
        request: Request<proto::TierStatusRequest>,
    ) -> Result<Response<proto::TierStatusResponse>, Status> {
        let req = request.into_inner();
        self.unary(span("TierStatus", &req.topic), |mut c, s| async move {
            let Some(store) = s.store.as_deref() else {
                anyhow::bail!("no object store is configured");
            };
            tier::tier_status(&mut c, store, &s.store_url, &req.topic).await
        })
        .await
    }

    type WatchTopicStream = watch::WatchStream;

    async fn watch_topic(
        &self,
        request: Request<proto::WatchTopicRequest>,
    ) -> Result<Response<Self::WatchTopicStream>, Status> {
        let req = request.into_inner();
        let every = watch::interval(req.interval_ms);
        let span = span("WatchTopic", &req.name);
        span.in_scope(|| tracing::info!(interval_ms = every.as_millis() as u64, "watch started"));
        Ok(Response::new(watch::start(
            self.shared.clone(),
            req.name,
            every,
            span,
        )))
    }
}
