//! Client certificates required on a TLS listener (issue 13, slice 1): one `strata serve` with
//! a PLAINTEXT and an SSL listener ([`strata_integration::tls_broker`]),
//! `ssl.client.auth=required` and `ssl.truststore.certificates=ca.pem`.
//!
//! A client with a CA-signed certificate creates, produces 20, consumes them in a group and
//! commits; kcat with the certificate reads them; clients without a certificate, or with one
//! from another CA, get no metadata and count as handshake failures; afterwards the good client
//! produces at the next offset and the PLAINTEXT listener reads all 21.

use std::time::Duration;

use anyhow::{ensure, Context};
use strata_integration::certs::TestCerts;
use strata_integration::kcat_tls::kcat_read;
use strata_integration::pyclient::{committed, recs, strings, with, Rec};
use strata_integration::run;
use strata_integration::tls_broker::{TlsBroker, HANDSHAKE_FAILURES};
use strata_integration::tls_clients::{ensure_acks, ensure_refused, nodes, plain_read, py};
use strata_integration::tls_records::{ensure_same, expected};

#[test]
fn tls_client_certificates_required() {
    run(Duration::from_secs(180), async {
        let mut tb = TlsBroker::start(TestCerts::generate()?, false, |c| {
            strings(&[
                "--set",
                "ssl.client.auth=required",
                "--set",
                &format!("ssl.truststore.certificates={}", c.ca()),
            ])
        })?;
        let (topic, group) = ("mtls", "g-mtls");
        const P: usize = 2;

        // With a CA-signed client certificate: create, produce, consume in a group.
        py(with(
            tb.mtls_flags("create"),
            &["--topic", topic, "--partitions", "2"],
        ))
        .await?;
        let lines = py(with(
            tb.mtls_flags("produce"),
            &["--topic", topic, "--count", "20", "--partitions", "2"],
        ))
        .await?;
        ensure_acks(&lines, 0, 20, P).context("produce with a client certificate")?;
        let c_lines = py(with(
            tb.mtls_flags("consume"),
            &[
                "--topic",
                topic,
                "--group",
                group,
                "--partitions",
                "2",
                "--want",
                "20",
                "--linger",
                "2",
                "--label",
                "M",
            ],
        ))
        .await?;
        let twenty: Vec<Rec> = (0..20).map(|i| expected(i, P)).collect();
        ensure_same(
            "group consumer with a client certificate",
            recs(&c_lines, "REC M")?,
            twenty.clone(),
        )?;
        ensure!(
            committed(&c_lines, "M")? == [(0, 10), (1, 10)].into(),
            "committed {:?}",
            committed(&c_lines, "M")?
        );
        let meta = py(tb.mtls_flags("meta")).await?;
        let listed = nodes(&meta, "BROKER")?;
        ensure!(
            listed.len() == 1 && listed[0].1 == "127.0.0.1" && listed[0].2 == tb.ssl_port,
            "Metadata over mutual TLS lists {listed:?}"
        );
        let kcat_cert = with(
            tb.kcat_ssl(),
            &[
                "-X",
                &format!("ssl.certificate.location={}", tb.certs.client_cert()),
                "-X",
                &format!("ssl.key.location={}", tb.certs.client_key()),
            ],
        );
        ensure_same(
            "kcat with a client certificate",
            kcat_read(kcat_cert, topic).await?,
            twenty,
        )?;

        // Without a certificate, or with one from another CA: refused in the handshake.
        let h0 = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure_refused(tb.ssl_flags("probe"), "a client without a certificate").await?;
        let h1 = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure!(
            h1 >= h0 + 1.0,
            "no certificate: {HANDSHAKE_FAILURES} {h0} → {h1}"
        );
        let stranger = with(
            tb.ssl_flags("probe"),
            &[
                "--cert",
                &tb.certs.arg("stranger.pem"),
                "--key",
                &tb.certs.arg("stranger.key"),
            ],
        );
        ensure_refused(stranger, "a client certificate from another CA").await?;
        let h2 = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure!(
            h2 >= h1 + 1.0,
            "stranger certificate: {HANDSHAKE_FAILURES} {h1} → {h2}"
        );

        // The broker still serves: the good client produces at the next offset of partition 0,
        // and the PLAINTEXT listener (no certificates there) reads all 21.
        tb.ensure_running("after the refused clients")?;
        let lines = py(with(
            tb.mtls_flags("produce"),
            &[
                "--topic",
                topic,
                "--count",
                "1",
                "--start",
                "20",
                "--partitions",
                "2",
            ],
        ))
        .await?;
        ensure_acks(&lines, 20, 1, P).context("produce after the refused clients")?;
        ensure_same(
            "PLAINTEXT read",
            plain_read(&tb.plaintext, topic, 2).await?,
            (0..21).map(|i| expected(i, P)).collect(),
        )?;
        Ok(())
    });
}
