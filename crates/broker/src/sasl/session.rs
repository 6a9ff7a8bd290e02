//! One connection's SASL state on a SASL_PLAINTEXT or SASL_SSL listener (Kafka's
//! `SaslServerAuthenticator`): SaslHandshake picks a mechanism, SaslAuthenticate carries its
//! messages (KIP-152), and a session may be renewed before it expires (KIP-368,
//! `connections.max.reauth.ms`).
//!
//! Invariants:
//! - before authentication only ApiVersions, SaslHandshake and SaslAuthenticate are served; any
//!   other request closes the connection, as Kafka does;
//! - a failed login is answered SASL_AUTHENTICATION_FAILED (58) after
//!   `connection.failed.authentication.delay.ms`, counted, and then the connection is closed;
//!   the message never says whether the user exists;
//! - an authenticated session past its lifetime serves nothing but a re-authentication; a
//!   re-authentication must be for the same user;
//! - passwords and SCRAM proofs are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::scram::{self, Mechanism, ServerFirst};
use crate::broker::Broker;
use crate::handlers::sb;

/// UNSUPPORTED_SASL_MECHANISM.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// ILLEGAL_SASL_STATE.
const ILLEGAL_SASL_STATE: i16 = 34;
/// SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// The one message a failed login gets.
const FAILED: &str = "Authentication failed: Invalid username or password";

/// Where a connection is in its SASL exchange.
enum State {
    /// Waiting for SaslHandshake.
    Handshake,
    /// A mechanism was chosen; waiting for its first SaslAuthenticate.
    Chosen(String),
    /// SCRAM: the server-first message was sent.
    ScramFirst(Box<ServerFirst>),
    /// Authenticated.
    Done,
}

/// What the connection does with a request.
pub(crate) enum Screened {
    /// Serve it as usual.
    Pass(Box<RequestKind>),
    /// Answer with this response (a SASL request).
    Respond(Box<ResponseKind>),
    /// Answer with this response, then close (a failed login).
    RespondAndClose(Box<ResponseKind>),
    /// Close without an answer.
    Close(&'static str),
}

/// One connection's SASL session.
pub(crate) struct Session {
    broker: Arc<Broker>,
    state: State,
    /// The authenticated user (Kafka principal `User:<name>`).
    user: Option<String>,
    /// When the session must be renewed (`connections.max.reauth.ms`), if ever.
    expires: Option<Instant>,
    /// True once authenticated: a later handshake is a re-authentication.
    reauthenticating: bool,
}

impl Session {
    /// A new, unauthenticated session.
    pub(crate) fn new(broker: Arc<Broker>) -> Session {
        Session {
            broker,
            state: State::Handshake,
            user: None,
            expires: None,
            reauthenticating: false,
        }
    }

    /// The authenticated user, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// True once the client has authenticated (a re-authentication keeps it true).
    pub(crate) fn authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// Decides what happens to one request (see the module docs).
    pub(crate) async fn screen(&mut self, api_key: ApiKey, body: RequestKind) -> Screened {
        match body {
            RequestKind::SaslHandshake(r) => self.handshake(r),
            RequestKind::SaslAuthenticate(r) => self.authenticate(r).await,
            RequestKind::ApiVersions(_) => Screened::Pass(Box::new(body)),
            _ if !matches!(self.state, State::Done) && !self.reauthenticating => {
                tracing::debug!(?api_key, "request before SASL authentication; closing");
                metrics::counter!("strata_sasl_unauthenticated_requests_total").increment(1);
                Screened::Close("a request before SASL authentication")
            }
            _ if self.expires.is_some_and(|t| Instant::now() >= t) => {
                tracing::debug!(user = ?self.user, "SASL session expired (connections.max.reauth.ms); closing");
                metrics::counter!("strata_sasl_sessions_expired_total").increment(1);
                Screened::Close("the SASL session expired")
            }
            _ => Screened::Pass(Box::new(body)),
        }
    }

    fn handshake(&mut self, r: SaslHandshakeRequest) -> Screened {
        let enabled = super::enabled_mechanisms(&self.broker.config.raw);
        let mechanisms = enabled.iter().map(|m| sb(m)).collect();
        let resp = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
        if !matches!(self.state, State::Handshake | State::Done) {
            return Screened::RespondAndClose(Box::new(ResponseKind::SaslHandshake(
                resp.with_error_code(ILLEGAL_SASL_STATE),
            )));
        }
        let wanted = r.mechanism.to_string();
        if !enabled.contains(&wanted) {
            return Screened::RespondAndClose(Box::new(ResponseKind::SaslHandshake(
                resp.with_error_code(UNSUPPORTED_SASL_MECHANISM),
            )));
        }
        self.reauthenticating = matches!(self.state, State::Done);
        self.state = State::Chosen(wanted);
        Screened::Respond(Box::new(ResponseKind::SaslHandshake(resp)))
    }

    async fn authenticate(&mut self, r: SaslAuthenticateRequest) -> Screened {
        let state = std::mem::replace(&mut self.state, State::Handshake);
        let outcome = match state {
            State::Chosen(m) if m == "PLAIN" => self.plain(&r.auth_bytes),
            State::Chosen(m) => match Mechanism::parse(&m) {
                Some(mechanism) => self.scram_first(mechanism, &r.auth_bytes),
                None => Err("unsupported mechanism".to_string()),
            },
            State::ScramFirst(server) => match server.finish(&r.auth_bytes) {
                Ok(last) => Ok((server.user().to_string(), Bytes::from(last.into_bytes()))),
                Err(e) => Err(e),
            },
            State::Handshake | State::Done => {
                self.state = state;
                return Screened::RespondAndClose(Box::new(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_error_code(ILLEGAL_SASL_STATE)
                        .with_error_message(Some(sb("SaslAuthenticate before SaslHandshake"))),
                )));
            }
        };
        match outcome {
            // The SCRAM exchange goes on: send the server-first message.
            Ok((user, reply)) if user.is_empty() => {
                Screened::Respond(Box::new(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default().with_auth_bytes(reply),
                )))
            }
            Ok((user, reply)) => {
                if self.reauthenticating && self.user.as_deref() != Some(user.as_str()) {
                    return self.fail("re-authentication as another user").await;
                }
                let lifetime = super::reauth_ms(&self.broker.config.raw);
                self.expires =
                    (lifetime > 0).then(|| Instant::now() + Duration::from_millis(lifetime as u64));
                tracing::debug!(%user, reauth = self.reauthenticating, "SASL authenticated");
                metrics::counter!("strata_sasl_authentications_total").increment(1);
                self.user = Some(user);
                self.state = State::Done;
                self.reauthenticating = false;
                Screened::Respond(Box::new(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(reply)
                        .with_session_lifetime_ms(lifetime),
                )))
            }
            Err(why) => self.fail(&why).await,
        }
    }

    /// `Ok((user, reply))` once authenticated; `Ok(("", reply))` when the exchange goes on.
    fn plain(&mut self, msg: &[u8]) -> Result<(String, Bytes), String> {
        let (user, password) = super::plain::parse(msg)?;
        let image = self.broker.meta();
        let known = image.scram.get(&user).is_some_and(|creds| {
            creds
                .values()
                .any(|c| scram::password_matches(c, &password))
        });
        if known {
            Ok((user, Bytes::new()))
        } else {
            Err(format!("PLAIN login of {user:?} refused"))
        }
    }

    fn scram_first(&mut self, mechanism: Mechanism, msg: &[u8]) -> Result<(String, Bytes), String> {
        let first = scram::parse_client_first(msg)?;
        let credential = self
            .broker
            .meta()
            .scram
            .get(&first.user)
            .and_then(|m| m.get(mechanism.name()))
            .cloned()
            .ok_or_else(|| format!("no {} credential for {:?}", mechanism.name(), first.user))?;
        let server = ServerFirst::new(mechanism, credential, first)?;
        let reply = Bytes::from(server.message.clone().into_bytes());
        self.state = State::ScramFirst(Box::new(server));
        Ok((String::new(), reply))
    }

    async fn fail(&mut self, why: &str) -> Screened {
        tracing::debug!(reason = why, "SASL authentication failed");
        metrics::counter!("strata_sasl_authentication_failures_total").increment(1);
        let delay = super::failed_delay_ms(&self.broker.config.raw);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.state = State::Handshake;
        Screened::RespondAndClose(Box::new(ResponseKind::SaslAuthenticate(
            SaslAuthenticateResponse::default()
                .with_error_code(SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(sb(FAILED))),
        )))
    }
}
