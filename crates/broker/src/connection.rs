//! One client connection: read a frame, handle it, write the reply, repeat.
//!
//! Requests on one connection are handled one at a time and answered in order, as Kafka does
//! (it mutes a channel until its response is sent).
//!
//! Invariants:
//! - frames are read by [`FrameReader`]: the size is checked against `socket.request.max.bytes`,
//!   memory follows the bytes that arrive (never the announced size), every read is charged to
//!   the broker-wide request budget, and idle or stalled connections are cut;
//! - a frame's budget charge is released once its request has been handled (before the reply
//!   is written, since replies are not request bytes);
//! - a malformed frame, an unknown API key or an unadvertised version closes the connection with
//!   a logged reason (Kafka's behaviour); ApiVersions at an unknown version gets the v0 fallback
//!   and the connection stays open;
//! - on shutdown the connection finishes the request in hand, sends its reply and closes.

use std::net::SocketAddr;
use std::sync::Arc;

use strata_wire::{api_versions_fallback, parse_request, ParsedRequest};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::broker::Broker;
use crate::conn_limits::ConnectionSlot;
use crate::frame_reader::{FrameError, FrameReader};
use crate::handlers;
use crate::reply::Reply;
use crate::sendfile::write_chunks;

/// Serves one connection until the client leaves, a protocol error or a timeout occurs, or
/// shutdown. `slot` is the connection's place under `max.connections`; it is given back when
/// this returns.
pub(crate) async fn serve(
    broker: Arc<Broker>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut reader: FrameReader,
    slot: ConnectionSlot,
) {
    let _ = stream.set_nodelay(true);
    metrics::gauge!("strata_connections").increment(1.0);
    let mut shutdown = broker.shutdown_signal();
    loop {
        let next = tokio::select! {
            r = reader.next_frame(&mut stream) => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let frame = match next {
            Ok(frame) => frame,
            Err(e) => {
                log_frame_error(&e, peer);
                break;
            }
        };
        // The frame's budget charge is held until its request has been handled.
        let charge = frame.charge;
        let reply = match parse_request(frame.body) {
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
        drop(charge);
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
    // Give the place back before the gauge drops, so `strata_connections` = 0 means every place
    // is free.
    drop(slot);
    metrics::gauge!("strata_connections").decrement(1.0);
}

/// Logs why a connection stops reading and counts the cuts the broker makes.
fn log_frame_error(e: &FrameError, peer: SocketAddr) {
    match e {
        FrameError::Closed => {}
        FrameError::ClosedMidFrame => tracing::debug!(%peer, "connection closed mid-frame"),
        FrameError::Io(err) => tracing::debug!(%peer, error = %err, "read failed; closing"),
        FrameError::Size(err) => {
            tracing::warn!(%peer, reason = %err, "closing connection");
            metrics::counter!("strata_requests_rejected_total", "reason" => "frame_size")
                .increment(1);
        }
        FrameError::Idle => {
            tracing::info!(%peer, "closing idle connection (connections.max.idle.ms)");
            metrics::counter!("strata_connections_closed_total", "reason" => "idle").increment(1);
        }
        FrameError::ReadTimeout {
            received,
            announced,
        } => {
            tracing::warn!(
                %peer,
                received,
                announced = announced.map(|a| a as i64).unwrap_or(-1),
                "closing connection: request not received in time (strata.request.read.timeout.ms)"
            );
            metrics::counter!("strata_connections_closed_total", "reason" => "read_timeout")
                .increment(1);
        }
    }
}
