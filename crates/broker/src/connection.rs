//! One client connection: read a frame, handle it, write the reply, repeat.
//!
//! Requests on one connection are handled one at a time and answered in order, as Kafka does
//! (it mutes a channel until its response is sent).
//!
//! Invariants:
//! - a frame's size is checked against `socket.request.max.bytes` before its body is allocated;
//! - a malformed frame, an unknown API key or an unadvertised version closes the connection with
//!   a logged reason (Kafka's behaviour); ApiVersions at an unknown version gets the v0 fallback
//!   and the connection stays open;
//! - on shutdown the connection finishes the request in hand, sends its reply and closes.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use strata_wire::{api_versions_fallback, check_frame_size, parse_request, ParsedRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::broker::Broker;
use crate::handlers;
use crate::reply::Reply;
use crate::sendfile::write_chunks;

/// Largest read buffer a connection keeps between requests; larger ones are dropped after use.
const RETAINED_BUFFER_BYTES: usize = 8 << 20;

/// Serves one connection until the client leaves, a protocol error occurs, or shutdown.
pub(crate) async fn serve(broker: Arc<Broker>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    metrics::gauge!("strata_connections").increment(1.0);
    let mut shutdown = broker.shutdown_signal();
    // One read buffer per connection: each frame is split off and frozen; once the request's
    // last reference is gone, `reserve` reclaims the same allocation for the next frame, so
    // large produce requests do not fault in fresh pages every time.
    let mut buf = BytesMut::new();
    loop {
        let mut prefix = [0u8; 4];
        let read = tokio::select! {
            r = stream.read_exact(&mut prefix) => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        if read.is_err() {
            break; // client closed (or reset) between requests
        }
        let size = match check_frame_size(prefix, broker.config.socket_request_max_bytes) {
            Ok(size) => size,
            Err(e) => {
                tracing::warn!(%peer, reason = %e, "closing connection");
                metrics::counter!("strata_requests_rejected_total", "reason" => "frame_size")
                    .increment(1);
                break;
            }
        };
        buf.clear();
        buf.reserve(size);
        buf.resize(size, 0);
        if let Err(e) = stream.read_exact(&mut buf[..]).await {
            tracing::debug!(%peer, error = %e, "connection closed mid-frame");
            break;
        }
        let frame = buf.split().freeze();
        if size > RETAINED_BUFFER_BYTES {
            // Do not let one large request pin its memory for the connection's lifetime.
            buf = BytesMut::new();
        }
        let reply = match parse_request(frame) {
            Ok(ParsedRequest::Request {
                api_key,
                header,
                body,
            }) => {
                let span = tracing::debug_span!(
                    "request",
                    api = ?api_key,
                    version = header.request_api_version,
                    correlation_id = header.correlation_id,
                    client_id = header.client_id.as_deref().unwrap_or(""),
                    %peer,
                );
                let started = std::time::Instant::now();
                let reply = handlers::PEER
                    .scope(peer, handlers::dispatch(&broker, api_key, header, body))
                    .instrument(span)
                    .await;
                let api = format!("{api_key:?}");
                metrics::histogram!("strata_request_seconds", "api" => api.clone())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("strata_requests_total", "api" => api).increment(1);
                reply
            }
            Ok(ParsedRequest::ApiVersionsUnsupported {
                correlation_id,
                version,
            }) => {
                tracing::debug!(%peer, version, "ApiVersions at unknown version: v0 fallback");
                let (min, max) =
                    strata_wire::advertised_range(kafka_protocol::messages::ApiKey::ApiVersions)
                        .unwrap_or((0, 4));
                Reply::Frame(api_versions_fallback(correlation_id, min, max))
            }
            Err(e) => {
                tracing::warn!(%peer, reason = %e, "closing connection");
                metrics::counter!("strata_requests_rejected_total", "reason" => "malformed")
                    .increment(1);
                break;
            }
        };
        let written = match reply {
            Reply::None => Ok(()),
            Reply::Frame(b) => stream.write_all(&b).await,
            Reply::Chunks(chunks) => {
                write_chunks(&mut stream, chunks, broker.config.fetch_zero_copy).await
            }
            Reply::Close => break,
        };
        if let Err(e) = written {
            tracing::debug!(%peer, error = %e, "write failed; closing");
            break;
        }
        if *shutdown.borrow() {
            break;
        }
    }
    let _ = stream.shutdown().await;
    metrics::gauge!("strata_connections").decrement(1.0);
}
