//! The gRPC admin API of a Strata broker: package `strata.admin.v1`, service `Admin`
//! (`proto/strata_admin.proto`, docs/admin-api.md), with server reflection (v1 and v1alpha).
//!
//! # Design
//! The service is a Kafka client of the cluster, like the `strata` admin subcommands: every
//! call becomes Kafka requests sent through [`cluster_client::ClusterClient`] to the bootstrap
//! address (Metadata, CreateTopics, …), to partition leaders (ListOffsets) and to group
//! coordinators (DescribeGroups, OffsetFetch). It never touches the broker's state directly,
//! so it answers the same in a cluster as on one node, follows leaders and coordinators as
//! they move, and cannot break an invariant the Kafka handlers keep. Remote ranges are read
//! from the object store's segment manifests ([`remote`]), the tier's source of truth.
//!
//! # Invariants
//! - Off unless [`serve`] is called (`strata serve --grpc-listen`, `strata.grpc.listen`).
//! - Errors are gRPC statuses with Kafka's error name in a `google.rpc.ErrorInfo` detail
//!   ([`error`]).
//! - [`serve`] stops accepting calls when its shutdown future completes; open WatchTopic
//!   streams then end with UNAVAILABLE, and unary calls in flight get a bounded grace.
//! - With [`AdminConfig::token`] set, every call (reflection included) must carry
//!   `authorization: Bearer <token>`, else it is UNAUTHENTICATED before any service code runs
//!   ([`auth`]). TLS is the caller's: [`serve_with_incoming`] takes connections already
//!   through their handshake (`strata serve` terminates TLS with rustls).

pub mod assignment;
pub mod auth;
mod groups;
mod service;
mod tier;
mod topics;
mod watch;

pub mod cluster_client;
pub mod error;
pub mod remote;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use strata_tier::store::{RemoteStore, StoreOptions};
use tokio::net::TcpListener;

/// The generated gRPC code for `proto/strata_admin.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    tonic::include_proto!("strata.admin.v1");

    /// The encoded file descriptor set of `strata_admin.proto`, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/strata_admin_descriptor.bin"));
}

/// The fully qualified name of the service.
pub const SERVICE_NAME: &str = "strata.admin.v1.Admin";

/// How long [`serve`] lets calls in flight finish after shutdown before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the admin API finds the cluster and the object store.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// The broker's Kafka address the service connects to, `HOST:PORT`.
    pub bootstrap: String,
    /// The object store of tiered segments (`file:///DIR` or `s3://BUCKET/PREFIX`).
    pub object_store_url: String,
    /// The bearer token every call must carry (None: calls are not authenticated).
    pub token: Option<auth::BearerToken>,
    /// How the API's Kafka client reaches `bootstrap` and the other brokers (TLS, SASL login):
    /// the principal its calls run as when the broker's authorizer is on.
    pub kafka_security: strata_broker::kafka_client::ClientSecurity,
}

/// Serves the admin API on `listener` (plaintext HTTP/2) until `shutdown` completes; then
/// WatchTopic streams end with UNAVAILABLE and unary calls in flight get [`SHUTDOWN_GRACE`] to
/// finish.
pub async fn serve(
    listener: TcpListener,
    config: AdminConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    serve_with_incoming(incoming, addr, config, shutdown).await
}

/// Like [`serve`], on connections from `incoming` (for example TLS streams whose handshake is
/// done); `addr` is the listener's address, for the log.
pub async fn serve_with_incoming<S, IO, IE>(
    incoming: S,
    addr: std::net::SocketAddr,
    config: AdminConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()>
where
    S: futures::Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IO::ConnectInfo: Clone + Send + Sync + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let store = RemoteStore::from_url(&config.object_store_url, StoreOptions::default())
        .await
        .with_context(|| format!("open object store {}", config.object_store_url))?;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let admin = service::AdminService::new(service::Shared {
        bootstrap: config.bootstrap.clone(),
        security: config.kafka_security.clone(),
        store: Some(Arc::new(store)),
        store_url: config.object_store_url.clone(),
        stopping,
    });
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("build the reflection service (v1)")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("build the reflection service (v1alpha)")?;
    tracing::info!(%addr, bootstrap = %config.bootstrap, "gRPC admin API listening");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .layer(tonic::service::InterceptorLayer::new(
            auth::TokenInterceptor {
                token: config.token.clone(),
            },
        ))
        .add_service(proto::admin_server::AdminServer::new(admin))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stop_rx.await;
        });
    let mut server = std::pin::pin!(server);
    tokio::select! {
        out = &mut server => return out.context("gRPC admin server"),
        _ = shutdown => {}
    }
    let _ = stopping_tx.send(true);
    let _ = stop_tx.send(());
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(out) => out.context("gRPC admin server"),
        Err(_) => {
            tracing::info!("gRPC admin API: calls still open after {SHUTDOWN_GRACE:?}; cut");
            Ok(())
        }
    }
}
