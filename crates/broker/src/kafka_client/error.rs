//! The errors of securing a connection: a TLS handshake or a SASL login that failed. They are
//! permanent — the same settings fail the same way on the next try — so callers that retry
//! connection errors (`strata_admin::cluster_client`) stop at them; find one in an
//! `anyhow::Error` chain with [`SecurityError::find`].
//!
//! Invariant: messages never contain a password or SCRAM material.

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityErrorKind {
    /// The TLS handshake (untrusted certificate, wrong host name, not a TLS listener, …).
    Tls,
    /// The broker refused the credentials (SASL_AUTHENTICATION_FAILED).
    Authentication,
    /// The SASL exchange itself failed: mechanism not enabled, not a SASL listener, a server
    /// that could not prove it knows the credential, a malformed message.
    Sasl,
}

/// A TLS handshake or SASL login that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityError {
    kind: SecurityErrorKind,
    message: String,
}

impl SecurityError {
    /// An error of `kind`.
    pub fn new(kind: SecurityErrorKind, message: String) -> SecurityError {
        SecurityError { kind, message }
    }

    /// What failed.
    pub fn kind(&self) -> SecurityErrorKind {
        self.kind
    }

    /// The security error in `e`'s chain, if there is one.
    pub fn find(e: &anyhow::Error) -> Option<&SecurityError> {
        e.chain().find_map(|c| c.downcast_ref::<SecurityError>())
    }
}

impl std::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SecurityError {}
