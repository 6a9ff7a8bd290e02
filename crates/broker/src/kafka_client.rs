//! A minimal Kafka protocol client: one connection, one request at a time, message types from
//! `kafka-protocol`. Used by the CLI's admin subcommands and by followers fetching from their
//! leader (Fetch with a replica id, over the leader's Kafka listener).
//!
//! [`KafkaClient::connect`] speaks PLAINTEXT; [`KafkaClient::connect_with`] any of Kafka's
//! security protocols, as a [`ClientSecurity`] (typed from Kafka client properties, e.g. the
//! CLI's `--command-config FILE`) says:
//!
//! 1. TCP to the first address of the bootstrap list that accepts a connection;
//! 2. SSL and SASL_SSL: the TLS handshake (`tls.rs`);
//! 3. SASL_PLAINTEXT and SASL_SSL: the SASL login (`sasl.rs`, `scram.rs`);
//! 4. requests; when the broker gave the SASL session a lifetime, the login is run again on
//!    the same connection before [`REAUTH_AT`] of it has passed (KIP-368).
//!
//! A failure in step 2 or 3 is returned at once: only TCP failures move on to the next
//! address. A refusal (handshake, certificate, SASL mechanism, credentials) is a
//! [`SecurityError`], which is permanent: another try with the same settings fails the same
//! way.
//!
//! Invariants: a response larger than [`MAX_RESPONSE`] or with the wrong correlation id is an
//! error, and the connection should be dropped. No request other than the login is sent on a
//! connection before the login succeeded.

mod error;
mod jaas;
pub mod properties;
mod sasl;
mod scram;
mod security;
mod stream;
mod tls;

use std::time::Instant;

use anyhow::{bail, Context};
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use error::{SecurityError, SecurityErrorKind};
pub use security::{ClientSecurity, SaslLogin, SaslMechanism, KNOWN_KEYS};

use stream::Stream;

/// Largest response accepted.
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// The fraction of a SASL session's lifetime after which the client logs in again (Kafka's
/// clients pick 85–95%).
pub const REAUTH_AT: f64 = 0.85;

/// A SASL session that must be renewed.
#[derive(Debug)]
struct Session {
    login: SaslLogin,
    renew_at: Instant,
}

/// A connection to one broker.
#[derive(Debug)]
pub struct KafkaClient {
    stream: Stream,
    correlation_id: i32,
    session: Option<Session>,
}

impl KafkaClient {
    /// Connects to the first reachable broker of `bootstrap` (HOST:PORT, or a comma-separated
    /// list of them, as Kafka's `bootstrap.servers`), over PLAINTEXT.
    pub async fn connect(bootstrap: &str) -> anyhow::Result<KafkaClient> {
        KafkaClient::connect_with(bootstrap, &ClientSecurity::plaintext()).await
    }

    /// Connects to the first reachable broker of `bootstrap` with `security`: TLS handshake
    /// and SASL login as its protocol requires (see the module docs).
    pub async fn connect_with(
        bootstrap: &str,
        security: &ClientSecurity,
    ) -> anyhow::Result<KafkaClient> {
        let mut last = None;
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return KafkaClient::secure(addr, tcp, security).await;
                }
                Err(e) => last = Some(anyhow::Error::new(e).context(format!("connect to {addr}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no broker address in '{bootstrap}'")))
    }

    /// Steps 2 and 3 of the module docs on a fresh TCP connection to `addr`.
    async fn secure(
        addr: &str,
        tcp: TcpStream,
        security: &ClientSecurity,
    ) -> anyhow::Result<KafkaClient> {
        let stream = match security.tls() {
            Some(config) => Stream::Tls(Box::new(tls::handshake(config, addr, tcp).await?)),
            None => Stream::Plain(tcp),
        };
        let mut client = KafkaClient {
            stream,
            correlation_id: 0,
            session: None,
        };
        if let Some(login) = security.sasl() {
            client
                .login(login.clone())
                .await
                .with_context(|| format!("SASL login to {addr}"))?;
        }
        Ok(client)
    }

    /// Runs the SASL login and remembers when to renew it.
    async fn login(&mut self, login: SaslLogin) -> anyhow::Result<()> {
        let started = Instant::now();
        let lifetime = sasl::authenticate(self, &login).await?;
        self.session = lifetime.map(|l| Session {
            login,
            renew_at: started + l.mul_f64(REAUTH_AT),
        });
        Ok(())
    }

    /// Sends `req` at `version` and waits for its response (renewing the SASL session first
    /// when it is due).
    pub async fn call<R: Request>(&mut self, req: R, version: i16) -> anyhow::Result<R::Response> {
        if let Some(session) = self.session.take_if(|s| Instant::now() >= s.renew_at) {
            self.login(session.login)
                .await
                .context("SASL re-authentication")?;
        }
        self.exchange(req, version).await
    }

    /// Sends `req` at `version` and waits for its response, as it is (no session renewal).
    async fn exchange<R: Request>(&mut self, req: R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation_id += 1;
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("bad api key {}", R::KEY))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("strata-cli")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, key.request_header_version(version))?;
        req.encode(&mut buf, version)?;
        let size = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .write_all(&buf)
            .await
            .map_err(|e| tls::io_error(e, "send request"))?;
        self.stream
            .flush()
            .await
            .map_err(|e| tls::io_error(e, "send request"))?;
        let size = match self.stream.read_i32().await {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => bail!(
                "the broker closed the connection without answering (SASL listeners close \
                 connections that are not logged in: check security.protocol)"
            ),
            Err(e) => return Err(tls::io_error(e, "read response size")),
        };
        if size < 4 || size as usize > MAX_RESPONSE {
            // A TLS record starts with its content type (0x15 alert, 0x16 handshake) and the
            // major version 3: a TLS listener answering a plaintext request.
            let [kind, major, ..] = size.to_be_bytes();
            if matches!(kind, 0x15 | 0x16) && major == 3 {
                bail!(
                    "bad response size {size}: the broker answered with TLS (this listener \
                     needs security.protocol SSL or SASL_SSL)"
                );
            }
            bail!("bad response size {size}");
        }
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| tls::io_error(e, "read response"))?;
        let mut body = bytes::Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        if header.correlation_id != self.correlation_id {
            bail!("correlation id mismatch");
        }
        let resp = R::Response::decode(&mut body, version)?;
        if body.has_remaining() {
            tracing::debug!(trailing = body.remaining(), "trailing response bytes");
        }
        Ok(resp)
    }
}
