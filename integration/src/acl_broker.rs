//! The broker of the ACL scenarios (`tests/security_acl_*.rs`, issue 13): one `strata serve`
//! with `authorizer.class.name=acl`, `super.users=User:admin` and three listeners, PLAINTEXT
//! (principal `User:ANONYMOUS`), SASL_SSL (`User:<sasl user>`) and SSL (`User:<certificate
//! subject, RFC 2253>`), with `ssl.client.auth=required` on both TLS listeners, so SASL_SSL
//! clients present the harness's client certificate too and are still known by their SASL
//! user. `admin` / `admin-secret` (SCRAM-SHA-256) comes from `--add-scram`; every other user
//! is created through AlterUserScramCredentials. A client certificate `carol.pem`
//! (`/CN=carol/O=Strata`) is made beside the harness's certificates.
//!
//! Also here: the connection flags of the `acl_*.py` scripts for each kind of principal, and
//! `strata_authorization_denied_total` by (operation, resource type).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::broker::Broker;
use crate::certs::TestCerts;
use crate::prom::scrape;
use crate::pyclient::strings;
use crate::secure_broker::{restart_gracefully, start_secure};

/// The super user's password.
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// Time limit of each ACL scenario.
pub const LIMIT: Duration = Duration::from_secs(90);
/// The denial counter.
pub const DENIED_METRIC: &str = "strata_authorization_denied_total";

/// A broker with the authorizer on and the three listeners of the module docs.
pub struct AclBroker {
    broker: Broker,
    plaintext: String,
    sasl_ssl: String,
    ssl: String,
    /// The Prometheus port.
    metrics: u16,
    certs: TestCerts,
}

impl AclBroker {
    /// Starts the broker; `carol.pem` (`/CN=carol/O=Strata`) is made beside the harness's
    /// certificates.
    pub fn start() -> Result<AclBroker> {
        let certs = TestCerts::generate()?;
        certs.add_client("carol", "/CN=carol/O=Strata")?;
        let sb = start_secure(&certs, &["", "SASL_SSL", "SSL"], |_| {
            strings(&[
                "--set",
                "ssl.client.auth=required",
                "--set",
                &format!("ssl.truststore.certificates={}", certs.ca()),
                "--add-scram",
                &format!("SCRAM-SHA-256=[name=admin,password={ADMIN_PASSWORD}]"),
                "--set",
                "authorizer.class.name=acl",
                "--set",
                "super.users=User:admin",
            ])
        })?;
        let [plaintext, sasl_ssl, ssl] =
            <[String; 3]>::try_from(sb.addrs).expect("three listeners");
        Ok(AclBroker {
            broker: sb.broker,
            plaintext,
            sasl_ssl,
            ssl,
            metrics: sb.metrics,
            certs,
        })
    }

    /// SIGTERM, then the same command line on the same ports and data directory.
    pub fn restart(&mut self) -> Result<()> {
        restart_gracefully(&mut self.broker)
    }

    /// Connection flags of the scripts for a SASL_SSL user (with the harness's client
    /// certificate, which the listener requires).
    pub fn sasl(&self, mechanism: &str, user: &str, password: &str) -> Vec<String> {
        let mut c = strings(&[
            "--bootstrap",
            &self.sasl_ssl,
            "--protocol",
            "SASL_SSL",
            "--mechanism",
            mechanism,
            "--user",
            user,
            "--password",
            password,
        ]);
        c.extend(self.tls("client"));
        c
    }

    /// The super user, `User:admin` (SCRAM-SHA-256).
    pub fn admin(&self) -> Vec<String> {
        self.sasl("SCRAM-SHA-256", "admin", ADMIN_PASSWORD)
    }

    /// `User:alice` (SCRAM-SHA-256, password `alice-pw`).
    pub fn alice(&self) -> Vec<String> {
        self.sasl("SCRAM-SHA-256", "alice", "alice-pw")
    }

    /// An SSL client presenting `<cert>.pem`.
    pub fn ssl(&self, cert: &str) -> Vec<String> {
        let mut c = strings(&["--bootstrap", &self.ssl, "--protocol", "SSL"]);
        c.extend(self.tls(cert));
        c
    }

    /// A PLAINTEXT client: `User:ANONYMOUS`.
    pub fn anonymous(&self) -> Vec<String> {
        strings(&["--bootstrap", &self.plaintext, "--protocol", "PLAINTEXT"])
    }

    fn tls(&self, cert: &str) -> Vec<String> {
        vec![
            "--ca".into(),
            self.certs.ca(),
            "--cert".into(),
            self.certs.arg(&format!("{cert}.pem")),
            "--key".into(),
            self.certs.arg(&format!("{cert}.key")),
        ]
    }

    /// `strata_authorization_denied_total` by (operation, resource type).
    pub fn denials(&self) -> Result<BTreeMap<(String, String), f64>> {
        let page = scrape(self.metrics)?;
        let mut out = BTreeMap::new();
        for line in page.lines() {
            let Some(rest) = line.strip_prefix(&format!("{DENIED_METRIC}{{")) else {
                continue;
            };
            let (labels, value) = rest
                .split_once("} ")
                .with_context(|| format!("metric line {line:?}"))?;
            let label = |name: &str| -> Result<String> {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                    .and_then(|v| v.strip_suffix('"'))
                    .map(str::to_string)
                    .with_context(|| format!("no {name} label in {line:?}"))
            };
            out.insert(
                (label("operation")?, label("resource_type")?),
                value.trim().parse::<f64>()?,
            );
        }
        Ok(out)
    }
}

/// [`AclBroker::denials`] after minus before, per series.
pub fn growth(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
) -> BTreeMap<(String, String), f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}
