//! SASL (issue 13, slice 2) against the real broker with real clients: one `strata serve` per
//! test with three listeners, `PLAINTEXT`, `SASL_SSL` (TLS with a test CA made by the openssl
//! CLI) and `SASL_PLAINTEXT`, and the user `admin` / `admin-secret` created with `--add-scram`
//! for SCRAM-SHA-256 and SCRAM-SHA-512. Client scripts are `integration/py/sasl_*.py`.
//!
//! - confluent-kafka over SASL_SSL, SCRAM-SHA-256 and PLAIN: 60 keyed records acknowledged at
//!   contiguous offsets; consumer A of a group reads 35 and commits exactly what it read;
//!   consumer B of the group reads exactly the other 25 (no duplicate, no gap) and commits the
//!   end of every partition; the PLAINTEXT listener reads back the same 60 records.
//! - kafka-python (its own SCRAM and TLS code) over SASL_SSL with SCRAM-SHA-512: produce and
//!   consume 30 keyed records exactly; its group commits the end of both partitions.
//! - kcat over SASL_SSL (SCRAM-SHA-256): produces 5 records and consumes all 45 (40 written on
//!   the PLAINTEXT listener) exactly, as `partition offset key value`.
//! - Failed logins: a wrong password with each mechanism and an unknown user get librdkafka's
//!   `SASL authentication error: Authentication failed: Invalid username or password`; clients
//!   without SASL on the SASL ports get no metadata and no authentication error; on raw TCP, a
//!   wrong PLAIN password gets SASL_AUTHENTICATION_FAILED (58) and then EOF, and a Metadata
//!   request before authentication gets EOF (ApiVersions before it is answered); the failure
//!   and unauthenticated-request counters move by exactly one for the raw clients; afterwards
//!   good clients on both SASL listeners still produce (offsets 0 and 1).
//! - Users through the Kafka API: a SCRAM-SHA-512 user created with AlterUserScramCredentials
//!   (salt and salted password computed by confluent-kafka) logs in with SCRAM-SHA-512 and
//!   PLAIN but not SCRAM-SHA-256 nor a wrong password; DescribeUserScramCredentials lists
//!   exactly admin (both mechanisms, 4096 iterations) and the user (SCRAM-SHA-512, 8192);
//!   deleting the credential makes the next logins fail and leaves only admin; deleting it
//!   again and describing the user give RESOURCE_NOT_FOUND.
//! - Restart with the same `--add-scram` flags: the log shows the two credentials added at the
//!   first start only (idempotent); admin (three mechanisms) and a user created through the
//!   API before the restart (SCRAM-SHA-256 and PLAIN) still log in; the description is the same.
//! - `connections.max.reauth.ms=2000`: a producer (retries=0, acks=all) sending a record every
//!   200 ms for 8 s gets every record acknowledged at offsets 0..n; librdkafka re-authenticated
//!   its connection at least three times; the broker closed no expired session; the partition
//!   holds exactly the n records.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, RequestHeader,
    ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use strata_integration::broker::free_port;
use strata_integration::certs::TestCerts;
use strata_integration::prom::{metric, settled_metric};
use strata_integration::tools::run_command;
use strata_integration::txn::run_script_async;
use strata_integration::{
    create_topic, producer, read_topic, run, send_all, Broker, CommandOutput, Outgoing,
};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-secret";
const ADD_ADMIN: [&str; 4] = [
    "--add-scram",
    "SCRAM-SHA-256=[name=admin,password=admin-secret]",
    "--add-scram",
    "SCRAM-SHA-512=[name=admin,password=admin-secret]",
];
/// librdkafka's text for a SASL_AUTHENTICATION_FAILED answer with the broker's message.
const AUTH_FAILED: &str =
    "SASL authentication error: Authentication failed: Invalid username or password";
/// Time limit of one client script.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The broker with three listeners, and its certificates.

/// A broker listening on PLAINTEXT, SASL_SSL and SASL_PLAINTEXT.
struct SaslBroker {
    broker: Broker,
    /// `127.0.0.1:P` of each listener.
    plaintext: String,
    sasl_ssl: String,
    sasl_plaintext: String,
    /// The Prometheus port.
    metrics: u16,
    certs: TestCerts,
}

impl SaslBroker {
    /// Starts `strata serve` with the three listeners, the test certificate, `admin` for both
    /// SCRAM mechanisms, a metrics listener and `extra` arguments.
    fn start(extra: &[&str]) -> Result<SaslBroker> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match SaslBroker::try_start(extra)? {
                Ok(sb) => return Ok(sb),
                // A port picked by free_port() was taken in between: pick new ones.
                Err((e, log)) if attempt < 5 && log.contains("in use") => drop(e),
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// `Ok(Err((error, its text)))` when the broker did not come up.
    fn try_start(
        extra: &[&str],
    ) -> Result<std::result::Result<SaslBroker, (anyhow::Error, String)>> {
        let certs = TestCerts::generate()?;
        let (p1, p2, p3, pm) = (free_port()?, free_port()?, free_port()?, free_port()?);
        let listen =
            format!("127.0.0.1:{p1},SASL_SSL://127.0.0.1:{p2},SASL_PLAINTEXT://127.0.0.1:{p3}");
        let (cert, key) = (certs.server_cert(), certs.server_key());
        let metrics_listen = format!("127.0.0.1:{pm}");
        let mut args: Vec<&str> = vec![
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--metrics-listen",
            &metrics_listen,
            "--set",
            "group.initial.rebalance.delay.ms=0",
        ];
        args.extend(ADD_ADMIN);
        args.extend(extra);
        match Broker::start_listeners(&listen, &args) {
            Ok(broker) => Ok(Ok(SaslBroker {
                broker,
                plaintext: format!("127.0.0.1:{p1}"),
                sasl_ssl: format!("127.0.0.1:{p2}"),
                sasl_plaintext: format!("127.0.0.1:{p3}"),
                metrics: pm,
                certs,
            })),
            Err(e) => {
                let text = format!("{e:#}");
                Ok(Err((e, text)))
            }
        }
    }

    /// SIGTERM, then the same command line again (same ports and data directory).
    fn restart(&mut self) -> Result<()> {
        let status = self.broker.sigterm_and_wait()?;
        ensure!(
            status.success(),
            "the broker exited with {status} on SIGTERM"
        );
        self.broker.restart()
    }

    fn ca(&self) -> String {
        self.certs.ca()
    }

    fn metric(&self, series: &str) -> Result<f64> {
        metric(self.metrics, series)
    }

    /// `series` once two reads 300 ms apart agree (requests of clients that just exited may
    /// still be in flight).
    async fn settled_metric(&self, series: &str) -> Result<f64> {
        settled_metric(self.metrics, series, 20).await
    }

    /// Connection flags of the `sasl_*.py` scripts.
    fn conn(
        &self,
        bootstrap: &str,
        protocol: &str,
        mechanism: &str,
        user: &str,
        password: &str,
    ) -> Vec<String> {
        [
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
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Client scripts and their output.

/// Runs `integration/py/<name>` with `args`; its stdout lines (ending with DONE).
async fn script(name: &str, args: &[String]) -> Result<Vec<String>> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(run_script_async(name, &args, SCRIPT_TIMEOUT).await?.lines)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The whitespace-separated fields after `prefix ` of every line that starts with it.
fn fields(lines: &[String], prefix: &str) -> Vec<Vec<String>> {
    let prefix = format!("{prefix} ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// A record as a script printed it: (partition, offset, key, value).
type Rec = (i32, i64, String, String);

fn recs(lines: &[String], prefix: &str) -> Result<Vec<Rec>> {
    fields(lines, prefix)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 4, "{prefix} line with fields {f:?}");
            Ok((f[0].parse()?, f[1].parse()?, f[2].clone(), f[3].clone()))
        })
        .collect()
}

/// `COMMITTED <label> <p> <o>` (or `COMMITTED <p> <o>` with an empty label) as p → o.
fn committed(lines: &[String], label: &str) -> Result<BTreeMap<i32, i64>> {
    let prefix = if label.is_empty() {
        "COMMITTED".to_string()
    } else {
        format!("COMMITTED {label}")
    };
    fields(lines, &prefix)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 2, "{prefix} line with fields {f:?}");
            Ok((f[0].parse()?, f[1].parse()?))
        })
        .collect()
}

/// Checks the acknowledgements of `count` records `k<i:03>` → `<value_prefix><i><suffix>`:
/// every key once with its value, each partition's offsets 0..n. Returns partition → n.
fn check_acks(
    acks: &[Rec],
    count: usize,
    value: impl Fn(usize) -> String,
) -> Result<BTreeMap<i32, i64>> {
    ensure!(
        acks.len() == count,
        "{} acknowledgements, expected {count}",
        acks.len()
    );
    let by_key: BTreeMap<&str, &Rec> = acks.iter().map(|r| (r.2.as_str(), r)).collect();
    ensure!(by_key.len() == count, "a key acknowledged twice: {acks:?}");
    for i in 0..count {
        let key = format!("k{i:03}");
        let r = by_key
            .get(key.as_str())
            .with_context(|| format!("{key} not acknowledged"))?;
        ensure!(r.3 == value(i), "{key} acknowledged with value {}", r.3);
    }
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in acks {
        offsets.entry(r.0).or_default().push(r.1);
    }
    let mut ends = BTreeMap::new();
    for (p, mut os) in offsets {
        os.sort_unstable();
        let n = os.len() as i64;
        ensure!(
            os == (0..n).collect::<Vec<_>>(),
            "partition {p} offsets {os:?}"
        );
        ends.insert(p, n);
    }
    Ok(ends)
}

/// Sorted copy.
fn sorted(mut v: Vec<Rec>) -> Vec<Rec> {
    v.sort();
    v
}

/// What `sasl_login.py` reported.
#[derive(Debug)]
struct Login {
    ok: bool,
    topics: Vec<String>,
    ack: Option<(i32, i64)>,
    /// (librdkafka error code name, text).
    errors: Vec<(String, String)>,
}

impl Login {
    fn auth_errors(&self) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|(code, _)| code == "_AUTHENTICATION")
            .map(|(_, text)| text.as_str())
            .collect()
    }

    /// A refused login: no metadata, and every authentication error is the broker's message.
    fn ensure_refused(&self, what: &str) -> Result<()> {
        ensure!(
            !self.ok && self.topics.is_empty(),
            "{what}: logged in: {self:?}"
        );
        let auth = self.auth_errors();
        ensure!(
            !auth.is_empty(),
            "{what}: no authentication error: {self:?}"
        );
        for text in auth {
            ensure!(text.contains(AUTH_FAILED), "{what}: error {text:?}");
        }
        Ok(())
    }

    /// No SASL on a SASL port: no metadata, no authentication error, transport errors only.
    fn ensure_cut_off(&self, what: &str) -> Result<()> {
        ensure!(
            !self.ok && self.topics.is_empty(),
            "{what}: got metadata: {self:?}"
        );
        ensure!(
            self.auth_errors().is_empty(),
            "{what}: authentication error: {self:?}"
        );
        ensure!(
            self.errors
                .iter()
                .any(|(code, _)| code == "_TRANSPORT" || code == "_ALL_BROKERS_DOWN"),
            "{what}: no transport error: {self:?}"
        );
        Ok(())
    }
}

/// Runs `sasl_login.py`; with `produce = Some((topic, value))` a client that logs in produces
/// one record.
async fn login(args: Vec<String>, wait_s: &str, produce: Option<(&str, &str)>) -> Result<Login> {
    let mut args = args;
    args.extend(strings(&["--wait", wait_s]));
    if let Some((topic, value)) = produce {
        args.extend(strings(&["--topic", topic, "--value", value]));
    }
    let lines = script("sasl_login.py", &args).await?;
    let ok = lines.iter().any(|l| l == "LOGIN OK");
    let failed = lines.iter().any(|l| l == "LOGIN FAIL");
    ensure!(ok != failed, "sasl_login.py: {lines:?}");
    let ack = match fields(&lines, "ACK").as_slice() {
        [] => None,
        [f] if f.len() == 2 => Some((f[0].parse()?, f[1].parse()?)),
        other => bail!("ACK lines {other:?}"),
    };
    Ok(Login {
        ok,
        topics: fields(&lines, "TOPIC").into_iter().flatten().collect(),
        ack,
        errors: lines
            .iter()
            .filter_map(|l| l.strip_prefix("ERR "))
            .map(|rest| {
                let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
                (code.to_string(), text.to_string())
            })
            .collect(),
    })
}

/// A login that must succeed; returns the produced record's (partition, offset).
async fn login_ok(args: Vec<String>, topic: &str, value: &str, what: &str) -> Result<(i32, i64)> {
    let l = login(args, "15", Some((topic, value))).await?;
    ensure!(l.ok, "{what}: login failed: {l:?}");
    ensure!(
        l.topics.iter().any(|t| t == topic),
        "{what}: {topic} not listed: {l:?}"
    );
    l.ack.with_context(|| format!("{what}: no ACK: {l:?}"))
}

/// Every record of `topic` read on the PLAINTEXT listener as (partition, offset, key, value),
/// sorted.
async fn read_plain(sb: &SaslBroker, topic: &str, partitions: i32) -> Result<Vec<Rec>> {
    let text = |b: Option<Vec<u8>>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
    Ok(sorted(
        read_topic(&sb.plaintext, topic, partitions)
            .await?
            .into_iter()
            .map(|r| (r.partition, r.offset, text(r.key), text(r.value)))
            .collect(),
    ))
}

/// `sasl_users.py` with `args` (after the admin connection flags); its output lines but DONE.
async fn users(sb: &SaslBroker, args: &[&str]) -> Result<Vec<String>> {
    let mut all = sb.conn(
        &sb.sasl_ssl,
        "SASL_SSL",
        "SCRAM-SHA-256",
        ADMIN,
        ADMIN_PASSWORD,
    );
    all.extend(strings(args));
    let mut lines = script("sasl_users.py", &all).await?;
    lines.pop();
    Ok(lines)
}

/// Runs kcat with `args` and `stdin`. Under cargo, `LD_LIBRARY_PATH` leads to the librdkafka
/// that rdkafka-sys built for the Rust tests, which has no OpenSSL ("OpenSSL not available at
/// build time"); without it kcat loads its own (Debian's, with OpenSSL and SASL).
async fn kcat_tls(args: Vec<String>, stdin: &'static [u8]) -> Result<CommandOutput> {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("kcat");
        cmd.args(&args).env_remove("LD_LIBRARY_PATH");
        run_command(cmd, stdin, Duration::from_secs(60)).context("running kcat")
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// Raw TCP.

/// One plaintext Kafka connection driven by hand, to see exactly what the broker answers and
/// when it closes.
struct Wire {
    stream: TcpStream,
    correlation: i32,
}

impl Wire {
    fn open(addr: &str) -> Result<Wire> {
        let stream = TcpStream::connect_timeout(&addr.parse()?, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Wire {
            stream,
            correlation: 0,
        })
    }

    fn send<Req: Encodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<()> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("sasl-raw")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, Req::header_version(version))?;
        req.encode(&mut buf, version)?;
        let mut frame = i32::try_from(buf.len())?.to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        self.stream.write_all(&frame)?;
        Ok(())
    }

    fn call<Req, Resp>(&mut self, key: ApiKey, version: i16, req: &Req) -> Result<Resp>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.send(key, version, req)?;
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .context("reading a response size")?;
        let size = i32::from_be_bytes(size);
        ensure!((0..=1 << 20).contains(&size), "response size {size}");
        let mut body = vec![0u8; usize::try_from(size)?];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, Resp::header_version(version))?;
        ensure!(
            rh.correlation_id == self.correlation,
            "correlation id {}",
            rh.correlation_id
        );
        Resp::decode(&mut body, version)
    }

    /// The next read returns end-of-file (within the 5 s read timeout), with no byte before it.
    fn expect_eof(&mut self, what: &str) -> Result<()> {
        let mut buf = [0u8; 64];
        match self.stream.read(&mut buf) {
            Ok(0) => Ok(()),
            Ok(n) => bail!("{what}: {n} bytes instead of end-of-file: {:?}", &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("{what}: the connection is still open after 5 s")
            }
            Err(e) => bail!("{what}: {e} instead of end-of-file"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn confluent_kafka_scram_and_plain_over_sasl_ssl_produce_consume_and_resume() {
    run(Duration::from_secs(120), async {
        let sb = SaslBroker::start(&[])?;
        for (mechanism, topic, group, tag) in [
            ("SCRAM-SHA-256", "scram256", "g-scram256", "s256"),
            ("PLAIN", "plain", "g-plain", "plain"),
        ] {
            let what = format!("{mechanism} over SASL_SSL");
            let mut args = sb.conn(&sb.sasl_ssl, "SASL_SSL", mechanism, ADMIN, ADMIN_PASSWORD);
            args.extend(strings(&[
                "--topic",
                topic,
                "--group",
                group,
                "--partitions",
                "3",
                "--count",
                "60",
                "--first",
                "35",
                "--tag",
                tag,
            ]));
            let lines = script("sasl_produce_consume.py", &args).await?;
            let acks = recs(&lines, "ACK")?;
            let ends =
                check_acks(&acks, 60, |i| format!("v{i}-{tag}")).with_context(|| what.clone())?;
            ensure!(ends.keys().copied().eq(0..3), "{what}: partitions {ends:?}");

            // Consumer A: 35 records, a prefix of each partition; its commit is exactly that.
            let a = recs(&lines, "REC A")?;
            ensure!(a.len() == 35, "{what}: A read {} records", a.len());
            let mut a_ends: BTreeMap<i32, i64> = BTreeMap::new();
            for r in &a {
                ensure!(acks.contains(r), "{what}: A read {r:?}, never acknowledged");
                let next = a_ends.entry(r.0).or_insert(0);
                ensure!(
                    r.1 == *next,
                    "{what}: A read {r:?} after offset {}",
                    *next - 1
                );
                *next += 1;
            }
            let want_a: BTreeMap<i32, i64> = (0..3)
                .map(|p| (p, a_ends.get(&p).copied().unwrap_or(-1001)))
                .collect();
            ensure!(
                committed(&lines, "A")? == want_a,
                "{what}: A committed {:?}, read {a_ends:?}",
                committed(&lines, "A")?
            );

            // Consumer B of the same group: exactly the rest, then the end of every partition.
            let b = recs(&lines, "REC B")?;
            ensure!(b.len() == 25, "{what}: B read {} records: {b:?}", b.len());
            for r in &b {
                ensure!(
                    r.1 >= a_ends.get(&r.0).copied().unwrap_or(0),
                    "{what}: B read {r:?}, already committed by A"
                );
            }
            let mut both = a.clone();
            both.extend(b.iter().cloned());
            ensure!(
                sorted(both) == sorted(acks.clone()),
                "{what}: A and B together are not the 60 records"
            );
            ensure!(
                committed(&lines, "B")? == ends,
                "{what}: B committed {:?}",
                committed(&lines, "B")?
            );

            // The log holds exactly the acknowledged records.
            ensure!(
                read_plain(&sb, topic, 3).await? == sorted(acks),
                "{what}: PLAINTEXT read differs"
            );
        }
        Ok(())
    });
}

/// kafka-python's SSL context takes the CA file and checks the host name, so SASL_SSL works
/// as it is; the test uses SASL_SSL.
#[test]
fn kafka_python_scram_sha_512_over_sasl_ssl() {
    run(Duration::from_secs(90), async {
        let sb = SaslBroker::start(&[])?;
        let mut args = sb.conn(
            &sb.sasl_ssl,
            "SASL_SSL",
            "SCRAM-SHA-512",
            ADMIN,
            ADMIN_PASSWORD,
        );
        args.extend(strings(&[
            "--topic",
            "kp",
            "--group",
            "g-kp",
            "--partitions",
            "2",
            "--count",
            "30",
        ]));
        let lines = script("sasl_kafka_python.py", &args).await?;
        let acks = recs(&lines, "ACK")?;
        let ends = check_acks(&acks, 30, |i| format!("py{i}"))?;
        let read = recs(&lines, "REC")?;
        ensure!(
            read.len() == 30,
            "kafka-python read {} records: {read:?}",
            read.len()
        );
        ensure!(
            sorted(read) == sorted(acks.clone()),
            "kafka-python read other records"
        );
        ensure!(
            committed(&lines, "")? == ends,
            "committed {:?}, ends {ends:?}",
            committed(&lines, "")?
        );
        ensure!(
            read_plain(&sb, "kp", 2).await? == sorted(acks),
            "PLAINTEXT read differs"
        );
        Ok(())
    });
}

#[test]
fn kcat_over_sasl_ssl_scram_sha_256() {
    run(Duration::from_secs(90), async {
        let sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "kc", 2, &[]).await?;
        let records: Vec<Outgoing> = (0..40)
            .map(|i| Outgoing {
                partition: Some(i % 2),
                key: Some(format!("k{i}").into_bytes()),
                value: format!("v{i}").into_bytes(),
                ..Outgoing::default()
            })
            .collect();
        send_all(&producer(&sb.plaintext, &[])?, "kc", &records).await?;

        let ca = sb.ca();
        let sasl = [
            "-b",
            sb.sasl_ssl.as_str(),
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanisms=SCRAM-SHA-256",
            "-X",
            "sasl.username=admin",
            "-X",
            "sasl.password=admin-secret",
            "-X",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("ssl.ca.location={ca}")])
        .collect::<Vec<_>>();
        let with =
            |more: &[&str]| -> Vec<String> { sasl.iter().cloned().chain(strings(more)).collect() };

        let out = kcat_tls(
            with(&["-P", "-t", "kc", "-p", "1", "-K", ":"]),
            b"x0:y0\nx1:y1\nx2:y2\nx3:y3\nx4:y4\n",
        )
        .await?;
        out.ensure_success("kcat -P over SASL_SSL")?;
        let out = kcat_tls(
            with(&["-C", "-t", "kc", "-e", "-q", "-f", "%p %o %k %s\\n"]),
            b"",
        )
        .await?;
        out.ensure_success("kcat -C over SASL_SSL")?;
        let mut got: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
        got.sort();
        let mut want: Vec<String> = (0..40)
            .map(|i| format!("{} {} k{i} v{i}", i % 2, i / 2))
            .chain((0..5).map(|i| format!("1 {} x{i} y{i}", 20 + i)))
            .collect();
        want.sort();
        ensure!(
            got == want,
            "kcat read:\n{}\nstderr:\n{}",
            got.join("\n"),
            out.stderr
        );
        Ok(())
    });
}

#[test]
fn failed_logins_are_refused_and_the_broker_keeps_serving() {
    run(Duration::from_secs(120), async {
        let sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "alive", 1, &[]).await?;

        for (bootstrap, protocol, mechanism, user, password) in [
            (&sb.sasl_ssl, "SASL_SSL", "PLAIN", ADMIN, "wrong"),
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-256", ADMIN, "wrong"),
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512", ADMIN, "wrong"),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "SCRAM-SHA-256",
                "nobody",
                ADMIN_PASSWORD,
            ),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                "nobody",
                ADMIN_PASSWORD,
            ),
        ] {
            let what = format!("{user}/{password} with {mechanism} over {protocol}");
            login(
                sb.conn(bootstrap, protocol, mechanism, user, password),
                "10",
                None,
            )
            .await?
            .ensure_refused(&what)?;
        }
        for (bootstrap, protocol) in [(&sb.sasl_ssl, "SSL"), (&sb.sasl_plaintext, "PLAINTEXT")] {
            let what = format!("a {protocol} client on the SASL_{protocol} port");
            login(
                sb.conn(bootstrap, protocol, "PLAIN", ADMIN, ADMIN_PASSWORD),
                "3",
                None,
            )
            .await?
            .ensure_cut_off(&what)?;
        }

        // Raw: a wrong PLAIN password is answered SASL_AUTHENTICATION_FAILED, then EOF.
        let failures = "strata_sasl_authentication_failures_total";
        let unauthenticated = "strata_sasl_unauthenticated_requests_total";
        let (f0, u0) = (
            sb.settled_metric(failures).await?,
            sb.settled_metric(unauthenticated).await?,
        );
        let addr = sb.sasl_plaintext.clone();
        let (mechanisms, auth) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut w = Wire::open(&addr)?;
            let hs: SaslHandshakeResponse = w.call(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            )?;
            ensure!(
                hs.error_code == 0,
                "SaslHandshake PLAIN: error {}",
                hs.error_code
            );
            let auth: SaslAuthenticateResponse = w.call(
                ApiKey::SaslAuthenticate,
                2,
                &SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::from_static(b"\0admin\0not-the-password")),
            )?;
            w.expect_eof("after a failed PLAIN login")?;
            let mechanisms: BTreeSet<String> =
                hs.mechanisms.iter().map(|m| m.to_string()).collect();
            Ok((mechanisms, auth))
        })
        .await??;
        ensure!(
            mechanisms
                == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
                    .map(String::from)
                    .into(),
            "SaslHandshake mechanisms {mechanisms:?}"
        );
        ensure!(
            auth.error_code == 58,
            "SaslAuthenticate: error {} ({:?})",
            auth.error_code,
            auth.error_message
        );
        ensure!(
            auth.error_message.as_deref()
                == Some("Authentication failed: Invalid username or password"),
            "SaslAuthenticate message {:?}",
            auth.error_message
        );
        ensure!(
            auth.auth_bytes.is_empty(),
            "auth bytes after a failure: {:?}",
            auth.auth_bytes
        );
        ensure!(
            sb.metric(failures)? == f0 + 1.0,
            "{failures}: {f0} → {}",
            sb.metric(failures)?
        );

        // Raw: ApiVersions is answered before authentication; Metadata closes the connection.
        let addr = sb.sasl_plaintext.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut w = Wire::open(&addr)?;
            let versions: ApiVersionsResponse =
                w.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
            ensure!(
                versions.error_code == 0,
                "ApiVersions: error {}",
                versions.error_code
            );
            for key in [
                ApiKey::SaslHandshake,
                ApiKey::SaslAuthenticate,
                ApiKey::Metadata,
            ] {
                ensure!(
                    versions.api_keys.iter().any(|k| k.api_key == key as i16),
                    "ApiVersions lacks {key:?}"
                );
            }
            w.send(ApiKey::Metadata, 1, &MetadataRequest::default())?;
            w.expect_eof("after Metadata before authentication")
        })
        .await??;
        ensure!(
            sb.metric(unauthenticated)? == u0 + 1.0,
            "{unauthenticated}: {u0} → {}",
            sb.metric(unauthenticated)?
        );

        // Good clients on both SASL listeners are served as before.
        let first = login_ok(
            sb.conn(
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-512",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            "alive",
            "after-failures-1",
            "admin with SCRAM-SHA-512 over SASL_SSL",
        )
        .await?;
        let second = login_ok(
            sb.conn(
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            "alive",
            "after-failures-2",
            "admin with PLAIN over SASL_PLAINTEXT",
        )
        .await?;
        ensure!(
            (first, second) == ((0, 0), (0, 1)),
            "acknowledged at {first:?}, {second:?}"
        );
        let values: Vec<String> = read_plain(&sb, "alive", 1)
            .await?
            .into_iter()
            .map(|r| r.3)
            .collect();
        ensure!(
            values == ["after-failures-1", "after-failures-2"],
            "alive holds {values:?}"
        );
        Ok(())
    });
}

#[test]
fn users_created_through_the_kafka_api_log_in_until_deleted() {
    run(Duration::from_secs(120), async {
        let sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "users", 1, &[]).await?;
        let admin_creds = strings(&[
            "CRED admin SCRAM-SHA-256 4096",
            "CRED admin SCRAM-SHA-512 4096",
        ]);

        let out = users(
            &sb,
            &[
                "--upsert",
                "alice:SCRAM-SHA-512:8192:alice-pw",
                "--describe",
            ],
        )
        .await?;
        let mut want = strings(&["ALTER alice OK"]);
        want.extend(admin_creds.iter().cloned());
        want.push("CRED alice SCRAM-SHA-512 8192".into());
        ensure!(out == want, "upsert and describe: {out:?}");
        let out = users(&sb, &["--describe-user", "alice"]).await?;
        ensure!(
            out == ["CRED alice SCRAM-SHA-512 8192"],
            "describe alice: {out:?}"
        );

        let scram = login_ok(
            sb.conn(
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-512",
                "alice",
                "alice-pw",
            ),
            "users",
            "alice-scram",
            "alice with SCRAM-SHA-512",
        )
        .await?;
        let plain = login_ok(
            sb.conn(
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                "alice",
                "alice-pw",
            ),
            "users",
            "alice-plain",
            "alice with PLAIN",
        )
        .await?;
        ensure!(
            (scram, plain) == ((0, 0), (0, 1)),
            "acknowledged at {scram:?}, {plain:?}"
        );
        login(
            sb.conn(
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-256",
                "alice",
                "alice-pw",
            ),
            "10",
            None,
        )
        .await?
        .ensure_refused("alice with SCRAM-SHA-256 (no such credential)")?;
        login(
            sb.conn(&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512", "alice", "wrong"),
            "10",
            None,
        )
        .await?
        .ensure_refused("alice with a wrong password")?;

        let out = users(&sb, &["--delete", "alice:SCRAM-SHA-512", "--describe"]).await?;
        let mut want = strings(&["ALTER alice OK"]);
        want.extend(admin_creds.iter().cloned());
        ensure!(out == want, "delete and describe: {out:?}");
        for (bootstrap, protocol, mechanism) in [
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512"),
            (&sb.sasl_plaintext, "SASL_PLAINTEXT", "PLAIN"),
        ] {
            login(
                sb.conn(bootstrap, protocol, mechanism, "alice", "alice-pw"),
                "10",
                None,
            )
            .await?
            .ensure_refused(&format!("deleted alice with {mechanism}"))?;
        }
        let out = users(
            &sb,
            &[
                "--delete",
                "alice:SCRAM-SHA-512",
                "--describe-user",
                "alice",
            ],
        )
        .await?;
        ensure!(
            out == [
                "ALTER alice ERR RESOURCE_NOT_FOUND",
                "DESCRIBE alice ERR RESOURCE_NOT_FOUND"
            ],
            "deleting again: {out:?}"
        );
        let values: Vec<String> = read_plain(&sb, "users", 1)
            .await?
            .into_iter()
            .map(|r| r.3)
            .collect();
        ensure!(
            values == ["alice-scram", "alice-plain"],
            "users holds {values:?}"
        );
        Ok(())
    });
}

#[test]
fn credentials_survive_a_restart_and_add_scram_is_idempotent() {
    run(Duration::from_secs(120), async {
        let mut sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "restart", 1, &[]).await?;
        let out = users(&sb, &["--upsert", "bob:SCRAM-SHA-256:8192:bob-pw"]).await?;
        ensure!(out == ["ALTER bob OK"], "upsert bob: {out:?}");
        let before = login_ok(
            sb.conn(&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-256", "bob", "bob-pw"),
            "restart",
            "bob-before",
            "bob before the restart",
        )
        .await?;
        ensure!(before == (0, 0), "bob's record at {before:?}");

        sb.restart()?;

        let added = "SCRAM credential added (--add-scram)";
        let log = std::fs::read_to_string(sb.broker.log_path())?;
        let starts: Vec<&str> = log.split("=== harness: start #").skip(1).collect();
        ensure!(starts.len() == 2, "{} starts in the log", starts.len());
        ensure!(
            starts[0].matches(added).count() == 2 && starts[1].matches(added).count() == 0,
            "--add-scram wrote {} credential(s) at the first start and {} at the restart",
            starts[0].matches(added).count(),
            starts[1].matches(added).count()
        );

        let mut acks = Vec::new();
        for (bootstrap, protocol, mechanism, user, password) in [
            (
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-256",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            (
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-512",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-256", "bob", "bob-pw"),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                "bob",
                "bob-pw",
            ),
        ] {
            let what = format!("{user} with {mechanism} after the restart");
            let value = format!("{user}-{mechanism}");
            acks.push(
                login_ok(
                    sb.conn(bootstrap, protocol, mechanism, user, password),
                    "restart",
                    &value,
                    &what,
                )
                .await?,
            );
        }
        ensure!(
            acks == (1..6).map(|o| (0, o)).collect::<Vec<_>>(),
            "acknowledged at {acks:?}"
        );
        let out = users(&sb, &["--describe"]).await?;
        ensure!(
            out == [
                "CRED admin SCRAM-SHA-256 4096",
                "CRED admin SCRAM-SHA-512 4096",
                "CRED bob SCRAM-SHA-256 8192",
            ],
            "describe after the restart: {out:?}"
        );
        let values: Vec<String> = read_plain(&sb, "restart", 1)
            .await?
            .into_iter()
            .map(|r| r.3)
            .collect();
        ensure!(
            values
                == [
                    "bob-before",
                    "admin-SCRAM-SHA-256",
                    "admin-SCRAM-SHA-512",
                    "admin-PLAIN",
                    "bob-SCRAM-SHA-256",
                    "bob-PLAIN"
                ],
            "restart holds {values:?}"
        );
        Ok(())
    });
}

#[test]
fn a_producer_outlives_its_session_by_reauthenticating() {
    run(Duration::from_secs(90), async {
        let sb = SaslBroker::start(&["--set", "connections.max.reauth.ms=2000"])?;
        let mut args = sb.conn(
            &sb.sasl_ssl,
            "SASL_SSL",
            "SCRAM-SHA-512",
            ADMIN,
            ADMIN_PASSWORD,
        );
        args.extend(strings(&[
            "--topic",
            "reauth",
            "--seconds",
            "8",
            "--interval",
            "0.2",
        ]));
        let lines = script("sasl_reauth.py", &args).await?;

        let sent: usize = fields(&lines, "SENT")
            .first()
            .and_then(|f| f.first())
            .context("no SENT line")?
            .parse()?;
        ensure!(sent >= 10, "only {sent} records sent in 8 s");
        let want: Vec<(i32, i64, String)> =
            (0..sent).map(|i| (0, i as i64, format!("r{i}"))).collect();
        let triples = |prefix: &str| -> Result<Vec<(i32, i64, String)>> {
            fields(&lines, prefix)
                .into_iter()
                .map(|f| {
                    ensure!(f.len() == 3, "{prefix} {f:?}");
                    Ok((f[0].parse()?, f[1].parse()?, f[2].clone()))
                })
                .collect()
        };
        ensure!(
            triples("ACK")? == want,
            "acknowledged: {:?}",
            triples("ACK")?
        );
        ensure!(triples("REC")? == want, "read back: {:?}", triples("REC")?);
        let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("ERR ")).collect();
        ensure!(errors.is_empty(), "producer errors: {errors:?}");
        let reauth: u32 = fields(&lines, "REAUTH")
            .first()
            .and_then(|f| f.first())
            .context("no REAUTH line")?
            .parse()?;
        ensure!(
            reauth >= 3,
            "librdkafka re-authenticated {reauth} times in 8 s with a 2 s session"
        );
        let expired = sb.metric("strata_sasl_sessions_expired_total")?;
        ensure!(expired == 0.0, "{expired} sessions closed as expired");
        let values: Vec<(i32, i64, String)> = read_plain(&sb, "reauth", 1)
            .await?
            .into_iter()
            .map(|r| (r.0, r.1, r.3))
            .collect();
        ensure!(values == want, "the partition holds {values:?}");
        Ok(())
    });
}
