//! The Prometheus endpoint of `strata serve`: off unless `strata.metrics.listen`
//! (`--metrics-listen HOST:PORT`) is set; optionally over TLS (`strata.metrics.tls.cert`,
//! `strata.metrics.tls.key`) and behind a bearer token (`strata.metrics.token.file`), which
//! Prometheus sends with `authorization: { type: Bearer, credentials_file: … }`.
//!
//! The recorder is metrics-exporter-prometheus's; the HTTP server is ours (hyper), because
//! the exporter's own listener can do neither TLS nor authentication. It answers as that
//! listener did: `/health` is `OK`, any other path is the metrics page, HTTP/1.x and HTTP/2.
//!
//! Invariants:
//! - Settings are checked before anything listens ([`MetricsConfig::from_settings`]); the
//!   listener is bound before the broker starts, so a bad or busy address fails at once.
//! - With a token, every request, `/health` included, needs `Authorization: Bearer <token>`;
//!   a missing or wrong one gets 401 with `WWW-Authenticate: Bearer` and no metrics.
//! - With no option but the address, the endpoint is plain unauthenticated HTTP, as before.
//! - A connection's TLS handshake, its request headers and its rendering run in its own task,
//!   with time limits on the first two: a slow or hostile client holds only itself up.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use strata_admin::auth::BearerToken;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::door_security::{get, DoorSecurity, DoorSettings, Setting};

/// The setting that turns the endpoint on.
pub(crate) const METRICS_LISTEN: &str = "strata.metrics.listen";

/// The endpoint's settings.
pub(crate) const SETTINGS: DoorSettings = DoorSettings {
    door: "the metrics endpoint",
    listen: Setting {
        name: METRICS_LISTEN,
        flag: "--metrics-listen",
    },
    cert: Setting {
        name: "strata.metrics.tls.cert",
        flag: "--metrics-tls-cert",
    },
    key: Setting {
        name: "strata.metrics.tls.key",
        flag: "--metrics-tls-key",
    },
    client_ca: None,
    token: Setting {
        name: "strata.metrics.token.file",
        flag: "--metrics-token-file",
    },
    alpn: &[b"h2", b"http/1.1"],
};

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How often histograms are drained into their summaries (the exporter's own default).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The checked settings of an endpoint that is on.
pub(crate) struct MetricsConfig {
    addr: SocketAddr,
    security: DoorSecurity,
}

impl MetricsConfig {
    /// The endpoint's settings, checked; None when it is off.
    pub(crate) fn from_settings(
        raw: &BTreeMap<String, String>,
    ) -> anyhow::Result<Option<MetricsConfig>> {
        let listen = get(raw, METRICS_LISTEN);
        let security = SETTINGS.load(raw, listen.is_some())?;
        let Some(listen) = listen else {
            return Ok(None);
        };
        let addr = listen
            .parse()
            .with_context(|| format!("{METRICS_LISTEN} = {listen}: expected IP:PORT"))?;
        Ok(Some(MetricsConfig { addr, security }))
    }
}

/// A running endpoint; dropping it stops it.
pub(crate) struct Running {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds the endpoint, installs the global metrics recorder and starts serving.
pub(crate) async fn start(config: MetricsConfig) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("bind the metrics listener {}", config.addr))?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("install the Prometheus metrics recorder")?;
    let security = config.security;
    if security.token.is_some() && security.tls.is_none() {
        tracing::warn!(
            "{} is set without TLS ({}, {}): the metrics token travels in clear text",
            SETTINGS.token,
            SETTINGS.cert,
            SETTINGS.key
        );
    }
    tracing::info!(
        addr = %config.addr,
        transport = security.mode(),
        token = security.token.is_some(),
        "metrics endpoint listening"
    );
    let upkeep = {
        let handle = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(UPKEEP_INTERVAL).await;
                handle.run_upkeep();
            }
        })
    };
    let accept = tokio::spawn(accept_loop(listener, handle, security));
    Ok(Running {
        tasks: vec![upkeep, accept],
    })
}

async fn accept_loop(listener: TcpListener, handle: PrometheusHandle, security: DoorSecurity) {
    let token = security.token.map(Arc::new);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (handle, token, tls) = (handle.clone(), token.clone(), security.tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, peer, handle, token).await,
                Some(acceptor) => {
                    let door = "metrics endpoint";
                    if let Some(tls) =
                        crate::door_security::handshake(&acceptor, stream, peer, door).await
                    {
                        serve_connection(tls, peer, handle, token).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<IO>(
    io: IO,
    peer: SocketAddr,
    handle: PrometheusHandle,
    token: Option<Arc<BearerToken>>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |req| respond(req, peer, handle.clone(), token.clone()));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(%peer, "metrics endpoint: connection ended: {e}");
    }
}

async fn respond(
    req: Request<Incoming>,
    peer: SocketAddr,
    handle: PrometheusHandle,
    token: Option<Arc<BearerToken>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(token) = token {
        let sent = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
        if !token.accepts(sent) {
            tracing::info!(%peer, "metrics request refused: missing or wrong bearer token");
            return Ok(unauthorized(sent.is_some()));
        }
    }
    if req.uri().path() == "/health" {
        return Ok(text(StatusCode::OK, Bytes::from_static(b"OK")));
    }
    match tokio::task::spawn_blocking(move || handle.render()).await {
        Ok(page) => Ok(text(StatusCode::OK, Bytes::from(page))),
        Err(e) => {
            tracing::error!("metrics endpoint: rendering failed: {e}");
            Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(b"rendering the metrics failed\n"),
            ))
        }
    }
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// 401 with the challenge of RFC 6750: `invalid_token` when a value was sent.
fn unauthorized(sent_something: bool) -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        Bytes::from_static(b"this endpoint needs Authorization: Bearer <token>\n"),
    );
    let challenge = if sent_something {
        r#"Bearer realm="strata", error="invalid_token""#
    } else {
        r#"Bearer realm="strata""#
    };
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_are_checked() {
        assert!(MetricsConfig::from_settings(&raw(&[])).unwrap().is_none());
        let c = MetricsConfig::from_settings(&raw(&[(METRICS_LISTEN, "127.0.0.1:0")]))
            .unwrap()
            .unwrap();
        assert_eq!(c.security.mode(), "plaintext");
        let e = MetricsConfig::from_settings(&raw(&[(METRICS_LISTEN, "nowhere")]))
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("strata.metrics.listen = nowhere"),
            "{e:#}"
        );
        let e = MetricsConfig::from_settings(&raw(&[
            (METRICS_LISTEN, "127.0.0.1:0"),
            ("strata.metrics.tls.key", "/k.pem"),
        ]))
        .err()
        .unwrap();
        assert!(
            format!("{e:#}").contains("strata.metrics.tls.key (--metrics-tls-key) is set without"),
            "{e:#}"
        );
        let e = MetricsConfig::from_settings(&raw(&[("strata.metrics.token.file", "/t")]))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("--metrics-listen"), "{e:#}");
    }

    #[test]
    fn refusals_challenge_with_bearer() {
        let r = unauthorized(false);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let r = unauthorized(true);
        let challenge = r.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
}
