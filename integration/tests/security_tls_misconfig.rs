//! TLS and SASL listener misconfigurations refuse to start (issue 13): `strata serve` exits
//! non-zero with an error naming the setting, without listening.
//!
//! - `tls_misconfigurations_refuse_to_start`: an SSL or SASL_SSL listener without certificate
//!   and key, an unreadable certificate, a key that does not match, `ssl.client.auth=required`
//!   without a truststore, a bad `ssl.client.auth`, and SSL listed twice: each is refused. With a
//!   certificate and key the same SASL_SSL listener starts (SASL landed in slice 2; before it,
//!   SASL listeners were refused).
//! - `sasl_listener_without_a_usable_mechanism_refuses_to_start`:
//!   `sasl.enabled.mechanisms=GSSAPI` leaves a SASL_SSL listener with no mechanism Strata
//!   offers, so nobody could ever log in; the broker must refuse to start naming the setting.

use std::time::Duration;

use anyhow::Result;
use strata_integration::broker::free_port;
use strata_integration::certs::TestCerts;
use strata_integration::pyclient::strings;
use strata_integration::refusal::ensure_serve_refuses;
use strata_integration::{run, Broker};

/// `strata serve args…` refuses, naming every one of `needles`, and leaves nothing listening
/// on `probe_port`.
async fn ensure_refuses(args: Vec<String>, needles: &[&str], probe_port: u16) -> Result<()> {
    ensure_serve_refuses(args, needles, Some(probe_port)).await?;
    Ok(())
}

#[test]
fn tls_misconfigurations_refuse_to_start() {
    run(Duration::from_secs(120), async {
        let certs = TestCerts::generate()?;
        let (p1, p2) = (free_port()?, free_port()?);
        let listen = |second: &str| format!("127.0.0.1:{p1},{second}://127.0.0.1:{p2}");
        let cert = certs.server_cert();
        let key = certs.server_key();
        let tls = |extra: &[&str]| -> Vec<String> {
            let mut a = strings(&[
                "--listen",
                &listen("SSL"),
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ]);
            a.extend(strings(extra));
            a
        };
        let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
            (
                strings(&["--listen", &listen("SSL")]),
                vec![
                    "ssl.keystore.certificate.chain",
                    "--tls-cert",
                    "ssl.keystore.key",
                ],
            ),
            (
                strings(&["--listen", &listen("SASL_SSL")]),
                vec![
                    "ssl.keystore.certificate.chain",
                    "--tls-cert",
                    "ssl.keystore.key",
                ],
            ),
            (
                strings(&[
                    "--listen",
                    &listen("SSL"),
                    "--tls-cert",
                    "/nonexistent/server.pem",
                    "--tls-key",
                    &key,
                ]),
                vec!["ssl.keystore.certificate.chain", "/nonexistent/server.pem"],
            ),
            (
                strings(&[
                    "--listen",
                    &listen("SSL"),
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &certs.arg("client.key"),
                ]),
                vec!["ssl.keystore.key"],
            ),
            (
                tls(&["--set", "ssl.client.auth=required"]),
                vec!["ssl.truststore.certificates"],
            ),
            (
                tls(&["--set", "ssl.client.auth=sometimes"]),
                vec!["ssl.client.auth"],
            ),
            (
                strings(&[
                    "--listen",
                    &format!(
                        "127.0.0.1:{p1},SSL://127.0.0.1:{p2},SSL://127.0.0.1:{}",
                        p2 + 1
                    ),
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &key,
                ]),
                vec!["SSL appears twice"],
            ),
        ];
        for (args, needles) in cases {
            ensure_refuses(args, &needles, p2).await?;
        }

        // The control: a SASL_SSL listener with a certificate and key starts and listens.
        let broker = Broker::start_listeners(
            &listen("SASL_SSL"),
            &["--tls-cert", &cert, "--tls-key", &key],
        )?;
        drop(broker);
        Ok(())
    });
}

#[test]
fn sasl_listener_without_a_usable_mechanism_refuses_to_start() {
    run(Duration::from_secs(60), async {
        let certs = TestCerts::generate()?;
        let (p1, p2) = (free_port()?, free_port()?);
        ensure_refuses(
            strings(&[
                "--listen",
                &format!("127.0.0.1:{p1},SASL_SSL://127.0.0.1:{p2}"),
                "--tls-cert",
                &certs.server_cert(),
                "--tls-key",
                &certs.server_key(),
                "--set",
                "sasl.enabled.mechanisms=GSSAPI",
            ]),
            &["sasl.enabled.mechanisms"],
            p2,
        )
        .await
    });
}
