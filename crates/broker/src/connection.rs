//! One client connection: read a frame, handle it, queue its reply; a writer sends the replies
//! in request order.
//!
//! Requests on one connection are handled one at a time, in order, as Kafka does. The one
//! difference from Kafka's muting is the produce pipeline: a Produce whose batches are appended
//! but whose acknowledgement waits for a group-commit fsync ([`Reply::Deferred`]) does not stop
//! the next request from being read, so the next Produce's batches join the next flush
//! (Redpanda pipelines the same way).
//!
//! Invariants:
//! - frames are read by [`FrameReader`]: the size is checked against `socket.request.max.bytes`,
//!   memory follows the bytes that arrive (never the announced size), every read is charged to
//!   the broker-wide request budget, and idle or stalled connections are cut;
//! - a frame's budget charge is released once its request has been handled (before the reply
//!   is written, since replies are not request bytes);
//! - replies are written in request order; at most [`MAX_QUEUED_REPLIES`] wait to be written;
//! - any request other than Produce is handled only after every earlier deferred reply has
//!   been written, so it observes what Kafka would (the earlier produce acknowledged, its data
//!   visible);
//! - a handler is never cancelled half-way: the reader stops only between requests;
//! - a malformed frame, an unknown API key or an unadvertised version closes the connection with
//!   a logged reason (Kafka's behaviour); ApiVersions at an unknown version gets the v0 fallback
//!   and the connection stays open;
//! - on shutdown the connection finishes the request in hand, sends every queued reply and
//!   closes.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use strata_wire::{api_versions_fallback, parse_request, ParsedRequest};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::tcp::WriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::broker::Broker;
use crate::conn_limits::ConnectionSlot;
use crate::frame_reader::{FrameError, FrameReader};
use crate::handlers;
use crate::reply::Reply;
use crate::sendfile::{write_chunks, write_chunks_copying};
use crate::server::BoundListener;

/// Replies (mostly produce acknowledgements waiting for their fsync) queued per connection.
const MAX_QUEUED_REPLIES: usize = 16;

/// What the reader hands the writer.
enum Outgoing {
    /// The next reply, in request order.
    Reply(Reply),
    /// Answered once every earlier reply has been written.
    Barrier(oneshot::Sender<()>),
}

/// Serves one connection until the client leaves, a protocol error or a timeout occurs, or
/// shutdown. `slot` is the connection's place under `max.connections`; it is given back when
/// this returns.
pub(crate) async fn serve(
    broker: Arc<Broker>,
    mut stream: TcpStream,
    peer: SocketAddr,
    reader: FrameReader,
    slot: ConnectionSlot,
    listener: Arc<BoundListener>,
) {
    let _ = stream.set_nodelay(true);
    metrics::gauge!("strata_connections").increment(1.0);
    let (tx, rx) = mpsc::channel(MAX_QUEUED_REPLIES);
    let name = listener.name;
    match &listener.tls {
        None => {
            let (read_half, write_half) = stream.split();
            let zero_copy = broker.config.fetch_zero_copy;
            tokio::join!(
                read_requests(&broker, read_half, peer, reader, tx, &listener, None),
                write_replies(Writer::Tcp(write_half, zero_copy), peer, rx),
            );
            let _ = stream.shutdown().await;
        }
        Some(acceptor) => {
            let mut reader = reader;
            if broker.config.connections.tls_low_water {
                if let Some(lw) = crate::low_water::LowWater::for_tls(
                    &stream,
                    broker.config.connections.tls_read_buffer,
                ) {
                    reader.set_low_water(lw);
                }
            }
            // rustls pulls TLS records in small reads; a buffer under it turns those into a few
            // large socket reads per produce request.
            let stream = tokio::io::BufReader::with_capacity(
                broker.config.connections.tls_read_buffer,
                stream,
            );
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // A verified client certificate names the connection's principal.
                    let cert_principal = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| crate::authz::principal::of_certificate(c));
                    let (read_half, write_half) = tokio::io::split(tls);
                    tokio::join!(
                        read_requests(
                            &broker,
                            read_half,
                            peer,
                            reader,
                            tx,
                            &listener,
                            cert_principal
                        ),
                        write_replies(Writer::Tls(write_half), peer, rx),
                    );
                }
                Ok(Err(e)) => {
                    // A plaintext client on a TLS port, a bad or missing client certificate.
                    tracing::debug!(%peer, listener = name, error = %e, "TLS handshake failed; closing");
                    metrics::counter!("strata_tls_handshake_failures_total").increment(1);
                }
                Err(_) => {
                    tracing::debug!(%peer, listener = name, "TLS handshake timed out; closing");
                    metrics::counter!("strata_tls_handshake_failures_total").increment(1);
                }
            }
        }
    }
    // Give the place back before the gauge drops, so `strata_connections` = 0 means every place
    // is free.
    drop(slot);
    metrics::gauge!("strata_connections").decrement(1.0);
}

/// How long a TLS client has to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where replies go: a plain TCP connection (sendfile for file ranges, unless
/// `strata.fetch.zero.copy=false`) or a TLS one (always copied).
enum Writer<'a> {
    Tcp(WriteHalf<'a>, bool),
    Tls(tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::io::BufReader<TcpStream>>>),
}

/// Reads and handles requests in order, queueing their replies, until the client leaves, an
/// error, shutdown, or the writer stops.
async fn read_requests<R: AsyncRead + Unpin>(
    broker: &Arc<Broker>,
    mut stream: R,
    peer: SocketAddr,
    mut reader: FrameReader,
    tx: mpsc::Sender<Outgoing>,
    bound: &BoundListener,
    cert_principal: Option<Arc<str>>,
) {
    let anonymous: Arc<str> =
        cert_principal.unwrap_or_else(|| Arc::from(crate::authz::principal::ANONYMOUS));
    let listener = bound.name;
    // SASL listeners: nothing but ApiVersions and the SASL exchange before authentication.
    let mut sasl = bound
        .sasl
        .then(|| crate::sasl::session::Session::new(broker.clone()));
    // Before authentication a SASL client may send only small frames (Kafka's
    // `sasl.server.max.receive.size`), so an unauthenticated peer cannot make the broker
    // buffer a `socket.request.max.bytes` frame.
    let full_frame_bytes = broker.config.socket_request_max_bytes;
    let mut capped = false;
    if sasl.is_some() {
        let cap = crate::sasl::max_receive_size(&broker.config.raw).min(full_frame_bytes);
        reader.set_max_frame_bytes(cap);
        capped = true;
    }
    let mut shutdown = broker.shutdown_signal();
    // True while a deferred reply may still be unwritten.
    let mut deferred_pending = false;
    loop {
        if capped && sasl.as_ref().is_some_and(|s| s.authenticated()) {
            reader.set_max_frame_bytes(full_frame_bytes);
            capped = false;
        }
        let next = tokio::select! {
            r = reader.next_frame(&mut stream) => r,
            _ = shutdown.wait_for(|s| *s) => break,
            _ = tx.closed() => break,
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
                let body = match sasl.as_mut() {
                    None => body,
                    Some(session) => {
                        use crate::sasl::session::Screened;
                        let (version, correlation_id) =
                            (header.request_api_version, header.correlation_id);
                        match session.screen(api_key, body).await {
                            Screened::Pass(body) => *body,
                            Screened::Respond(r) => {
                                drop(charge);
                                let reply = handlers::encode(correlation_id, api_key, version, &r);
                                if tx.send(Outgoing::Reply(reply)).await.is_err() {
                                    break;
                                }
                                continue;
                            }
                            Screened::RespondAndClose(r) => {
                                let reply = handlers::encode(correlation_id, api_key, version, &r);
                                let _ = tx.send(Outgoing::Reply(reply)).await;
                                let _ = tx.send(Outgoing::Reply(Reply::Close)).await;
                                break;
                            }
                            Screened::Close(why) => {
                                tracing::debug!(%peer, reason = why, "closing connection");
                                break;
                            }
                        }
                    }
                };
                if deferred_pending && api_key != ApiKey::Produce {
                    // Kafka handles a request only after the previous one is answered.
                    let (done, written) = oneshot::channel();
                    if tx.send(Outgoing::Barrier(done)).await.is_err() || written.await.is_err() {
                        break;
                    }
                    deferred_pending = false;
                }
                let span = tracing::debug_span!(
                    "request",
                    api = ?api_key,
                    version = header.request_api_version,
                    correlation_id = header.correlation_id,
                    client_id = header.client_id.as_deref().unwrap_or(""),
                    %peer,
                    principal = tracing::field::Empty,
                );
                let principal = match sasl.as_ref().and_then(|s| s.user()) {
                    Some(user) => crate::authz::principal::of_user(user),
                    None => anonymous.clone(),
                };
                span.record("principal", &*principal);
                let started = std::time::Instant::now();
                let reply = handlers::PEER
                    .scope(
                        peer,
                        handlers::LISTENER.scope(
                            listener,
                            crate::authz::PRINCIPAL.scope(
                                principal,
                                handlers::dispatch(broker, api_key, header, body),
                            ),
                        ),
                    )
                    .instrument(span)
                    .await;
                let api = format!("{api_key:?}");
                metrics::counter!("strata_requests_total", "api" => api.clone()).increment(1);
                if let Reply::Deferred(later) = reply {
                    deferred_pending = true;
                    // The request's time includes waiting for its fsync.
                    Reply::Deferred(Box::pin(async move {
                        let reply = later.await;
                        metrics::histogram!("strata_request_seconds", "api" => api)
                            .record(started.elapsed().as_secs_f64());
                        reply
                    }))
                } else {
                    metrics::histogram!("strata_request_seconds", "api" => api)
                        .record(started.elapsed().as_secs_f64());
                    reply
                }
            }
            Ok(ParsedRequest::ApiVersionsUnsupported {
                correlation_id,
                version,
            }) => {
                tracing::debug!(%peer, version, "ApiVersions at unknown version: v0 fallback");
                let (min, max) =
                    strata_wire::advertised_range(ApiKey::ApiVersions).unwrap_or((0, 4));
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
        let close = matches!(reply, Reply::Close);
        if tx.send(Outgoing::Reply(reply)).await.is_err() || close {
            break;
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// Writes queued replies in order until the queue ends, a write fails, or a reply closes the
/// connection.
async fn write_replies(mut stream: Writer<'_>, peer: SocketAddr, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(item) = rx.recv().await {
        let reply = match item {
            Outgoing::Reply(reply) => reply.resolve().await,
            Outgoing::Barrier(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let written = match (reply, &mut stream) {
            (Reply::None, _) => Ok(()),
            (Reply::Close | Reply::Deferred(_), _) => break,
            (Reply::Frame(b), Writer::Tcp(w, _)) => w.write_all(&b).await,
            (Reply::Frame(b), Writer::Tls(w)) => match w.write_all(&b).await {
                Ok(()) => w.flush().await,
                Err(e) => Err(e),
            },
            (Reply::Chunks(chunks), Writer::Tcp(w, zero_copy)) => {
                write_chunks(w, chunks, *zero_copy).await
            }
            (Reply::Chunks(chunks), Writer::Tls(w)) => write_chunks_copying(w, chunks).await,
        };
        if let Err(e) = written {
            tracing::debug!(%peer, error = %e, "write failed; closing");
            break;
        }
    }
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
