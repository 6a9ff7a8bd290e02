//! A TLS listener refuses wrong clients cleanly (issue 13, slice 1): one `strata serve` with a
//! PLAINTEXT and an SSL listener ([`strata_integration::tls_broker`]).
//!
//! A PLAINTEXT librdkafka client on the SSL port gets no metadata, and an SSL client produces
//! right after; raw garbage and a plaintext Kafka request on the SSL port get at most one TLS
//! alert and EOF; a half ClientHello is closed after the 10 s handshake timeout; an SSL client on
//! the PLAINTEXT port gets no metadata and a raw ClientHello there is closed at once without an
//! answer. Each raw client moves `strata_tls_handshake_failures_total` (or
//! `strata_requests_rejected_total{frame_size}`) by exactly one; the broker keeps running and
//! serves both listeners.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::certs::TestCerts;
use strata_integration::pyclient::with;
use strata_integration::tls_broker::{TlsBroker, HANDSHAKE_FAILURES};
use strata_integration::tls_clients::{acks, ensure_acks, ensure_refused, plain_read, py};
use strata_integration::tls_records::{ensure_same, key, tls_value};
use strata_integration::{consumer, create_topic, run};

/// The broker's TLS handshake timeout (crates/broker/src/connection.rs).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const FRAME_SIZE_REJECTED: &str = "strata_requests_rejected_total{reason=\"frame_size\"}";

// ---------------------------------------------------------------------------------------------
// Raw TCP.

/// Sends `bytes` to `addr` and reads until the broker closes the connection or `limit`
/// passes; returns what was read and how long the close took.
fn send_raw(addr: &str, bytes: &[u8], limit: Duration) -> Result<(Vec<u8>, Duration)> {
    let addr: SocketAddr = addr.parse()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(limit))?;
    s.write_all(bytes)?;
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok((got, start.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset closes as well (the broker closed with our bytes unread).
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok((got, start.elapsed())),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("still open {limit:?} after sending {} bytes", bytes.len())
            }
            Err(e) => return Err(e).context("reading"),
        }
    }
}

/// Fails unless `got` is nothing or exactly one fatal TLS alert record (what rustls sends
/// before it closes a connection whose first bytes are not a ClientHello).
fn ensure_nothing_or_alert(what: &str, got: &[u8]) -> Result<()> {
    let alert = got.len() == 7
        && got[0] == 0x15
        && got[1] == 0x03
        && got[3..5] == [0x00, 0x02]
        && got[5] == 0x02;
    ensure!(
        got.is_empty() || alert,
        "{what}: the broker answered {got:02x?} before closing"
    );
    Ok(())
}

/// The first bytes of a TLS ClientHello: a handshake record announcing 512 bytes, of which
/// only the handshake header, the version and part of the random follow.
fn partial_client_hello() -> Vec<u8> {
    let mut b = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    b.extend_from_slice(b"0123456789");
    b
}

/// ApiVersions v0, as a plaintext Kafka client sends it first.
fn api_versions_frame() -> Vec<u8> {
    let client = b"tls-it";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn tls_refuses_wrong_clients_cleanly() {
    run(Duration::from_secs(180), async {
        let mut tb = TlsBroker::start(TestCerts::generate()?, false, |_| Vec::new())?;
        create_topic(&tb.plaintext, "alive", 1, &[]).await?;
        // (The harness's readiness probe already counts as one: it connected and left.)
        let h0 = tb.settled(HANDSHAKE_FAILURES).await?;

        // A PLAINTEXT librdkafka client on the SSL port: no metadata.
        let ssl = tb.ssl.clone();
        let outcome = tokio::task::spawn_blocking(move || -> Result<Result<usize, String>> {
            let c = consumer(&ssl, &[])?;
            Ok(c.fetch_metadata(None, Duration::from_secs(5))
                .map(|md| md.brokers().len())
                .map_err(|e| e.to_string()))
        })
        .await??;
        ensure!(
            outcome.is_err(),
            "a PLAINTEXT client got metadata from the SSL port: {outcome:?}"
        );
        let h1 = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure!(h1 >= h0 + 1.0, "{HANDSHAKE_FAILURES}: {h0} → {h1}");
        tb.ensure_running("after a PLAINTEXT client on the SSL port")?;

        // A good SSL client right after.
        let lines = py(with(
            tb.ssl_flags("produce"),
            &["--topic", "alive", "--count", "1"],
        ))
        .await?;
        ensure_acks(&lines, 0, 1, 1).context("SSL produce after the PLAINTEXT client")?;

        // An SSL client on the PLAINTEXT port: no metadata; counted as oversized frames.
        let f0 = tb.settled(FRAME_SIZE_REJECTED).await?;
        let mut wrong = tb.ssl_flags("probe");
        wrong[2] = tb.plaintext.clone();
        ensure_refused(wrong, "an SSL client on the PLAINTEXT port").await?;
        let f1 = tb.settled(FRAME_SIZE_REJECTED).await?;
        ensure!(f1 >= f0 + 1.0, "{FRAME_SIZE_REJECTED}: {f0} → {f1}");

        // Raw bytes on the SSL port: closed at once, at most a TLS alert; one failure each.
        for (what, bytes) in [
            ("HTTP on the SSL port", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
            (
                "a plaintext ApiVersions on the SSL port",
                api_versions_frame(),
            ),
            (
                "random bytes on the SSL port",
                (0..64u8).map(|b| b.wrapping_mul(37)).collect(),
            ),
        ] {
            let before = tb.settled(HANDSHAKE_FAILURES).await?;
            let ssl = tb.ssl.clone();
            let (got, _) =
                tokio::task::spawn_blocking(move || send_raw(&ssl, &bytes, Duration::from_secs(5)))
                    .await?
                    .context(what)?;
            ensure_nothing_or_alert(what, &got)?;
            let after = tb.settled(HANDSHAKE_FAILURES).await?;
            ensure!(
                after == before + 1.0,
                "{what}: {HANDSHAKE_FAILURES} {before} → {after}"
            );
        }

        // Half a ClientHello, then silence: closed by the handshake timeout, not before.
        let before = tb.settled(HANDSHAKE_FAILURES).await?;
        let ssl = tb.ssl.clone();
        let (got, took) = tokio::task::spawn_blocking(move || {
            send_raw(&ssl, &partial_client_hello(), HANDSHAKE_TIMEOUT * 2)
        })
        .await?
        .context("a half handshake on the SSL port")?;
        ensure!(got.is_empty(), "half handshake: the broker sent {got:02x?}");
        ensure!(
            took >= HANDSHAKE_TIMEOUT - Duration::from_secs(1),
            "half handshake closed after {took:?}, before the {HANDSHAKE_TIMEOUT:?} timeout"
        );
        let after = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure!(
            after == before + 1.0,
            "half handshake: {HANDSHAKE_FAILURES} {before} → {after}"
        );

        // A raw ClientHello on the PLAINTEXT port: an oversized frame, closed without a byte.
        let f0 = tb.settled(FRAME_SIZE_REJECTED).await?;
        let plain = tb.plaintext.clone();
        let (got, _) = tokio::task::spawn_blocking(move || {
            send_raw(&plain, &partial_client_hello(), Duration::from_secs(5))
        })
        .await?
        .context("a ClientHello on the PLAINTEXT port")?;
        ensure!(
            got.is_empty(),
            "ClientHello on PLAINTEXT: the broker sent {got:02x?}"
        );
        let f1 = tb.settled(FRAME_SIZE_REJECTED).await?;
        ensure!(
            f1 == f0 + 1.0,
            "ClientHello on PLAINTEXT: {FRAME_SIZE_REJECTED} {f0} → {f1}"
        );

        // Still serving both listeners.
        tb.ensure_running("after the wrong clients")?;
        let lines = py(with(
            tb.ssl_flags("produce"),
            &["--topic", "alive", "--count", "1", "--start", "1"],
        ))
        .await?;
        let got = acks(&lines)?;
        ensure!(
            got == [(0, 1, key(1), tls_value(1).len())],
            "SSL produce at the end acknowledged {got:?}"
        );
        ensure_same(
            "alive over PLAINTEXT",
            plain_read(&tb.plaintext, "alive", 1).await?,
            vec![(0, 0, key(0), tls_value(0)), (0, 1, key(1), tls_value(1))],
        )?;
        let h_end = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure!(
            h_end >= h0 + 5.0,
            "{HANDSHAKE_FAILURES}: {h0} → {h_end}, expected at least 5 more"
        );
        Ok(())
    });
}
