//! TLS and authentication on the broker's side doors, the gRPC admin API (`--grpc-listen`) and
//! the Prometheus endpoint (`--metrics-listen`), against the real broker. Certificates are made
//! by the openssl CLI ([`TestCerts`]); the gRPC client is the admin API's own tonic client
//! (`strata_admin::proto::admin_client`, rustls with aws-lc-rs), the HTTP client is curl.
//!
//! - `grpc_over_tls_with_a_token`: with `--grpc-tls-cert/--grpc-tls-key --grpc-token-file`,
//!   ListTopics over TLS with the token answers exactly the one topic created with rdkafka
//!   (3 partitions). Without the token, with a wrong one, a prefix or an extension of it, with
//!   the token under another scheme or bare, and a WatchTopic stream without it:
//!   UNAUTHENTICATED. A plaintext client on the TLS port and raw garbage are refused (no
//!   answer) without hurting the broker: the good client is served again afterwards and the
//!   Kafka listener still creates topics. A client that connects and never starts its
//!   handshake holds nobody up meanwhile, and is closed after the 10 s handshake limit. The
//!   token never appears in the broker's log.
//! - `grpc_token_without_tls_and_kafka_tls_not_reused`: the broker has the Kafka `--tls-cert`
//!   / `--tls-key` but no `--grpc-tls-*`: the admin API stays plaintext (a TLS client fails, a
//!   plaintext one with the token is served) and the log warns that the token travels in clear
//!   text.
//! - `grpc_mutual_tls`: with `--grpc-client-ca ca.pem`, clients without a certificate or with
//!   one from another CA are refused; with the CA-signed client certificate, served exactly.
//! - `metrics_over_tls_with_a_token`: curl with the CA and `Authorization: Bearer T` gets 200
//!   and `strata_requests_total{api="CreateTopics"}` after one CreateTopics; no token, a wrong
//!   one, and `/health` without one get 401 with `WWW-Authenticate: Bearer`; plain HTTP on the
//!   TLS port gets no page.
//! - `metrics_plain_by_default`: `--metrics-listen` alone still serves the page over plain
//!   HTTP to the harness's HTTP/1.0 scraper, without a token.
//! - `door_misconfigurations_refuse_to_start`: a client CA without TLS, a certificate without
//!   its key (flag and `--set`), a key that does not match, an unreadable or empty token file,
//!   and a door setting while the door is off: each exits non-zero with an error naming the
//!   setting.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use strata_admin::proto::admin_client::AdminClient;
use strata_admin::proto::{ListTopicsRequest, WatchTopicRequest};
use strata_integration::broker::free_port;
use strata_integration::certs::TestCerts;
use strata_integration::prom::scrape;
use strata_integration::refusal::ensure_serve_refuses;
use strata_integration::tools::run_command;
use strata_integration::{create_topic, run, Broker, CommandOutput};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request};

const TOKEN: &str = "door-token.4f1c9a";
const TOPIC: &str = "doors-t";
const PARTITIONS: i32 = 3;
/// How long one client attempt may take before the test calls it hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// What a ListTopics attempt came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Served: (name, partition count) of each topic.
    Topics(Vec<(String, i32)>),
    /// Answered with a gRPC error.
    Status(Code),
    /// No gRPC answer: the connection or the TLS handshake failed.
    NoAnswer(String),
}

/// The token file, written beside the certificates (with a trailing newline, as `echo` writes).
fn token_file(certs: &TestCerts, name: &str, contents: &str) -> Result<String> {
    let path = certs.path(name);
    std::fs::write(&path, contents)?;
    Ok(path.display().to_string())
}

fn tls(certs: &TestCerts, identity: Option<(&str, &str)>) -> Result<ClientTlsConfig> {
    let mut t = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(certs.ca())?))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        t = t.identity(Identity::from_pem(
            std::fs::read(certs.arg(cert))?,
            std::fs::read(certs.arg(key))?,
        ));
    }
    Ok(t)
}

/// ListTopics on `url` with `authorization: <authorization>` when given.
async fn list_topics(
    url: &str,
    tls: Option<ClientTlsConfig>,
    authorization: Option<&str>,
) -> Result<Outcome> {
    let attempt = async {
        let mut endpoint = Endpoint::from_shared(url.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10));
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = match endpoint.connect().await {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::NoAnswer(format!("connect: {e:?}"))),
        };
        let mut request = Request::new(ListTopicsRequest {
            include_internal: false,
        });
        if let Some(a) = authorization {
            request.metadata_mut().insert("authorization", a.parse()?);
        }
        Ok(match AdminClient::new(channel).list_topics(request).await {
            Ok(r) => Outcome::Topics(
                r.into_inner()
                    .topics
                    .into_iter()
                    .map(|t| (t.name, t.partition_count))
                    .collect(),
            ),
            // A transport failure (refused handshake, connection closed) is a status with a
            // transport error as its source, or UNAVAILABLE: no server answered.
            Err(s) if std::error::Error::source(&s).is_some() || s.code() == Code::Unavailable => {
                Outcome::NoAnswer(format!("{s:?}"))
            }
            Err(s) => Outcome::Status(s.code()),
        })
    };
    tokio::time::timeout(CALL_TIMEOUT, attempt)
        .await
        .with_context(|| format!("ListTopics on {url} hung"))?
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn expected_topics() -> Outcome {
    Outcome::Topics(vec![(TOPIC.to_string(), PARTITIONS)])
}

fn ensure_no_answer(outcome: Outcome, what: &str) -> Result<()> {
    match outcome {
        Outcome::NoAnswer(e) => {
            eprintln!("{what}: refused as expected: {e}");
            Ok(())
        }
        other => bail!("{what}: expected no answer, got {other:?}"),
    }
}

/// Sends `bytes` on a fresh connection and reads until EOF; the bytes read back.
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.write_all(bytes)?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .context("the server did not close the connection")?;
    Ok(got)
}

#[test]
fn grpc_over_tls_with_a_token() {
    run(Duration::from_secs(180), async {
        let certs = TestCerts::generate()?;
        let token = token_file(&certs, "grpc.token", &format!("{TOKEN}\n"))?;
        let port = free_port()?;
        let grpc = format!("127.0.0.1:{port}");
        let mut broker = Broker::start(&[
            "--grpc-listen",
            &grpc,
            "--grpc-tls-cert",
            &certs.server_cert(),
            "--grpc-tls-key",
            &certs.server_key(),
            "--grpc-token-file",
            &token,
        ])?;
        create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
        let https = format!("https://localhost:{port}");
        let addr: SocketAddr = grpc.parse()?;
        // A client that connects and never starts its handshake holds up nobody.
        let silent = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        let silent_since = Instant::now();

        let served = list_topics(&https, Some(tls(&certs, None)?), Some(&bearer(TOKEN))).await?;
        assert_eq!(served, expected_topics());

        for (what, authorization) in [
            ("no token", None),
            ("a wrong token", Some(bearer("door-token.4f1c9b"))),
            (
                "a prefix of the token",
                Some(bearer(&TOKEN[..TOKEN.len() - 1])),
            ),
            (
                "the token with a suffix",
                Some(bearer(&format!("{TOKEN}x"))),
            ),
            ("the token under Basic", Some(format!("Basic {TOKEN}"))),
            ("the bare token", Some(TOKEN.to_string())),
        ] {
            let got =
                list_topics(&https, Some(tls(&certs, None)?), authorization.as_deref()).await?;
            assert_eq!(got, Outcome::Status(Code::Unauthenticated), "{what}");
        }
        // Streams sit behind the same check.
        let watch = watch_without_token(&https, tls(&certs, None)?).await?;
        assert_eq!(watch, Some(Code::Unauthenticated));

        let plain = list_topics(&format!("http://{grpc}"), None, Some(&bearer(TOKEN))).await?;
        ensure_no_answer(plain, "a plaintext client on the TLS port")?;
        let garbage =
            tokio::task::spawn_blocking(move || raw_exchange(addr, b"GET / HTTP/1.0\r\n\r\n"))
                .await??;
        // At most a TLS alert record (content type 21), never an HTTP or gRPC answer.
        ensure!(
            garbage.is_empty() || garbage[0] == 21,
            "raw HTTP on the TLS port got {garbage:?}"
        );

        ensure!(broker.is_running(), "the broker died");
        let again = list_topics(&https, Some(tls(&certs, None)?), Some(&bearer(TOKEN))).await?;
        assert_eq!(again, expected_topics());
        create_topic(&broker.bootstrap(), "doors-after", 1, &[]).await?;
        let after = list_topics(&https, Some(tls(&certs, None)?), Some(&bearer(TOKEN))).await?;
        assert_eq!(
            after,
            Outcome::Topics(vec![
                ("doors-after".to_string(), 1),
                (TOPIC.to_string(), PARTITIONS)
            ])
        );
        // ... and is closed once the handshake time limit has passed.
        let (read, silent_for) = tokio::task::spawn_blocking(move || -> Result<_> {
            use std::io::Read;
            let mut silent = silent;
            silent.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut buf = [0u8; 64];
            let n = silent
                .read(&mut buf)
                .context("the silent client was never closed")?;
            Ok((n, silent_since.elapsed()))
        })
        .await??;
        ensure!(read == 0, "the silent client was sent {read} bytes");
        ensure!(
            silent_for >= Duration::from_secs(9) && silent_for < Duration::from_secs(20),
            "the silent client was closed after {silent_for:?}, not the 10 s handshake limit"
        );
        ensure!(broker.is_running(), "the broker died");

        let log = std::fs::read_to_string(broker.log_path())?;
        ensure!(
            !log.contains(TOKEN),
            "the token appears in the broker's log"
        );
        ensure!(
            !log.contains("clear text"),
            "the broker warned about clear text although TLS is on"
        );
        Ok(())
    });
}

/// A WatchTopic stream on `url` without a token: the status code it ends with (None: served).
async fn watch_without_token(url: &str, tls: ClientTlsConfig) -> Result<Option<Code>> {
    let channel = Endpoint::from_shared(url.to_string())?
        .tls_config(tls)?
        .connect()
        .await?;
    let request = Request::new(WatchTopicRequest {
        name: TOPIC.to_string(),
        interval_ms: 0,
    });
    let outcome =
        tokio::time::timeout(CALL_TIMEOUT, AdminClient::new(channel).watch_topic(request))
            .await
            .context("WatchTopic hung")?;
    Ok(outcome.err().map(|s| s.code()))
}

#[test]
fn grpc_token_without_tls_and_kafka_tls_not_reused() {
    run(Duration::from_secs(120), async {
        let certs = TestCerts::generate()?;
        let token = token_file(&certs, "grpc.token", &format!("  {TOKEN}  \n"))?;
        let port = free_port()?;
        let grpc = format!("127.0.0.1:{port}");
        let broker = Broker::start(&[
            "--tls-cert",
            &certs.server_cert(),
            "--tls-key",
            &certs.server_key(),
            "--grpc-listen",
            &grpc,
            "--grpc-token-file",
            &token,
        ])?;
        create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
        let over_tls = list_topics(
            &format!("https://localhost:{port}"),
            Some(tls(&certs, None)?),
            Some(&bearer(TOKEN)),
        )
        .await?;
        ensure_no_answer(over_tls, "a TLS client on the plaintext admin API")?;
        let plain = format!("http://{grpc}");
        assert_eq!(
            list_topics(&plain, None, Some(&bearer(TOKEN))).await?,
            expected_topics()
        );
        assert_eq!(
            list_topics(&plain, None, None).await?,
            Outcome::Status(Code::Unauthenticated)
        );
        let log = std::fs::read_to_string(broker.log_path())?;
        ensure!(
            log.contains("strata.grpc.token.file (--grpc-token-file) is set without TLS"),
            "no clear-text warning in the log:\n{log}"
        );
        ensure!(
            !log.contains(TOKEN),
            "the token appears in the broker's log"
        );
        Ok(())
    });
}

#[test]
fn grpc_mutual_tls() {
    run(Duration::from_secs(120), async {
        let certs = TestCerts::generate()?;
        let port = free_port()?;
        let grpc = format!("127.0.0.1:{port}");
        let mut broker = Broker::start(&[
            "--grpc-listen",
            &grpc,
            "--grpc-tls-cert",
            &certs.server_cert(),
            "--grpc-tls-key",
            &certs.server_key(),
            "--grpc-client-ca",
            &certs.ca(),
        ])?;
        create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
        let https = format!("https://localhost:{port}");

        let anonymous = list_topics(&https, Some(tls(&certs, None)?), None).await?;
        ensure_no_answer(anonymous, "a client without a certificate")?;
        let stranger = list_topics(
            &https,
            Some(tls(&certs, Some(("stranger.pem", "stranger.key")))?),
            None,
        )
        .await?;
        ensure_no_answer(stranger, "a client with a certificate from another CA")?;
        ensure!(broker.is_running(), "the broker died");
        let trusted = list_topics(
            &https,
            Some(tls(&certs, Some(("client.pem", "client.key")))?),
            None,
        )
        .await?;
        assert_eq!(trusted, expected_topics());
        Ok(())
    });
}

/// curl's answer: status, headers (lower-cased names), body.
struct HttpAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

async fn curl(args: Vec<String>) -> Result<CommandOutput> {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "15", "-i"]).args(&args);
        run_command(cmd, &[], Duration::from_secs(30))
    })
    .await?
}

async fn curl_ok(args: Vec<String>) -> Result<HttpAnswer> {
    let out = curl(args.clone()).await?;
    out.ensure_success(&format!("curl {}", args.join(" ")))?;
    let text = out.stdout_str();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("no header end in {text:?}"))?;
    let mut lines = head.lines();
    let status_line = lines.next().context("no status line")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("status line {status_line:?}"))?
        .parse()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    })
}

fn ensure_refused_401(answer: &HttpAnswer, what: &str) -> Result<()> {
    ensure!(answer.status == 401, "{what}: status {}", answer.status);
    let challenge = answer
        .headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.as_str())
        .with_context(|| format!("{what}: no WWW-Authenticate header"))?;
    ensure!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate: {challenge}"
    );
    ensure!(
        !answer.body.contains("strata_"),
        "{what}: metrics leaked: {}",
        answer.body
    );
    Ok(())
}

#[test]
fn metrics_over_tls_with_a_token() {
    run(Duration::from_secs(120), async {
        let certs = TestCerts::generate()?;
        let token = token_file(&certs, "metrics.token", &format!("{TOKEN}\n"))?;
        let port = free_port()?;
        let mut broker = Broker::start(&[
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-tls-cert",
            &certs.server_cert(),
            "--metrics-tls-key",
            &certs.server_key(),
            "--metrics-token-file",
            &token,
        ])?;
        create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
        let base = |extra: &[&str]| -> Vec<String> {
            let mut a = vec![
                "--cacert".to_string(),
                certs.ca(),
                "--resolve".to_string(),
                format!("localhost:{port}:127.0.0.1"),
            ];
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        let url = format!("https://localhost:{port}/metrics");
        let auth = format!("Authorization: Bearer {TOKEN}");

        let page = curl_ok(base(&["-H", &auth, &url])).await?;
        ensure!(page.status == 200, "with the token: status {}", page.status);
        ensure!(
            page.body
                .lines()
                .any(|l| l.starts_with("strata_requests_total{api=\"CreateTopics\"} ")),
            "no CreateTopics request counted in:\n{}",
            page.body
        );

        let none = curl_ok(base(&[&url])).await?;
        ensure_refused_401(&none, "no token")?;
        let wrong = curl_ok(base(&[
            "-H",
            "Authorization: Bearer door-token.4f1c9b",
            &url,
        ]))
        .await?;
        ensure_refused_401(&wrong, "a wrong token")?;
        let basic = curl_ok(base(&[
            "-H",
            &format!("Authorization: Basic {TOKEN}"),
            &url,
        ]))
        .await?;
        ensure_refused_401(&basic, "the token under Basic")?;
        let health = curl_ok(base(&[&format!("https://localhost:{port}/health")])).await?;
        ensure_refused_401(&health, "/health without a token")?;

        let plain = curl(vec![
            "-H".to_string(),
            auth.clone(),
            format!("http://127.0.0.1:{port}/metrics"),
        ])
        .await?;
        ensure!(
            !plain.status.success() || !plain.stdout_str().contains("strata_"),
            "plain HTTP on the TLS port got the page: {}",
            plain.stdout_str()
        );

        ensure!(broker.is_running(), "the broker died");
        let again = curl_ok(base(&["-H", &auth, &url])).await?;
        ensure!(again.status == 200, "afterwards: status {}", again.status);
        ensure!(again.body.contains("strata_requests_total{"));
        let log = std::fs::read_to_string(broker.log_path())?;
        ensure!(
            !log.contains(TOKEN),
            "the token appears in the broker's log"
        );
        Ok(())
    });
}

#[test]
fn metrics_plain_by_default() {
    run(Duration::from_secs(60), async {
        let port = free_port()?;
        let broker = Broker::start(&["--metrics-listen", &format!("127.0.0.1:{port}")])?;
        create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]).await?;
        let page = tokio::task::spawn_blocking(move || scrape(port)).await??;
        let status = page.lines().next().unwrap_or_default();
        ensure!(status.contains(" 200 "), "status line {status:?}");
        ensure!(
            page.contains("strata_requests_total{api=\"CreateTopics\"} "),
            "no CreateTopics request counted in:\n{page}"
        );
        Ok(())
    });
}

/// `strata serve --listen <free port> args…` refuses, naming every one of `needles`.
async fn ensure_refuses(mut args: Vec<String>, needles: &[&str]) -> Result<()> {
    args.splice(
        0..0,
        [
            "--listen".to_string(),
            format!("127.0.0.1:{}", free_port()?),
        ],
    );
    let error = ensure_serve_refuses(args, needles, None).await?;
    eprintln!("refused as expected: {error}");
    Ok(())
}

#[test]
fn door_misconfigurations_refuse_to_start() {
    run(Duration::from_secs(180), async {
        let certs = TestCerts::generate()?;
        let grpc = format!("127.0.0.1:{}", free_port()?);
        let metrics = format!("127.0.0.1:{}", free_port()?);
        let empty = token_file(&certs, "empty.token", " \n")?;
        let good = token_file(&certs, "good.token", TOKEN)?;
        let (cert, key, ca) = (certs.server_cert(), certs.server_key(), certs.ca());
        let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| x.to_string()).collect() };
        let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
            (
                s(&["--grpc-listen", &grpc, "--grpc-client-ca", &ca]),
                vec!["strata.grpc.tls.client.ca", "--grpc-client-ca", "needs TLS"],
            ),
            (
                s(&["--grpc-listen", &grpc, "--grpc-tls-cert", &cert]),
                vec!["strata.grpc.tls.cert", "strata.grpc.tls.key"],
            ),
            (
                s(&[
                    "--grpc-listen",
                    &grpc,
                    "--set",
                    &format!("strata.grpc.tls.key={key}"),
                ]),
                vec!["strata.grpc.tls.key", "strata.grpc.tls.cert"],
            ),
            (
                s(&[
                    "--grpc-listen",
                    &grpc,
                    "--grpc-tls-cert",
                    &cert,
                    "--grpc-tls-key",
                    &certs.client_key(),
                ]),
                vec![
                    "strata.grpc.tls.cert",
                    "strata.grpc.tls.key",
                    "do not go together",
                ],
            ),
            (
                s(&[
                    "--grpc-listen",
                    &grpc,
                    "--grpc-token-file",
                    "/nonexistent/token",
                ]),
                vec!["strata.grpc.token.file", "/nonexistent/token"],
            ),
            (
                s(&["--grpc-listen", &grpc, "--grpc-token-file", &empty]),
                vec!["strata.grpc.token.file", "empty"],
            ),
            (
                s(&["--grpc-token-file", &good]),
                vec!["strata.grpc.token.file", "strata.grpc.listen"],
            ),
            (
                s(&["--metrics-listen", &metrics, "--metrics-tls-cert", &cert]),
                vec!["strata.metrics.tls.cert", "strata.metrics.tls.key"],
            ),
            (
                s(&["--metrics-listen", &metrics, "--metrics-token-file", &empty]),
                vec!["strata.metrics.token.file", "empty"],
            ),
            (
                s(&["--set", &format!("strata.metrics.tls.cert={cert}")]),
                vec!["strata.metrics.tls.cert", "strata.metrics.listen"],
            ),
        ];
        for (args, needles) in cases {
            ensure_refuses(args, &needles).await?;
        }
        Ok(())
    });
}

/// CreateTopic on plaintext gRPC `url`: the created partition count, or the status code.
async fn grpc_create_topic(url: &str, name: &str, partitions: i32) -> Result<Result<i32, Code>> {
    let channel = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await?;
    let request = Request::new(strata_admin::proto::CreateTopicRequest {
        name: name.to_string(),
        partitions,
        replication_factor: 0,
        configs: Default::default(),
        validate_only: false,
    });
    Ok(
        match AdminClient::new(channel).create_topic(request).await {
            Ok(r) => Ok(r.into_inner().partition_count),
            Err(s) => Err(s.code()),
        },
    )
}

/// With the authorizer on, the admin API's Kafka calls run as the principal its
/// `strata.grpc.kafka.command.config` logs in as (here the super user `admin` over
/// SASL_PLAINTEXT): it creates and lists topics. Without that setting they run as
/// `User:ANONYMOUS` on the PLAINTEXT listener and are refused (creation) or see nothing
/// (listing).
#[test]
fn grpc_admin_calls_run_as_its_kafka_principal_under_the_authorizer() {
    run(Duration::from_secs(120), async {
        let certs = TestCerts::generate()?;
        let config = certs.path("grpc-kafka.properties");
        std::fs::write(
            &config,
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n\
             sasl.username=admin\nsasl.password=admin-secret\n",
        )?;
        let start = |with_config: bool| -> Result<(Broker, String)> {
            let (plain, sasl, grpc) = (free_port()?, free_port()?, free_port()?);
            let grpc_addr = format!("127.0.0.1:{grpc}");
            let setting = format!("strata.grpc.kafka.command.config={}", config.display());
            let mut args = vec![
                "--add-scram",
                "SCRAM-SHA-256=[name=admin,password=admin-secret]",
                "--set",
                "authorizer.class.name=acl",
                "--set",
                "super.users=User:admin",
                "--grpc-listen",
                &grpc_addr,
            ];
            if with_config {
                args.extend(["--set", setting.as_str()]);
            }
            let broker = Broker::start_listeners(
                &format!("127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}"),
                &args,
            )?;
            Ok((broker, format!("http://{grpc_addr}")))
        };

        let (broker, url) = start(true)?;
        ensure!(
            grpc_create_topic(&url, "by-admin", 2).await? == Ok(2),
            "CreateTopic as admin"
        );
        let listed = list_topics(&url, None, None).await?;
        ensure!(
            listed == Outcome::Topics(vec![("by-admin".to_string(), 2)]),
            "ListTopics as admin: {listed:?}"
        );
        drop(broker);

        let (broker, url) = start(false)?;
        let created = grpc_create_topic(&url, "by-anonymous", 2).await?;
        ensure!(
            created.is_err(),
            "CreateTopic as User:ANONYMOUS: {created:?}"
        );
        let listed = list_topics(&url, None, None).await?;
        ensure!(
            listed == Outcome::Topics(Vec::new()),
            "ListTopics as User:ANONYMOUS: {listed:?}"
        );
        drop(broker);
        Ok(())
    });
}
