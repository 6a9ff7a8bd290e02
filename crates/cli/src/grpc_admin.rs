//! Wiring of the gRPC admin API (crates/admin) into `strata serve`: off unless
//! `strata.grpc.listen` (`--grpc-listen HOST:PORT`) is set.
//!
//! The listener is bound before the broker starts, so a bad or busy address fails
//! `strata serve` at once. The service reaches the broker through the broker's own Kafka
//! listener (an unspecified listen address, `0.0.0.0` or `::`, is reached on loopback) and
//! reads the same object store the broker tiers to (`strata.object.store`, default
//! `file://<data dir>/remote`). It stops when the broker has stopped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context;
use strata_broker::BrokerConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The setting that turns the admin API on.
pub(crate) const GRPC_LISTEN: &str = "strata.grpc.listen";

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

/// Binds and starts the admin API if `strata.grpc.listen` is set.
pub(crate) async fn start(config: &BrokerConfig) -> anyhow::Result<Option<Running>> {
    let Some(listen) = config
        .raw
        .get(GRPC_LISTEN)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("{GRPC_LISTEN} = {listen}: expected IP:PORT"))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind the gRPC admin listener {addr}"))?;
    let admin = strata_admin::AdminConfig {
        bootstrap: bootstrap_for(config.listen).to_string(),
        object_store_url: object_store_url(config)?,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(strata_admin::serve(listener, admin, async {
        let _ = stopped.await;
    }));
    Ok(Some(Running { stop, task }))
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
