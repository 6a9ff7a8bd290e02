//! TLS for a [`super::KafkaClient`] on SSL and SASL_SSL listeners: rustls with the aws-lc-rs
//! provider, TLS 1.2 and 1.3, as the broker's side (`crate::tls`).
//!
//! - The broker's certificate must chain to the CAs of `ssl.ca.location` (PEM), or to the
//!   platform's roots when it is not set.
//! - With hostname verification (`ssl.endpoint.identification.algorithm=https`, the default) it
//!   must also name the host of the address connected to (a DNS name, or an IP address in its
//!   subjectAltName). Without it, only the name check is skipped: the chain, validity dates and
//!   signatures are still checked, so an untrusted certificate is still refused.
//! - `ssl.certificate.location` / `ssl.key.location` give a client certificate for brokers with
//!   `ssl.client.auth=required`.
//!
//! Invariants: the configuration is built once, when the settings are read, and errors name
//! the setting (and file) at fault; a failed handshake, and a TLS alert from the broker later
//! (TLS 1.3 refuses a client certificate after the handshake), is a [`SecurityError`] of kind
//! [`SecurityErrorKind::Tls`].

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::error::{SecurityError, SecurityErrorKind};

/// The TLS settings of a client, as given (paths not read yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsSettings {
    /// `ssl.ca.location`; `None`: the platform's roots.
    pub(super) ca: Option<String>,
    /// `ssl.certificate.location` and `ssl.key.location`.
    pub(super) client: Option<(String, String)>,
    /// `ssl.endpoint.identification.algorithm` is `https`.
    pub(super) verify_hostname: bool,
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: reading {path}: {e}"))
}

fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(&read(key, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{key}: {path} holds no CERTIFICATE"));
    }
    Ok(certs)
}

/// The trusted roots: `ssl.ca.location`, else the platform's.
fn roots(ca: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in certificates("ssl.ca.location", path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("ssl.ca.location: {path}: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "no CA certificates found on this system: set ssl.ca.location to the PEM \
                     file of the broker's CA"
                        .into(),
                );
            }
        }
    }
    Ok(roots)
}

/// Builds the client configuration of `settings` (see the module docs).
pub(super) fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = Arc::new(roots(settings.ca.as_deref())?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("ssl.ca.location: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if settings.verify_hostname {
        verifier
    } else {
        Arc::new(AnyHostname(verifier))
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &settings.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certificates("ssl.certificate.location", cert)?;
            let key = PrivateKeyDer::from_pem_slice(&read("ssl.key.location", key)?)
                .map_err(|e| format!("ssl.key.location: {key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("ssl.certificate.location / ssl.key.location: {e}"))?
        }
    };
    Ok(Arc::new(config))
}

/// The host part of `HOST:PORT` (`[V6]:PORT` too), as a TLS server name.
fn server_name(addr: &str) -> anyhow::Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((host, _)) => host,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| anyhow::anyhow!("{addr}: {e}: not a host name for TLS"))
}

/// Runs the TLS handshake with the broker at `addr` over `tcp`.
pub(super) async fn handshake(
    config: &Arc<ClientConfig>,
    addr: &str,
    tcp: TcpStream,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let name = server_name(addr)?;
    TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let hint = if e.to_string().contains("certificate") {
                " (check ssl.ca.location and ssl.endpoint.identification.algorithm)"
            } else {
                " (is this a TLS listener? check security.protocol)"
            };
            SecurityError::new(
                SecurityErrorKind::Tls,
                format!("TLS handshake with {addr} failed: {e}{hint}"),
            )
            .into()
        })
}

/// An I/O error of `what` on a connection, as an error: a TLS alert from the broker (with TLS
/// 1.3 a refused client certificate is only told after the handshake, at the first read) is a
/// [`SecurityError`] of kind [`SecurityErrorKind::Tls`]; anything else stays an I/O error.
pub(super) fn io_error(e: std::io::Error, what: &str) -> anyhow::Error {
    let alert = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::AlertReceived(alert) => Some(*alert),
            _ => None,
        });
    match alert {
        Some(alert) => SecurityError::new(
            SecurityErrorKind::Tls,
            format!(
                "{what}: the broker ended TLS with the alert {alert:?} (a client certificate it \
                 does not trust? check ssl.certificate.location and ssl.key.location)"
            ),
        )
        .into(),
        None => anyhow::Error::new(e).context(what.to_string()),
    }
}

/// The WebPKI verifier without its host name check
/// (`ssl.endpoint.identification.algorithm=`): webpki checks the chain before the name, so a
/// name error means the chain is trusted.
#[derive(Debug)]
struct AnyHostname(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("127.0.0.1:9093").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:9093").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("broker-1.example.com:9093").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("bad host:1").is_err());
    }
}
