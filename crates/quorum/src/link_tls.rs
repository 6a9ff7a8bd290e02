//! TLS on the links between quorum members (`--cluster-listen SSL://HOST:PORT`).
//!
//! Each node has one certificate, its node certificate, and presents it both ways: as the
//! server certificate of its cluster listener, and as its client certificate when it dials
//! another voter. Both ends trust only the cluster's CA certificates:
//! - the server requires a client certificate chaining to them (mutual TLS), so only nodes
//!   get in; a client without one, or with one from another CA, fails the handshake;
//! - the client requires the server's certificate to chain to them and to name the host of
//!   the voter's address (`--voters id@HOST:PORT`: a DNS name, or an IP address in the
//!   subjectAltName).
//!
//! TLS is tonic's (rustls with aws-lc-rs, TLS 1.2 and 1.3, ALPN `h2`). The server runs
//! handshakes concurrently, each within [`HANDSHAKE_TIMEOUT`], so a slow or failed handshake
//! closes only its own connection.
//!
//! Invariants:
//! - a node's links are all TLS or all plaintext: a TLS node never falls back to plaintext,
//!   and a plaintext voter cannot talk to a TLS one (the handshake fails; the link is
//!   reported as unreachable, as a down peer is);
//! - [`ClusterTls::new`] checks the PEM once, at start, by building both configurations, so a
//!   running node only fails for reasons of the network or the peer;
//! - the private key never appears in `Debug` output.

use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// How long a peer may take to finish a TLS handshake (as on the Kafka listeners).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The node certificate and the CA of the cluster, as PEM.
#[derive(Clone)]
pub struct ClusterTls {
    identity: Identity,
    ca: Certificate,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("identity", &"<node certificate and key>")
            .field("ca", &"<CA certificates>")
            .finish()
    }
}

impl ClusterTls {
    /// The TLS of a node whose certificate chain is `cert_chain_pem` (its own certificate
    /// first), with private key `key_pem`, trusting the CA certificates of `ca_pem`. Errors
    /// say what does not parse or go together.
    pub fn new(cert_chain_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<ClusterTls, String> {
        let tls = ClusterTls {
            identity: Identity::from_pem(cert_chain_pem, key_pem),
            ca: Certificate::from_pem(ca_pem),
        };
        tonic::transport::Server::builder()
            .tls_config(tls.server_config())
            .map_err(|e| format!("the node certificate, key or CA: {}", chain(&e)))?;
        Endpoint::from_static("https://127.0.0.1:1")
            .tls_config(tls.client_config())
            .map_err(|e| format!("the node certificate, key or CA: {}", chain(&e)))?;
        Ok(tls)
    }

    /// The cluster listener's side: the node certificate, client certificates required.
    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(false)
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// The dialing side: the node certificate as client certificate, the peer checked against
    /// the CA and the host it is dialed at.
    pub(crate) fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// An error and its sources, `outer: inner: …` (tonic's transport errors keep the reason, a
/// TLS alert or certificate problem, in the sources).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_at_start() {
        let e = ClusterTls::new(b"not pem", b"not pem", b"not pem").unwrap_err();
        assert!(e.contains("node certificate"), "{e}");
    }
}
