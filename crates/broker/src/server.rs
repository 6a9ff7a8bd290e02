//! The listeners and the broker's lifecycle.
//!
//! Listeners (`listeners.rs`): every one is bound before the broker reports ready, each accept
//! loop hands its sockets, tagged with their listener, to the one admission loop; the TLS
//! settings are checked before the data directory is opened (`tls.rs`).
//!
//! Shutdown order (SIGTERM): stop accepting; tell connections to finish the request in hand and
//! close; wait up to `strata.shutdown.timeout.ms` for them; flush and close every log (which
//! writes the clean-shutdown markers); return.
//!
//! Admission: every accepted socket must get a place from [`ConnectionLimits`]
//! (`max.connections`, `max.connections.per.ip`) or is closed at once; admitted connections share
//! one [`RequestBudget`] (`queued.max.request.bytes`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::conn_limits::ConnectionLimits;
use crate::connection;
use crate::error::BrokerError;
use crate::frame_reader::{FrameLimits, FrameReader};
use crate::request_budget::RequestBudget;
use crate::tasks;

/// Opens the data dir, serves until `shutdown` resolves, then shuts down cleanly.
pub async fn run(
    config: BrokerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    // TLS settings are checked before anything is opened.
    let tls = if config.listeners.iter().any(|l| l.protocol.tls()) {
        Some(crate::tls::acceptor(&config.raw).map_err(BrokerError::Config)?)
    } else {
        None
    };
    let broker = tokio::task::block_in_place(|| Broker::open(config))?;
    tokio::task::block_in_place(|| crate::sasl::bootstrap::apply(&broker))?;
    crate::tiering::open(&broker).await?;
    // Every listener's accepted sockets come through one channel, tagged with their listener.
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::channel(64);
    let mut acceptors = JoinSet::new();
    for l in &broker.config.listeners {
        let socket = TcpListener::bind(l.addr)
            .await
            .map_err(|e| BrokerError::io(format!("bind {} ({})", l.addr, l.name), e))?;
        let bound = Arc::new(BoundListener {
            name: l.protocol.name(),
            tls: tls.clone().filter(|_| l.protocol.tls()),
            sasl: l.protocol.sasl(),
        });
        tracing::info!(
            listener = %l.name,
            listen = %l.addr,
            advertised = %format!("{}:{}", l.advertised_host, l.advertised_port),
            "listening"
        );
        acceptors.spawn(accept_loop(socket, bound, accepted_tx.clone()));
    }
    drop(accepted_tx);
    tracing::info!(
        listen = %broker.config.listen,
        advertised = %format!("{}:{}", broker.config.advertised_host, broker.config.advertised_port),
        data_dir = %broker.config.data_dir.display(),
        "strata broker ready"
    );
    let background = tasks::spawn_all(&broker)?;
    let conn = &broker.config.connections;
    let limits = ConnectionLimits::new(conn.max_connections, conn.max_connections_per_ip);
    let budget = RequestBudget::new(conn.queued_max_request_bytes);
    let frame_limits = FrameLimits {
        max_frame_bytes: broker.config.socket_request_max_bytes,
        idle_timeout: conn.connections_max_idle,
        read_timeout: conn.request_read_timeout,
    };
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = accepted_rx.recv() => match accepted {
                Some((stream, peer, bound)) => match limits.admit(peer.ip()) {
                    Ok(slot) => {
                        let reader = FrameReader::new(frame_limits.clone(), budget.clone());
                        connections.spawn(connection::serve(broker.clone(), stream, peer, reader, slot, bound));
                    }
                    Err(rejection) => {
                        let (total, from_ip) = limits.live(peer.ip());
                        tracing::warn!(
                            %peer,
                            reason = rejection.reason(),
                            live = total,
                            live_from_ip = from_ip,
                            "refusing connection"
                        );
                        metrics::counter!(
                            "strata_connections_rejected_total",
                            "reason" => rejection.reason()
                        )
                        .increment(1);
                        drop(stream);
                    }
                },
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    tracing::info!(
        connections = connections.len(),
        "shutting down: draining connections"
    );
    acceptors.abort_all();
    drop(accepted_rx);
    broker.begin_shutdown();
    crate::liveness::controlled_shutdown(&broker).await;
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(
        Duration::from_millis(broker.config.shutdown_timeout_ms),
        drain,
    )
    .await
    .is_err()
    {
        tracing::warn!("shutdown timeout: aborting remaining connections");
        connections.abort_all();
    }
    for task in background {
        task.abort();
    }
    let broker = Arc::clone(&broker);
    tokio::task::block_in_place(|| broker.close_logs())?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// A bound listener as its connections see it.
pub(crate) struct BoundListener {
    /// The listener's name (its protocol's).
    pub(crate) name: &'static str,
    /// The TLS acceptor, on SSL and SASL_SSL listeners.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// Clients must authenticate with SASL (SASL_PLAINTEXT, SASL_SSL).
    pub(crate) sasl: bool,
}

/// Accepts connections on one listener and hands them on, until the channel closes.
async fn accept_loop(
    socket: TcpListener,
    bound: Arc<BoundListener>,
    tx: tokio::sync::mpsc::Sender<(
        tokio::net::TcpStream,
        std::net::SocketAddr,
        Arc<BoundListener>,
    )>,
) {
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                if tx.send((stream, peer, bound.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(listener = bound.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
