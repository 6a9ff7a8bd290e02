//! TLS for the SSL and SASL_SSL listeners, with rustls, configured with Kafka's PEM settings:
//!
//! - `ssl.keystore.certificate.chain` (`--tls-cert`): the broker's certificate chain, PEM;
//! - `ssl.keystore.key` (`--tls-key`): its private key, PEM (PKCS#8, PKCS#1 or SEC1);
//! - `ssl.client.auth`: `none` (default), `requested` or `required`;
//! - `ssl.truststore.certificates`: the CA certificates client certificates must chain to, PEM
//!   (needed when `ssl.client.auth` is not `none`).
//!
//! Kafka's PEM settings hold the PEM text itself; a value that does not start with `-----BEGIN`
//! is read as the path of a PEM file instead (what the CLI flags pass).
//!
//! Invariants: a broker with a TLS listener does not start without a usable certificate and key
//! (the error names the setting); the acceptor is built once, at start; TLS 1.2 and 1.3 only.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for; a client without one is still let in.
    Requested,
    /// A client without a valid certificate is refused during the handshake.
    Required,
}

impl ClientAuth {
    fn parse(s: &str) -> Result<ClientAuth, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            other => Err(format!(
                "ssl.client.auth = {other}: expected required, requested or none"
            )),
        }
    }
}

/// The PEM text of a setting: the value itself, or the file it names.
pub(crate) fn pem(raw: &BTreeMap<String, String>, key: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(v) = raw.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.starts_with("-----BEGIN") {
        return Ok(Some(v.as_bytes().to_vec()));
    }
    std::fs::read(v)
        .map(Some)
        .map_err(|e| format!("{key}: reading {v}: {e}"))
}

fn certificates(pem: &[u8], key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{key}: no CERTIFICATE in the PEM"));
    }
    Ok(certs)
}

/// Builds the acceptor of the TLS listeners from the broker's settings.
pub(crate) fn acceptor(raw: &BTreeMap<String, String>) -> Result<TlsAcceptor, String> {
    let chain_key = "ssl.keystore.certificate.chain";
    let key_key = "ssl.keystore.key";
    let chain = pem(raw, chain_key)?.ok_or_else(|| {
        format!("a TLS listener needs {chain_key} (--tls-cert) and {key_key} (--tls-key)")
    })?;
    let key_pem =
        pem(raw, key_key)?.ok_or_else(|| format!("a TLS listener needs {key_key} (--tls-key)"))?;
    let chain = certificates(&chain, chain_key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("{key_key}: {e}"))?;
    let auth = ClientAuth::parse(raw.get("ssl.client.auth").map_or("", String::as_str))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested | ClientAuth::Required => {
            let trust_key = "ssl.truststore.certificates";
            let trust = pem(raw, trust_key)?
                .ok_or_else(|| format!("ssl.client.auth = required/requested needs {trust_key}"))?;
            let mut roots = RootCertStore::empty();
            for cert in certificates(&trust, trust_key)? {
                roots.add(cert).map_err(|e| format!("{trust_key}: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|e| format!("{trust_key}: {e}"))?,
            )
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{chain_key} / {key_key}: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_at_start() {
        let raw = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let e = acceptor(&raw(&[])).err().unwrap();
        assert!(e.contains("ssl.keystore.certificate.chain"), "{e}");
        let e = acceptor(&raw(&[
            ("ssl.keystore.certificate.chain", "/nonexistent/cert.pem"),
            ("ssl.keystore.key", "/nonexistent/key.pem"),
        ]))
        .err()
        .unwrap();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
        let e = acceptor(&raw(&[
            (
                "ssl.keystore.certificate.chain",
                "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            ),
            (
                "ssl.keystore.key",
                "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
            ),
        ]))
        .err()
        .unwrap();
        assert!(e.contains("ssl.keystore"), "{e}");
        assert!(ClientAuth::parse("sometimes").is_err());
    }
}
