//! The SASL login of a [`KafkaClient`] on SASL_PLAINTEXT and SASL_SSL listeners, as librdkafka
//! and the Java client do it (KIP-152): SaslHandshake v1 names the mechanism, then each SASL
//! message travels in a SaslAuthenticate v2 request and its answer in the response.
//!
//! 1. SaslHandshake(mechanism). UNSUPPORTED_SASL_MECHANISM (33) and ILLEGAL_SASL_STATE (34,
//!    not a SASL listener) end the login with an error saying which setting to check.
//! 2. PLAIN: one SaslAuthenticate with `\0user\0password`.
//!    SCRAM: client-first, then client-final; the server-final message must prove the server
//!    holds the credential (`scram.rs`), else the login fails even though the broker said yes.
//! 3. Any SaslAuthenticate error ends the login: SASL_AUTHENTICATION_FAILED (58) is a
//!    [`SecurityErrorKind::Authentication`] error (wrong user or password), others are
//!    [`SecurityErrorKind::Sasl`]. The broker closes the connection after a failed login.
//!
//! The same exchange on an open connection renews a session the broker gave a lifetime
//! (KIP-368, `connections.max.reauth.ms`); `KafkaClient` runs it before the lifetime is up.
//!
//! Invariant: the password leaves this module only inside the PLAIN message or as a SCRAM
//! proof, never in an error.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::error::{SecurityError, SecurityErrorKind};
use super::scram::ClientFirst;
use super::security::{SaslLogin, SaslMechanism};
use super::KafkaClient;

/// SaslHandshake version sent (v1: SASL messages go in SaslAuthenticate requests).
const HANDSHAKE_VERSION: i16 = 1;
/// SaslAuthenticate version sent (v2: flexible; v1+ carries the session lifetime).
const AUTHENTICATE_VERSION: i16 = 2;
/// UNSUPPORTED_SASL_MECHANISM.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// ILLEGAL_SASL_STATE.
const ILLEGAL_SASL_STATE: i16 = 34;
/// SASL_AUTHENTICATION_FAILED.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

fn sasl_error(message: String) -> anyhow::Error {
    SecurityError::new(SecurityErrorKind::Sasl, message).into()
}

fn code_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => format!("{e:?} ({code})"),
        None => "NONE".to_string(),
    }
}

/// Logs `login` in on `client`'s connection (see the module docs); returns the session
/// lifetime the broker gave, if it gave one.
pub(super) async fn authenticate(
    client: &mut KafkaClient,
    login: &SaslLogin,
) -> anyhow::Result<Option<Duration>> {
    let mechanism = login.mechanism.name();
    let handshake =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let resp = client
        .exchange(handshake, HANDSHAKE_VERSION)
        .await
        .context("SaslHandshake")?;
    match resp.error_code {
        0 => {}
        UNSUPPORTED_SASL_MECHANISM => {
            let offered: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(sasl_error(format!(
                "the broker does not offer SASL mechanism {mechanism} (it offers {}): check \
                 sasl.mechanism",
                offered.join(", ")
            )));
        }
        ILLEGAL_SASL_STATE => {
            return Err(sasl_error(
                "the broker refused SASL (ILLEGAL_SASL_STATE): this listener does not take \
                 SASL; check security.protocol"
                    .to_string(),
            ));
        }
        code => {
            return Err(sasl_error(format!(
                "SaslHandshake failed: {}",
                code_name(code)
            )))
        }
    }
    let last = match login.mechanism {
        SaslMechanism::Plain => {
            let message = format!("\0{}\0{}", login.username, login.password());
            step(client, login, message.into_bytes()).await?
        }
        SaslMechanism::Scram(m) => {
            let first =
                ClientFirst::new(m, &login.username, login.password()).map_err(sasl_error)?;
            let server_first = step(client, login, first.message().into_bytes()).await?;
            let last = first.answer(&server_first.auth_bytes).map_err(sasl_error)?;
            let server_final = step(client, login, last.message().as_bytes().to_vec()).await?;
            last.verify(&server_final.auth_bytes).map_err(sasl_error)?;
            server_final
        }
    };
    Ok((last.session_lifetime_ms > 0)
        .then(|| Duration::from_millis(last.session_lifetime_ms as u64)))
}

/// Sends one SASL message and returns the broker's answer, or the error it gave.
async fn step(
    client: &mut KafkaClient,
    login: &SaslLogin,
    message: Vec<u8>,
) -> anyhow::Result<SaslAuthenticateResponse> {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
    let resp = client
        .exchange(req, AUTHENTICATE_VERSION)
        .await
        .context("SaslAuthenticate")?;
    let detail = resp
        .error_message
        .as_ref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    match resp.error_code {
        0 => Ok(resp),
        SASL_AUTHENTICATION_FAILED => Err(SecurityError::new(
            SecurityErrorKind::Authentication,
            format!(
                "SASL authentication failed for user {:?} with {}{detail}",
                login.username,
                login.mechanism.name()
            ),
        )
        .into()),
        code => Err(sasl_error(format!(
            "SaslAuthenticate failed: {}{detail}",
            code_name(code)
        ))),
    }
}
