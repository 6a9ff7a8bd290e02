//! Wiring of the gRPC admin API (crates/admin) into `strata serve`: off unless
//! `strata.grpc.listen` (`--grpc-listen HOST:PORT`) is set.
//!
//! The listener is bound before the broker starts, so a bad or busy address fails
//! `strata serve` at once. The service reaches the broker through the broker's own Kafka
//! listener (an unspecified listen address, `0.0.0.0` or `::`, is reached on loopback) and
//! reads the same object store the broker tiers to (`strata.object.store`, default
//! `file://<data dir>/remote`). It stops when the broker has stopped.
//!
//! Security ([`SETTINGS`], checked by crate::door_security before anything listens):
//! - `strata.grpc.tls.cert` / `strata.grpc.tls.key` (`--grpc-tls-cert`, `--grpc-tls-key`):
//!   TLS, terminated here with rustls (ALPN `h2`) and handed to tonic as finished streams.
//!   The Kafka listeners' certificate is never reused.
//! - `strata.grpc.tls.client.ca` (`--grpc-client-ca`): client certificates chaining to this
//!   CA are required during the handshake (needs TLS).
//! - `strata.grpc.token.file` (`--grpc-token-file`): every call needs
//!   `authorization: Bearer <token>` (`strata_admin::auth`); a warning at start when it is
//!   used without TLS.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use strata_broker::kafka_client::ClientSecurity;

use anyhow::Context;
use strata_broker::BrokerConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::door_security::{get, DoorSecurity, DoorSettings, Setting};

/// The setting that turns the admin API on.
pub(crate) const GRPC_LISTEN: &str = "strata.grpc.listen";

/// The admin API's settings.
pub(crate) const SETTINGS: DoorSettings = DoorSettings {
    door: "the gRPC admin API",
    listen: Setting {
        name: GRPC_LISTEN,
        flag: "--grpc-listen",
    },
    cert: Setting {
        name: "strata.grpc.tls.cert",
        flag: "--grpc-tls-cert",
    },
    key: Setting {
        name: "strata.grpc.tls.key",
        flag: "--grpc-tls-key",
    },
    client_ca: Some(Setting {
        name: "strata.grpc.tls.client.ca",
        flag: "--grpc-client-ca",
    }),
    token: Setting {
        name: "strata.grpc.token.file",
        flag: "--grpc-token-file",
    },
    alpn: &[b"h2"],
};

/// The checked settings of an admin API that is on.
pub(crate) struct GrpcConfig {
    addr: SocketAddr,
    security: DoorSecurity,
}

impl GrpcConfig {
    /// The admin API's settings, checked; None when it is off.
    pub(crate) fn from_settings(config: &BrokerConfig) -> anyhow::Result<Option<GrpcConfig>> {
        let listen = get(&config.raw, GRPC_LISTEN);
        let security = SETTINGS.load(&config.raw, listen.is_some())?;
        let Some(listen) = listen else {
            return Ok(None);
        };
        let addr = listen
            .parse()
            .with_context(|| format!("{GRPC_LISTEN} = {listen}: expected IP:PORT"))?;
        Ok(Some(GrpcConfig { addr, security }))
    }
}

/// A running admin API: stop it with [`Running::stop`].
pub(crate) struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The address the service dials to reach a broker listening on `listen`.
fn bootstrap_for(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}

/// The object store URL the broker uses (see crates/broker/src/tiering.rs `store_url`).
fn object_store_url(config: &BrokerConfig) -> anyhow::Result<String> {
    Ok(match config.raw.get("strata.object.store") {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => {
            let dir = std::path::absolute(config.data_dir.join("remote"))?;
            format!("file://{}", dir.display())
        }
    })
}

/// The setting naming the Kafka client properties (Kafka's `--command-config` form) the admin
/// API's own Kafka client uses: with the authorizer on, its calls run as the principal those
/// properties log in as.
pub(crate) const KAFKA_COMMAND_CONFIG: &str = "strata.grpc.kafka.command.config";

/// Where and how the admin API's Kafka client connects: the first PLAINTEXT listener without
/// [`KAFKA_COMMAND_CONFIG`]; with it, the first listener of the protocol it names.
fn kafka_client(config: &BrokerConfig) -> anyhow::Result<(String, ClientSecurity)> {
    let Some(path) = config
        .raw
        .get(KAFKA_COMMAND_CONFIG)
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    else {
        return Ok((
            bootstrap_for(config.listen).to_string(),
            ClientSecurity::plaintext(),
        ));
    };
    let security = ClientSecurity::load_command_config(Some(std::path::Path::new(path)))
        .with_context(|| format!("{KAFKA_COMMAND_CONFIG} = {path}"))?;
    let listener = config
        .listeners
        .iter()
        .find(|l| l.protocol == security.protocol())
        .with_context(|| {
            format!(
                "{KAFKA_COMMAND_CONFIG}: no listener speaks {:?}, the security.protocol of {path}",
                security.protocol()
            )
        })?;
    Ok((bootstrap_for(listener.addr).to_string(), security))
}

/// Binds and starts the admin API.
pub(crate) async fn start(grpc: GrpcConfig, config: &BrokerConfig) -> anyhow::Result<Running> {
    let GrpcConfig { addr, security } = grpc;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind the gRPC admin listener {addr}"))?;
    if security.token.is_some() && security.tls.is_none() {
        tracing::warn!(
            "{} is set without TLS ({}, {}): the admin token travels in clear text",
            SETTINGS.token,
            SETTINGS.cert,
            SETTINGS.key
        );
    }
    tracing::info!(
        %addr,
        transport = security.mode(),
        token = security.token.is_some(),
        "gRPC admin API security"
    );
    let (bootstrap, kafka_security) = kafka_client(config)?;
    let admin = strata_admin::AdminConfig {
        bootstrap,
        object_store_url: object_store_url(config)?,
        token: security.token,
        kafka_security,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let task = match security.tls {
        None => tokio::spawn(strata_admin::serve(listener, admin, stopped)),
        Some(acceptor) => {
            let incoming = crate::door_security::tls_incoming(listener, acceptor, "gRPC admin API");
            tokio::spawn(strata_admin::serve_with_incoming(
                incoming, addr, admin, stopped,
            ))
        }
    };
    Ok(Running { stop, task })
}

impl Running {
    /// Stops the admin API and waits for it (bounded by its shutdown grace).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("gRPC admin API failed: {e:#}"),
            Err(e) => tracing::error!("gRPC admin API task failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_are_dialed_on_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(bootstrap_for(at("0.0.0.0:9092")), at("127.0.0.1:9092"));
        assert_eq!(bootstrap_for(at("[::]:9092")), at("[::1]:9092"));
        assert_eq!(bootstrap_for(at("10.0.0.5:9092")), at("10.0.0.5:9092"));
    }
}
