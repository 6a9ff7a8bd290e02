//! The broker of the TLS listener scenarios (`tests/security_tls_*.rs`, issue 13, slice 1):
//! one `strata serve` with a PLAINTEXT and an SSL listener
//! (`--listen 127.0.0.1:P1,SSL://127.0.0.1:P2 --tls-cert server.pem --tls-key server.key`),
//! certificates made by the openssl CLI ([`TestCerts`]), and the flags its clients connect
//! with: `integration/py/tls_client.py` (confluent-kafka, librdkafka bundled with OpenSSL) and
//! Debian's kcat. The rdkafka crate of the Rust tests is built without OpenSSL, so it speaks
//! PLAINTEXT only.

use anyhow::{ensure, Result};

use crate::broker::Broker;
use crate::certs::TestCerts;
use crate::prom::settled_metric;
use crate::pyclient::strings;
use crate::secure_broker::start_secure;

/// Failed TLS handshakes, as the broker counts them.
pub const HANDSHAKE_FAILURES: &str = "strata_tls_handshake_failures_total";

/// A broker with a PLAINTEXT and an SSL listener.
pub struct TlsBroker {
    broker: Broker,
    /// `127.0.0.1:P1`.
    pub plaintext: String,
    /// `127.0.0.1:P2`.
    pub ssl: String,
    /// P1.
    pub plain_port: u16,
    /// P2.
    pub ssl_port: u16,
    /// The Prometheus port.
    metrics: u16,
    /// The certificates the broker and its clients use.
    pub certs: TestCerts,
}

impl TlsBroker {
    /// Starts `strata serve --listen 127.0.0.1:P1,SSL://127.0.0.1:P2` with the test server
    /// certificate, a metrics listener, no initial rebalance delay and `extra` (built from the
    /// certificates). With `advertise_localhost` the SSL listener is advertised as
    /// `localhost:P2` (the certificate names both `localhost` and `127.0.0.1`).
    pub fn start(
        certs: TestCerts,
        advertise_localhost: bool,
        extra: impl Fn(&TestCerts) -> Vec<String>,
    ) -> Result<TlsBroker> {
        let sb = start_secure(&certs, &["", "SSL"], |p| {
            let mut args = Vec::new();
            if advertise_localhost {
                args.extend([
                    "--advertised-listener".into(),
                    format!("SSL://localhost:{}", p[1]),
                ]);
            }
            args.extend(extra(&certs));
            args
        })?;
        let [plaintext, ssl] = <[String; 2]>::try_from(sb.addrs).expect("two listeners");
        Ok(TlsBroker {
            broker: sb.broker,
            plaintext,
            ssl,
            plain_port: sb.ports[0],
            ssl_port: sb.ports[1],
            metrics: sb.metrics,
            certs,
        })
    }

    /// `tls_client.py <command>` connection flags for the SSL listener (CA only).
    pub fn ssl_flags(&self, command: &str) -> Vec<String> {
        strings(&[command, "--bootstrap", &self.ssl, "--ca", &self.certs.ca()])
    }

    /// [`TlsBroker::ssl_flags`] plus the CA-signed client certificate.
    pub fn mtls_flags(&self, command: &str) -> Vec<String> {
        let mut f = self.ssl_flags(command);
        f.extend(strings(&[
            "--cert",
            &self.certs.client_cert(),
            "--key",
            &self.certs.client_key(),
        ]));
        f
    }

    /// kcat flags for the SSL listener (CA only).
    pub fn kcat_ssl(&self) -> Vec<String> {
        strings(&[
            "-b",
            &self.ssl,
            "-X",
            "security.protocol=SSL",
            "-X",
            &format!("ssl.ca.location={}", self.certs.ca()),
            "-X",
            "broker.address.family=v4",
        ])
    }

    /// `series` once two reads 300 ms apart agree (connections of clients that just exited
    /// may still be closing).
    pub async fn settled(&self, series: &str) -> Result<f64> {
        settled_metric(self.metrics, series, 30).await
    }

    /// Fails, with the log tail, if the broker exited.
    pub fn ensure_running(&mut self, what: &str) -> Result<()> {
        ensure!(
            self.broker.is_running(),
            "{what}: the broker exited; log tail:\n{}",
            self.broker.log_tail()
        );
        Ok(())
    }
}
