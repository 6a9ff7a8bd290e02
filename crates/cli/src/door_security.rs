//! TLS and bearer-token settings of the broker's two side doors, the gRPC admin API
//! (`strata.grpc.*`) and the Prometheus endpoint (`strata.metrics.*`), turned into a rustls
//! acceptor and a token once, at start.
//!
//! Each door has its own settings: a certificate and key (TLS on), for gRPC a client CA
//! (client certificates required), and a token file. The Kafka listeners' `--tls-cert` /
//! `--tls-key` are never reused: a door speaks TLS only when its own settings say so, so
//! turning TLS on for Kafka clients cannot silently change what Prometheus or grpcurl must
//! speak.
//!
//! Invariants:
//! - Every setting is checked here, before anything listens: a certificate without its key
//!   (or the other way round), a client CA without TLS, an unreadable or unusable file, an
//!   empty token, or a door setting while the door itself is off, each stop `strata serve`
//!   with an error naming the setting and its flag.
//! - TLS is rustls with aws-lc-rs, TLS 1.2 and 1.3, as on the Kafka listeners
//!   (crates/broker/src/tls.rs). A handshake gets [`HANDSHAKE_TIMEOUT`]; handshakes run
//!   concurrently, so a slow or silent client never holds up the next one, and a failed
//!   handshake closes only its own connection.
//! - The token's value is never logged (see `strata_admin::auth`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use strata_admin::auth::BearerToken;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish its TLS handshake (as on the Kafka listeners).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A setting and the `strata serve` flag that sets it, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setting {
    pub(crate) name: &'static str,
    pub(crate) flag: &'static str,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.flag)
    }
}

/// The settings of one door.
#[derive(Debug)]
pub(crate) struct DoorSettings {
    /// What the door is, for messages: "the gRPC admin API".
    pub(crate) door: &'static str,
    /// The setting that turns the door on.
    pub(crate) listen: Setting,
    pub(crate) cert: Setting,
    pub(crate) key: Setting,
    /// The CA client certificates must chain to (None: the door has no mTLS option).
    pub(crate) client_ca: Option<Setting>,
    pub(crate) token: Setting,
    /// ALPN protocols offered, most preferred first.
    pub(crate) alpn: &'static [&'static [u8]],
}

/// What a door enforces, checked and loaded.
#[derive(Default)]
pub(crate) struct DoorSecurity {
    /// Some: connections are TLS.
    pub(crate) tls: Option<TlsAcceptor>,
    /// With TLS: a client certificate chaining to the client CA is required.
    pub(crate) client_certs: bool,
    /// Some: every request must carry `authorization: Bearer <token>`.
    pub(crate) token: Option<BearerToken>,
}

impl std::fmt::Debug for DoorSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoorSecurity")
            .field("mode", &self.mode())
            .field("token", &self.token)
            .finish()
    }
}

impl DoorSecurity {
    /// A one-word summary for the start log: `plaintext`, `tls` or `mtls`.
    pub(crate) fn mode(&self) -> &'static str {
        match (&self.tls, self.client_certs) {
            (None, _) => "plaintext",
            (Some(_), false) => "tls",
            (Some(_), true) => "mtls",
        }
    }
}

/// A non-empty setting, trimmed.
pub(crate) fn get<'a>(raw: &'a BTreeMap<String, String>, setting: &str) -> Option<&'a str> {
    raw.get(setting).map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl DoorSettings {
    /// Checks and loads the door's settings; `on` says whether the door is on at all.
    pub(crate) fn load(
        &self,
        raw: &BTreeMap<String, String>,
        on: bool,
    ) -> anyhow::Result<DoorSecurity> {
        let cert = get(raw, self.cert.name);
        let key = get(raw, self.key.name);
        let client_ca = self
            .client_ca
            .and_then(|s| get(raw, s.name).map(|v| (s, v)));
        let token = get(raw, self.token.name);
        if !on {
            let given = [
                cert.map(|_| self.cert),
                key.map(|_| self.key),
                client_ca.map(|(s, _)| s),
                token.map(|_| self.token),
            ];
            if let Some(s) = given.into_iter().flatten().next() {
                bail!(
                    "{s} is set but {} is off: set {} too, or drop {}",
                    self.door,
                    self.listen,
                    s.name
                );
            }
            return Ok(DoorSecurity::default());
        }
        let tls = match (cert, key) {
            (None, None) => None,
            (Some(_), None) => bail!(
                "{} is set without {}: TLS for {} needs both",
                self.cert,
                self.key,
                self.door
            ),
            (None, Some(_)) => bail!(
                "{} is set without {}: TLS for {} needs both",
                self.key,
                self.cert,
                self.door
            ),
            (Some(cert), Some(key)) => Some((cert, key)),
        };
        if let (Some((ca, _)), None) = (client_ca, tls) {
            bail!(
                "{ca} needs TLS on {}: set {} and {} too (client certificates are checked \
                 during the TLS handshake)",
                self.door,
                self.cert,
                self.key
            );
        }
        let acceptor = match tls {
            None => None,
            Some((cert, key)) => Some(self.acceptor(cert, key, client_ca)?),
        };
        let token = match token {
            None => None,
            Some(path) => Some(BearerToken::from_file(
                Path::new(path),
                &self.token.to_string(),
            )?),
        };
        Ok(DoorSecurity {
            tls: acceptor,
            client_certs: client_ca.is_some(),
            token,
        })
    }

    fn acceptor(
        &self,
        cert: &str,
        key: &str,
        client_ca: Option<(Setting, &str)>,
    ) -> anyhow::Result<TlsAcceptor> {
        let chain = certificates(self.cert, cert)?;
        let key_pem = read(self.key, key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| anyhow::anyhow!("{}: no usable private key in {key}: {e}", self.key))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS protocol versions")?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some((setting, path)) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(setting, path)? {
                    roots
                        .add(ca)
                        .with_context(|| format!("{setting}: a CA certificate in {path}"))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .with_context(|| format!("{setting}: the CA certificates in {path}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).with_context(|| {
            format!(
                "{} / {}: the certificate and key do not go together",
                self.cert, self.key
            )
        })?;
        config.alpn_protocols = self.alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn read(setting: Setting, path: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{setting}: reading {path}"))
}

fn certificates(setting: Setting, path: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{setting}: {path}: {e}"))?;
    if certs.is_empty() {
        bail!("{setting}: no CERTIFICATE in {path}");
    }
    Ok(certs)
}

/// Runs the TLS handshake of `stream` within [`HANDSHAKE_TIMEOUT`]; a failure is logged (at
/// debug: plaintext clients and port scanners are routine) and closes the connection.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    door: &'static str,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(%peer, "{door}: TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "{door}: TLS handshake timed out after {HANDSHAKE_TIMEOUT:?}");
            None
        }
    }
}

/// The TLS connections of `listener`, handshakes done, as a stream (for tonic's
/// `serve_with_incoming`). Each handshake runs in its own task; the accept loop ends when the
/// stream is dropped.
pub(crate) fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    door: &'static str,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("{door}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(tls) = handshake(&acceptor, stream, peer, door).await {
                    let _ = tx.send(Ok(tls)).await;
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOOR: DoorSettings = DoorSettings {
        door: "the test door",
        listen: Setting {
            name: "t.listen",
            flag: "--t-listen",
        },
        cert: Setting {
            name: "t.tls.cert",
            flag: "--t-tls-cert",
        },
        key: Setting {
            name: "t.tls.key",
            flag: "--t-tls-key",
        },
        client_ca: Some(Setting {
            name: "t.tls.client.ca",
            flag: "--t-client-ca",
        }),
        token: Setting {
            name: "t.token.file",
            flag: "--t-token-file",
        },
        alpn: &[b"h2"],
    };

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)], on: bool) -> String {
        format!("{:#}", DOOR.load(&raw(pairs), on).unwrap_err())
    }

    #[test]
    fn misconfigurations_name_the_setting() {
        let e = error(&[("t.tls.cert", "/c.pem")], true);
        assert!(
            e.contains("t.tls.cert (--t-tls-cert) is set without t.tls.key"),
            "{e}"
        );
        let e = error(&[("t.tls.key", "/k.pem")], true);
        assert!(
            e.contains("t.tls.key (--t-tls-key) is set without t.tls.cert"),
            "{e}"
        );
        let e = error(&[("t.tls.client.ca", "/ca.pem")], true);
        assert!(
            e.contains("t.tls.client.ca (--t-client-ca) needs TLS"),
            "{e}"
        );
        let e = error(&[("t.token.file", "/nonexistent/token")], true);
        assert!(e.contains("t.token.file (--t-token-file)"), "{e}");
        assert!(e.contains("/nonexistent/token"), "{e}");
        let e = error(
            &[("t.tls.cert", "/nonexistent/c.pem"), ("t.tls.key", "/k")],
            true,
        );
        assert!(
            e.contains("t.tls.cert (--t-tls-cert): reading /nonexistent/c.pem"),
            "{e}"
        );
        let e = error(&[("t.token.file", "/nonexistent/token")], false);
        assert!(e.contains("is set but the test door is off"), "{e}");
        assert!(e.contains("t.listen (--t-listen)"), "{e}");
    }

    #[test]
    fn nothing_set_is_plaintext_without_a_token() {
        let s = DOOR.load(&raw(&[("t.tls.cert", " ")]), true).unwrap();
        assert!(s.tls.is_none() && s.token.is_none() && !s.client_certs);
        assert_eq!(s.mode(), "plaintext");
        let s = DOOR.load(&raw(&[]), false).unwrap();
        assert!(s.tls.is_none() && s.token.is_none());
    }

    #[test]
    fn an_empty_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "\n").unwrap();
        let e = error(&[("t.token.file", path.to_str().unwrap())], true);
        assert!(e.contains("t.token.file (--t-token-file)"), "{e}");
        assert!(e.contains("empty"), "{e}");
    }
}
