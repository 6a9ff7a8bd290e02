//! SaslHandshake and SaslAuthenticate on a listener without SASL (PLAINTEXT, SSL): the
//! authenticator is not there, so both get ILLEGAL_SASL_STATE, as Kafka answers them. On SASL
//! listeners the connection's SASL session handles them before dispatch (`sasl/session.rs`).

use kafka_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};

use super::sb;

/// ILLEGAL_SASL_STATE.
const ILLEGAL_SASL_STATE: i16 = 34;

pub(crate) fn handshake() -> SaslHandshakeResponse {
    SaslHandshakeResponse::default()
        .with_error_code(ILLEGAL_SASL_STATE)
        .with_mechanisms(Vec::new())
}

pub(crate) fn authenticate() -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ILLEGAL_SASL_STATE)
        .with_error_message(Some(sb("this listener does not use SASL")))
}
