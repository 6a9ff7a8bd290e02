//! The broker of the SASL scenarios (`tests/security_sasl_*.rs`, issue 13, slice 2): one
//! `strata serve` with three listeners, `PLAINTEXT`, `SASL_SSL` (TLS with a test CA made by the
//! openssl CLI) and `SASL_PLAINTEXT`, and the user `admin` / `admin-secret` created with
//! `--add-scram` for SCRAM-SHA-256 and SCRAM-SHA-512; the connection flags of the
//! `integration/py/sasl_*.py` scripts; and what the PLAINTEXT listener holds, as the ground
//! truth a SASL client's work is checked against.

use anyhow::Result;

use crate::broker::Broker;
use crate::certs::TestCerts;
use crate::client::read_topic;
use crate::prom::{metric, settled_metric};
use crate::pyclient::{sorted, strings, Rec};
use crate::secure_broker::{restart_gracefully, start_secure};

/// The user `--add-scram` creates.
pub const ADMIN: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// The `--add-scram` flags of every start: `admin` for both SCRAM mechanisms.
const ADD_ADMIN: [&str; 4] = [
    "--add-scram",
    "SCRAM-SHA-256=[name=admin,password=admin-secret]",
    "--add-scram",
    "SCRAM-SHA-512=[name=admin,password=admin-secret]",
];

/// A broker listening on PLAINTEXT, SASL_SSL and SASL_PLAINTEXT.
pub struct SaslBroker {
    /// The process.
    pub broker: Broker,
    /// `127.0.0.1:P` of the PLAINTEXT listener.
    pub plaintext: String,
    /// `127.0.0.1:P` of the SASL_SSL listener.
    pub sasl_ssl: String,
    /// `127.0.0.1:P` of the SASL_PLAINTEXT listener.
    pub sasl_plaintext: String,
    /// The Prometheus port.
    metrics: u16,
    certs: TestCerts,
}

impl SaslBroker {
    /// Starts `strata serve` with the three listeners, the test certificate, `admin` for both
    /// SCRAM mechanisms, a metrics listener and `extra` arguments.
    pub fn start(extra: &[&str]) -> Result<SaslBroker> {
        let certs = TestCerts::generate()?;
        let sb = start_secure(&certs, &["", "SASL_SSL", "SASL_PLAINTEXT"], |_| {
            let mut args = strings(&ADD_ADMIN);
            args.extend(strings(extra));
            args
        })?;
        let [plaintext, sasl_ssl, sasl_plaintext] =
            <[String; 3]>::try_from(sb.addrs).expect("three listeners");
        Ok(SaslBroker {
            broker: sb.broker,
            plaintext,
            sasl_ssl,
            sasl_plaintext,
            metrics: sb.metrics,
            certs,
        })
    }

    /// SIGTERM, then the same command line again (same ports and data directory).
    pub fn restart(&mut self) -> Result<()> {
        restart_gracefully(&mut self.broker)
    }

    /// The CA certificate clients trust.
    pub fn ca(&self) -> String {
        self.certs.ca()
    }

    /// The value of one metric series now.
    pub fn metric(&self, series: &str) -> Result<f64> {
        metric(self.metrics, series)
    }

    /// `series` once two reads 300 ms apart agree (requests of clients that just exited may
    /// still be in flight).
    pub async fn settled_metric(&self, series: &str) -> Result<f64> {
        settled_metric(self.metrics, series, 20).await
    }

    /// Connection flags of the `sasl_*.py` scripts.
    pub fn conn(
        &self,
        bootstrap: &str,
        protocol: &str,
        mechanism: &str,
        user: &str,
        password: &str,
    ) -> Vec<String> {
        strings(&[
            "--bootstrap",
            bootstrap,
            "--protocol",
            protocol,
            "--mechanism",
            mechanism,
            "--user",
            user,
            "--password",
            password,
            "--ca",
            &self.ca(),
        ])
    }

    /// [`SaslBroker::conn`] for `admin` with `mechanism` on the SASL_SSL listener.
    pub fn admin_over_sasl_ssl(&self, mechanism: &str) -> Vec<String> {
        self.conn(&self.sasl_ssl, "SASL_SSL", mechanism, ADMIN, ADMIN_PASSWORD)
    }
}

/// Every record of `topic` read on the PLAINTEXT listener as (partition, offset, key, value),
/// sorted.
pub async fn read_plain(sb: &SaslBroker, topic: &str, partitions: i32) -> Result<Vec<Rec>> {
    let text = |b: Option<Vec<u8>>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
    Ok(sorted(
        read_topic(&sb.plaintext, topic, partitions)
            .await?
            .into_iter()
            .map(|r| (r.partition, r.offset, text(r.key), text(r.value)))
            .collect(),
    ))
}
