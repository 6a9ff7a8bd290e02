//! Errors of the wire layer. Each carries a kind (what the broker must do) and a context string
//! for the log line written when a connection is closed.

use std::fmt;

/// What went wrong while parsing or encoding, and therefore what the broker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireErrorKind {
    /// The size prefix exceeds `socket.request.max.bytes` or is not positive: close before reading.
    FrameTooLarge,
    /// The API key is not one Strata serves: Kafka closes the connection.
    UnknownApiKey,
    /// The API is known but this version is not advertised: Kafka closes the connection.
    UnsupportedVersion,
    /// The header or body could not be decoded: close the connection.
    Malformed,
    /// A response could not be encoded (a bug, never caused by input).
    Encode,
}

/// A wire-layer error: a kind plus human context.
#[derive(Debug, Clone)]
pub struct WireError {
    /// What the broker must do about it.
    pub kind: WireErrorKind,
    /// Why, for the log.
    pub context: String,
}

impl WireError {
    pub(crate) fn new(kind: WireErrorKind, context: impl Into<String>) -> Self {
        WireError {
            kind,
            context: context.into(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.context)
    }
}

impl std::error::Error for WireError {}
