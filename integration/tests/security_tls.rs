//! TLS listeners (issue 13, slice 1) against the real broker with real clients: one
//! `strata serve` per test with a PLAINTEXT and an SSL listener
//! (`--listen 127.0.0.1:P1,SSL://127.0.0.1:P2 --tls-cert server.pem --tls-key server.key`),
//! certificates made by the openssl CLI ([`TestCerts`]). TLS clients are confluent-kafka
//! (`integration/py/tls_client.py`, librdkafka bundled with OpenSSL) and Debian's kcat; the
//! rdkafka crate of the Rust tests is built without OpenSSL, so it speaks PLAINTEXT only.
//!
//! - `tls_listener_serves_kafka_clients` (SSL advertised as `localhost:P2`): over SSL, 60 keyed
//!   records (values up to ~150 KB, so fetches span many TLS records) are acknowledged at
//!   offsets `i / 3` of partition `i % 3`; consumer A of a group reads 35 and commits exactly
//!   what it read, consumer B reads exactly the other 25 and commits the ends. Metadata,
//!   DescribeCluster and the group's coordinator over SSL name exactly `localhost:P2`;
//!   Metadata over PLAINTEXT names exactly `127.0.0.1:P1` (same node id). The PLAINTEXT
//!   listener reads the 60 records byte for byte; 30 more produced on PLAINTEXT and 5 by kcat
//!   over SSL land at the expected offsets; consumer C of the group resumes over SSL and reads
//!   exactly those 35; kcat over SSL and librdkafka over PLAINTEXT both read all 95 exactly.
//!   No TLS handshake failed.
//! - `tls_refuses_wrong_clients_cleanly`: a PLAINTEXT librdkafka client on the SSL port gets
//!   no metadata, and an SSL client produces right after; raw garbage and a plaintext Kafka
//!   request on the SSL port get at most one TLS alert and EOF; a half ClientHello is closed
//!   after the 10 s handshake timeout; an SSL client on the PLAINTEXT port gets no metadata and
//!   a raw ClientHello there is closed at once without an answer. Each raw client moves
//!   `strata_tls_handshake_failures_total` (or `strata_requests_rejected_total{frame_size}`) by
//!   exactly one; the broker keeps running and serves both listeners.
//! - `tls_client_certificates_required` (`ssl.client.auth=required`,
//!   `ssl.truststore.certificates=ca.pem`): a client with a CA-signed certificate creates,
//!   produces 20, consumes them in a group and commits; kcat with the certificate reads them;
//!   clients without a certificate, or with one from another CA, get no metadata and count as
//!   handshake failures; afterwards the good client produces at the next offset and the
//!   PLAINTEXT listener reads all 21.
//! - `tls_misconfigurations_refuse_to_start`: an SSL or SASL_SSL listener without certificate
//!   and key, an unreadable certificate, a key that does not match, `ssl.client.auth=required`
//!   without a truststore, a bad `ssl.client.auth`, and SSL listed twice: each exits non-zero
//!   with an error naming the setting, without listening. With a certificate and key the same
//!   SASL_SSL listener starts (SASL landed in slice 2; before it, SASL listeners were refused).
//! - `sasl_listener_without_a_usable_mechanism_refuses_to_start`:
//!   `sasl.enabled.mechanisms=GSSAPI` leaves a SASL_SSL listener with no mechanism Strata
//!   offers, so nobody could ever log in; the broker must refuse to start naming the setting.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::broker::free_port;
use strata_integration::certs::TestCerts;
use strata_integration::client::OP_TIMEOUT;
use strata_integration::prom::settled_metric;
use strata_integration::refusal::ensure_serve_refuses;
use strata_integration::txn::run_script_async;
use strata_integration::{
    consumer, create_topic, producer, read_topic, run, send_all, Broker, CommandOutput, Outgoing,
};

/// Time limit of one client script.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// The broker's TLS handshake timeout (crates/broker/src/connection.rs).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_FAILURES: &str = "strata_tls_handshake_failures_total";
const FRAME_SIZE_REJECTED: &str = "strata_requests_rejected_total{reason=\"frame_size\"}";

// ---------------------------------------------------------------------------------------------
// The records: the same generator as `tls_value` in py/tls_client.py.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Value of record `i`: printable, no spaces; `i % 10 == 7` is 150–160 KB.
fn tls_value(i: usize) -> String {
    let size = if i % 10 == 7 {
        150_000 + 13 * i
    } else {
        (i * 1237) % 3000
    };
    let mut v = format!("v{i}:").into_bytes();
    v.extend((0..size).map(|j| ALPHABET[(i * 31 + j * 7) % 64]));
    String::from_utf8(v).expect("ASCII")
}

fn key(i: usize) -> String {
    format!("k{i:03}")
}

/// A record as (partition, offset, key, value).
type Rec = (i32, i64, String, String);

/// Record `i` of a topic with `partitions` partitions written in order from 0: partition
/// `i % partitions`, offset `i / partitions`.
fn expected(i: usize, partitions: usize) -> Rec {
    (
        (i % partitions) as i32,
        (i / partitions) as i64,
        key(i),
        tls_value(i),
    )
}

fn sorted(mut v: Vec<Rec>) -> Vec<Rec> {
    v.sort();
    v
}

/// Short description of records for failure messages (values are long).
fn brief(recs: &[Rec]) -> String {
    recs.iter()
        .map(|r| format!("{}/{} {} ({} B)", r.0, r.1, r.2, r.3.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails unless `got` and `want` are the same records (sorted), naming the first difference.
fn ensure_same(what: &str, got: Vec<Rec>, want: Vec<Rec>) -> Result<()> {
    let (got, want) = (sorted(got), sorted(want));
    if got == want {
        return Ok(());
    }
    let first = got
        .iter()
        .zip(&want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    bail!(
        "{what}: {} records, expected {}; first difference at #{first}: got [{}], want [{}]",
        got.len(),
        want.len(),
        brief(&got[first.min(got.len())..(first + 1).min(got.len())]),
        brief(&want[first.min(want.len())..(first + 1).min(want.len())]),
    )
}

// ---------------------------------------------------------------------------------------------
// The broker with a PLAINTEXT and an SSL listener.

struct TlsBroker {
    broker: Broker,
    /// `127.0.0.1:P1`.
    plaintext: String,
    /// `127.0.0.1:P2`.
    ssl: String,
    plain_port: u16,
    ssl_port: u16,
    /// The Prometheus port.
    metrics: u16,
    certs: TestCerts,
}

impl TlsBroker {
    /// Starts `strata serve --listen 127.0.0.1:P1,SSL://127.0.0.1:P2` with the test server
    /// certificate, a metrics listener, no initial rebalance delay and `extra` (built from the
    /// certificates). With `advertise_localhost` the SSL listener is advertised as
    /// `localhost:P2` (the certificate names both `localhost` and `127.0.0.1`).
    fn start(
        certs: TestCerts,
        advertise_localhost: bool,
        extra: impl Fn(&TestCerts) -> Vec<String>,
    ) -> Result<TlsBroker> {
        let mut last = None;
        for _ in 0..3 {
            let (p1, p2, pm) = (free_port()?, free_port()?, free_port()?);
            let mut args: Vec<String> = [
                "--tls-cert",
                &certs.server_cert(),
                "--tls-key",
                &certs.server_key(),
                "--metrics-listen",
                &format!("127.0.0.1:{pm}"),
                "--set",
                "group.initial.rebalance.delay.ms=0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if advertise_localhost {
                args.extend([
                    "--advertised-listener".into(),
                    format!("SSL://localhost:{p2}"),
                ]);
            }
            args.extend(extra(&certs));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match Broker::start_listeners(&format!("127.0.0.1:{p1},SSL://127.0.0.1:{p2}"), &args) {
                Ok(broker) => {
                    return Ok(TlsBroker {
                        broker,
                        plaintext: format!("127.0.0.1:{p1}"),
                        ssl: format!("127.0.0.1:{p2}"),
                        plain_port: p1,
                        ssl_port: p2,
                        metrics: pm,
                        certs,
                    })
                }
                // A port taken between free_port() and the bind: new ports.
                Err(e) if format!("{e:#}").contains("in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.context("no free ports")?)
    }

    /// `tls_client.py <command>` connection flags for the SSL listener (CA only).
    fn ssl_flags(&self, command: &str) -> Vec<String> {
        strings(&[command, "--bootstrap", &self.ssl, "--ca", &self.certs.ca()])
    }

    /// [`TlsBroker::ssl_flags`] plus the CA-signed client certificate.
    fn mtls_flags(&self, command: &str) -> Vec<String> {
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
    fn kcat_ssl(&self) -> Vec<String> {
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
    async fn settled(&self, series: &str) -> Result<f64> {
        settled_metric(self.metrics, series, 30).await
    }

    fn ensure_running(&mut self, what: &str) -> Result<()> {
        ensure!(
            self.broker.is_running(),
            "{what}: the broker exited; log tail:\n{}",
            self.broker.log_tail()
        );
        Ok(())
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// Runs `py/tls_client.py args…`; its stdout lines (the last is DONE).
async fn py(args: Vec<String>) -> Result<Vec<String>> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(run_script_async("tls_client.py", &refs, CLIENT_TIMEOUT)
        .await?
        .lines)
}

/// `args` with `more` appended.
fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(strings(more));
    args
}

/// The space-separated fields after `prefix ` of every line that starts with it (at most `n`
/// fields; the last keeps the rest of the line).
fn fields(lines: &[String], prefix: &str, n: usize) -> Vec<Vec<String>> {
    let prefix = format!("{prefix} ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.splitn(n, ' ').map(str::to_string).collect())
        .collect()
}

/// `REC <label> p o key value` lines.
fn recs(lines: &[String], label: &str) -> Result<Vec<Rec>> {
    fields(lines, &format!("REC {label}"), 4)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 4, "REC {label} line with {} fields", f.len());
            Ok((f[0].parse()?, f[1].parse()?, f[2].clone(), f[3].clone()))
        })
        .collect()
}

/// `ACK p o key length` lines as (partition, offset, key, length).
fn acks(lines: &[String]) -> Result<Vec<(i32, i64, String, usize)>> {
    fields(lines, "ACK", 4)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 4, "ACK line {f:?}");
            Ok((f[0].parse()?, f[1].parse()?, f[2].clone(), f[3].parse()?))
        })
        .collect()
}

/// Fails unless `lines` acknowledge records `from..from + count` at their expected places.
fn ensure_acks(lines: &[String], from: usize, count: usize, partitions: usize) -> Result<()> {
    let got = acks(lines)?;
    let want: Vec<_> = (from..from + count)
        .map(|i| {
            let (p, o, k, v) = expected(i, partitions);
            (p, o, k, v.len())
        })
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    ensure!(
        got_sorted == want_sorted,
        "acknowledgements {got:?}, expected {want:?}"
    );
    Ok(())
}

/// `COMMITTED <label> p o` lines as p → o.
fn committed(lines: &[String], label: &str) -> Result<BTreeMap<i32, i64>> {
    fields(lines, &format!("COMMITTED {label}"), 2)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 2, "COMMITTED line {f:?}");
            Ok((f[0].parse()?, f[1].parse()?))
        })
        .collect()
}

/// `<prefix> id host port` lines.
fn nodes(lines: &[String], prefix: &str) -> Result<Vec<(i32, String, u16)>> {
    fields(lines, prefix, 3)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 3, "{prefix} line {f:?}");
            Ok((f[0].parse()?, f[1].clone(), f[2].parse()?))
        })
        .collect()
}

/// What `tls_client.py probe` reported: metadata or not, and librdkafka's errors.
struct Probe {
    ok: bool,
    errors: Vec<String>,
}

async fn probe(args: Vec<String>, wait_s: &str) -> Result<Probe> {
    let lines = py(with(args, &["--wait", wait_s])).await?;
    let ok = lines.iter().any(|l| l == "META OK");
    ensure!(
        ok != lines.iter().any(|l| l == "META FAIL"),
        "probe printed {lines:?}"
    );
    Ok(Probe {
        ok,
        errors: lines
            .iter()
            .filter_map(|l| l.strip_prefix("ERR "))
            .map(str::to_string)
            .collect(),
    })
}

/// A client that must be refused: no metadata, and librdkafka saw the transport fail.
async fn ensure_refused(args: Vec<String>, what: &str) -> Result<()> {
    let p = probe(args, "4").await?;
    ensure!(!p.ok, "{what}: got metadata (errors {:?})", p.errors);
    ensure!(
        p.errors
            .iter()
            .any(|e| e.starts_with("_TRANSPORT") || e.starts_with("_SSL")),
        "{what}: no transport error: {:?}",
        p.errors
    );
    Ok(())
}

/// Runs kcat (Debian's, with OpenSSL; [`strata_integration::kcat`] drops cargo's
/// `LD_LIBRARY_PATH`) with `args` and `stdin` on a blocking thread.
async fn kcat(args: Vec<String>, stdin: &'static [u8]) -> Result<CommandOutput> {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        strata_integration::kcat(&refs, stdin)
    })
    .await?
}

/// Every record kcat reads from `topic` (`-C -e`), as (partition, offset, key, value).
async fn kcat_read(base: Vec<String>, topic: &str) -> Result<Vec<Rec>> {
    let out = kcat(
        with(
            base,
            &["-C", "-t", topic, "-e", "-q", "-f", "%p %o %k %s\\n"],
        ),
        b"",
    )
    .await?;
    out.ensure_success("kcat -C")?;
    out.stdout_str()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            ensure!(f.len() == 4, "kcat line {:?}", &l[..l.len().min(80)]);
            Ok((
                f[0].parse()?,
                f[1].parse()?,
                f[2].to_string(),
                f[3].to_string(),
            ))
        })
        .collect()
}

/// Every record of `topic` read by librdkafka (rdkafka crate) over PLAINTEXT.
async fn plain_read(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<Rec>> {
    read_topic(bootstrap, topic, partitions)
        .await?
        .into_iter()
        .map(|r| {
            ensure!(
                r.headers.is_empty(),
                "headers on {}/{}",
                r.partition,
                r.offset
            );
            Ok((
                r.partition,
                r.offset,
                String::from_utf8(r.key.context("null key")?)?,
                String::from_utf8(r.value.context("null value")?)?,
            ))
        })
        .collect()
}

/// The brokers a PLAINTEXT Metadata request (rdkafka crate) lists: (id, host, port).
async fn plain_brokers(bootstrap: &str) -> Result<Vec<(i32, String, u16)>> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, &[])?;
        let md = c.fetch_metadata(None, OP_TIMEOUT).context("Metadata")?;
        md.brokers()
            .iter()
            .map(|b| Ok((b.id(), b.host().to_string(), u16::try_from(b.port())?)))
            .collect()
    })
    .await?
}

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

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn tls_listener_serves_kafka_clients() {
    run(Duration::from_secs(240), async {
        let tb = TlsBroker::start(TestCerts::generate()?, true, |_| Vec::new())?;
        // The harness's readiness probe connected to the SSL port and left without a
        // handshake: that counts as one failure.
        let h0 = tb.settled(HANDSHAKE_FAILURES).await?;
        let (topic, group) = ("tls-keyed", "g-tls");
        const P: usize = 3;

        // Create and produce 60 records over SSL.
        py(with(
            tb.ssl_flags("create"),
            &["--topic", topic, "--partitions", "3"],
        ))
        .await?;
        let lines = py(with(
            tb.ssl_flags("produce"),
            &["--topic", topic, "--count", "60", "--partitions", "3"],
        ))
        .await?;
        ensure_acks(&lines, 0, 60, P).context("produce over SSL")?;

        // Consumer A reads 35 and commits exactly them; consumer B reads the other 25.
        let a_lines = py(with(
            tb.ssl_flags("consume"),
            &[
                "--topic",
                topic,
                "--group",
                group,
                "--partitions",
                "3",
                "--want",
                "35",
                "--label",
                "A",
            ],
        ))
        .await?;
        let a = recs(&a_lines, "A")?;
        ensure!(a.len() == 35, "A read {} records: {}", a.len(), brief(&a));
        let mut a_ends: BTreeMap<i32, i64> = BTreeMap::new();
        for r in &a {
            let i = usize::try_from(r.1)? * P + usize::try_from(r.0)?;
            ensure!(
                *r == expected(i, P),
                "A read {} (not record {i})",
                brief(std::slice::from_ref(r))
            );
            let next = a_ends.entry(r.0).or_insert(0);
            ensure!(
                r.1 == *next,
                "A read {} out of order",
                brief(std::slice::from_ref(r))
            );
            *next += 1;
        }
        let want_a: BTreeMap<i32, i64> = (0..P as i32)
            .map(|p| (p, a_ends.get(&p).copied().unwrap_or(-1001)))
            .collect();
        ensure!(
            committed(&a_lines, "A")? == want_a,
            "A committed {:?}, read up to {a_ends:?}",
            committed(&a_lines, "A")?
        );
        let b_lines = py(with(
            tb.ssl_flags("consume"),
            &[
                "--topic",
                topic,
                "--group",
                group,
                "--partitions",
                "3",
                "--want",
                "25",
                "--linger",
                "2",
                "--label",
                "B",
            ],
        ))
        .await?;
        let b = recs(&b_lines, "B")?;
        let rest: Vec<Rec> = (0..60)
            .map(|i| expected(i, P))
            .filter(|r| r.1 >= a_ends.get(&r.0).copied().unwrap_or(0))
            .collect();
        ensure_same("consumer B (the records A did not commit)", b, rest)?;
        let ends20: BTreeMap<i32, i64> = (0..P as i32).map(|p| (p, 20)).collect();
        ensure!(
            committed(&b_lines, "B")? == ends20,
            "B committed {:?}",
            committed(&b_lines, "B")?
        );

        // Metadata, DescribeCluster and FindCoordinator answer with the listener's addresses.
        let meta = py(with(tb.ssl_flags("meta"), &["--group", group])).await?;
        let ssl_node = nodes(&meta, "BROKER")?;
        ensure!(
            ssl_node.len() == 1 && ssl_node[0].1 == "localhost" && ssl_node[0].2 == tb.ssl_port,
            "Metadata over SSL lists {ssl_node:?}, expected localhost:{}",
            tb.ssl_port
        );
        ensure!(
            nodes(&meta, "NODE")? == ssl_node,
            "DescribeCluster over SSL: {:?}",
            nodes(&meta, "NODE")?
        );
        ensure!(
            nodes(&meta, "COORDINATOR")? == ssl_node,
            "the coordinator over SSL: {:?}",
            nodes(&meta, "COORDINATOR")?
        );
        let plain_node = plain_brokers(&tb.plaintext).await?;
        ensure!(
            plain_node == [(ssl_node[0].0, "127.0.0.1".to_string(), tb.plain_port)],
            "Metadata over PLAINTEXT lists {plain_node:?}, expected node {} at 127.0.0.1:{}",
            ssl_node[0].0,
            tb.plain_port
        );

        // The PLAINTEXT listener reads what SSL clients wrote, byte for byte.
        let first60: Vec<Rec> = (0..60).map(|i| expected(i, P)).collect();
        ensure_same(
            "PLAINTEXT read of the SSL-produced records",
            plain_read(&tb.plaintext, topic, 3).await?,
            first60,
        )?;

        // 30 more on PLAINTEXT (rdkafka crate), 5 by kcat over SSL to partition 1.
        let more: Vec<Outgoing> = (60..90)
            .map(|i| Outgoing {
                partition: Some((i % P) as i32),
                key: Some(key(i).into_bytes()),
                value: tls_value(i).into_bytes(),
                ..Outgoing::default()
            })
            .collect();
        let delivered = send_all(&producer(&tb.plaintext, &[])?, topic, &more).await?;
        for (i, d) in (60..90).zip(&delivered) {
            let (p, o, _, _) = expected(i, P);
            ensure!(
                (d.partition, d.offset) == (p, o),
                "record {i} on PLAINTEXT acknowledged at {d:?}, expected {p}/{o}"
            );
        }
        let out = kcat(
            with(
                tb.kcat_ssl(),
                &["-P", "-t", topic, "-p", "1", "-K", ":", "-X", "acks=all"],
            ),
            b"x0:y0\nx1:y1\nx2:y2\nx3:y3\nx4:y4\n",
        )
        .await?;
        out.ensure_success("kcat -P over SSL")?;
        let kcat_recs: Vec<Rec> = (0..5)
            .map(|j| (1, 30 + j as i64, format!("x{j}"), format!("y{j}")))
            .collect();

        // Consumer C of the group resumes over SSL from B's commits: exactly the 35 new ones.
        let c_lines = py(with(
            tb.ssl_flags("consume"),
            &[
                "--topic",
                topic,
                "--group",
                group,
                "--partitions",
                "3",
                "--want",
                "35",
                "--linger",
                "2",
                "--label",
                "C",
            ],
        ))
        .await?;
        let new: Vec<Rec> = (60..90)
            .map(|i| expected(i, P))
            .chain(kcat_recs.iter().cloned())
            .collect();
        ensure_same("consumer C resuming over SSL", recs(&c_lines, "C")?, new)?;
        let ends: BTreeMap<i32, i64> = [(0, 30), (1, 35), (2, 30)].into();
        ensure!(
            committed(&c_lines, "C")? == ends,
            "C committed {:?}",
            committed(&c_lines, "C")?
        );

        // Everything, over SSL with kcat and over PLAINTEXT with librdkafka.
        let all: Vec<Rec> = (0..90)
            .map(|i| expected(i, P))
            .chain(kcat_recs.iter().cloned())
            .collect();
        ensure_same(
            "kcat over SSL",
            kcat_read(tb.kcat_ssl(), topic).await?,
            all.clone(),
        )?;
        ensure_same(
            "librdkafka over PLAINTEXT",
            plain_read(&tb.plaintext, topic, 3).await?,
            all,
        )?;

        let failures = tb.settled(HANDSHAKE_FAILURES).await?;
        ensure!(
            failures == h0,
            "{HANDSHAKE_FAILURES}: {h0} → {failures} with only good clients"
        );
        Ok(())
    });
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
            recs(&c_lines, "M")?,
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
