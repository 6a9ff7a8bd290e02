//! `--command-config FILE` of the `strata` CLI against a real broker with four listeners:
//! PLAINTEXT and SASL_SSL and SASL_PLAINTEXT on 127.0.0.1, and SSL on 127.0.0.2 (an address
//! the test certificate does not name, for hostname verification), with the user `admin` /
//! `admin-secret` created with `--add-scram` for SCRAM-SHA-256 and SCRAM-SHA-512.
//!
//! - Every protocol and mechanism works: SASL_SSL with SCRAM-SHA-256 (`sasl.username` /
//!   `sasl.password`), SCRAM-SHA-512 (`sasl.jaas.config` with ScramLoginModule) and PLAIN
//!   (PlainLoginModule); SASL_PLAINTEXT with SCRAM-SHA-256; SSL alone (with
//!   `ssl.endpoint.identification.algorithm=` since 127.0.0.2 is not in the certificate). Each
//!   creates its own topic with its own partition count; `topic describe` over the same
//!   connection settings shows exactly that many partitions, each with log start and high
//!   watermark 0 (so ListOffsets reached the partition leader over a second secured
//!   connection); `topic list` shows it. Then the PLAINTEXT listener lists exactly the five
//!   topics with exactly their partition counts. `cluster status` over SASL_SSL reports the
//!   broker at its SASL_SSL address, and `group list` over SASL_PLAINTEXT succeeds.
//! - With `connections.max.reauth.ms=2000`, a `ClusterClient` with the SCRAM-SHA-512 file's
//!   settings answers Metadata 2.67 s after its first request, on the same connection (it
//!   logged in again; the broker closes an expired session at its next request).
//! - Refusals are clean (non-zero exit, no panic, nothing created): a wrong password with
//!   SCRAM-SHA-256 over SASL_SSL and with PLAIN over SASL_PLAINTEXT says the authentication
//!   failed and never prints the password; an SSL config trusting another CA fails the
//!   handshake naming the certificate; the right CA but the default hostname verification
//!   against 127.0.0.2 fails naming the name; SASL against the SSL-only listener says the
//!   listener does not take SASL; a bad `security.protocol` names the key; a missing file is
//!   named. With `ssl.client.auth=requested`, a client certificate of the test CA
//!   (`ssl.certificate.location` / `ssl.key.location`) is let in and one of another CA is
//!   refused with the broker's UnknownCA alert, naming the settings.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_admin::cluster_client::{ClientSecurity, ClusterClient};
use strata_integration::broker::free_port;
use strata_integration::certs::TestCerts;
use strata_integration::{run, strata_cli, Broker, CommandOutput};
use tempfile::TempDir;

const ADMIN_PASSWORD: &str = "admin-secret";
const LIMIT: Duration = Duration::from_secs(60);
/// `connections.max.reauth.ms` of the broker of the first test.
const SESSION: Duration = Duration::from_millis(2000);

/// A broker with the four listeners of the module docs.
struct SecureBroker {
    _broker: Broker,
    plaintext: String,
    sasl_ssl: String,
    sasl_plaintext: String,
    /// The SSL listener, on 127.0.0.2.
    ssl: String,
    certs: TestCerts,
    /// Where the command-config files go.
    dir: TempDir,
}

impl SecureBroker {
    /// Starts the broker with `extra` arguments (made from the certificates).
    fn start(extra: impl Fn(&TestCerts) -> Vec<String>) -> Result<SecureBroker> {
        let certs = TestCerts::generate()?;
        let mut last = None;
        for _ in 0..3 {
            let (p1, p2, p3, p4) = (free_port()?, free_port()?, free_port()?, free_port()?);
            let listen = format!(
                "127.0.0.1:{p1},SASL_SSL://127.0.0.1:{p2},SASL_PLAINTEXT://127.0.0.1:{p3},SSL://127.0.0.2:{p4}"
            );
            let (cert, key) = (certs.server_cert(), certs.server_key());
            let mut args = vec![
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--add-scram",
                "SCRAM-SHA-256=[name=admin,password=admin-secret]",
                "--add-scram",
                "SCRAM-SHA-512=[name=admin,password=admin-secret]",
            ];
            let extra = extra(&certs);
            args.extend(extra.iter().map(String::as_str));
            match Broker::start_listeners(&listen, &args) {
                Ok(broker) => {
                    return Ok(SecureBroker {
                        _broker: broker,
                        plaintext: format!("127.0.0.1:{p1}"),
                        sasl_ssl: format!("127.0.0.1:{p2}"),
                        sasl_plaintext: format!("127.0.0.1:{p3}"),
                        ssl: format!("127.0.0.2:{p4}"),
                        certs,
                        dir: tempfile::tempdir()?,
                    })
                }
                // A port taken between free_port() and the bind: new ports.
                Err(e) if format!("{e:#}").contains("in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.context("no free ports")?)
    }

    /// Writes a command-config file `name` with `lines`; returns its path.
    fn config(&self, name: &str, lines: &[String]) -> Result<String> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n")?;
        Ok(path.display().to_string())
    }

    /// The lines of a SASL config.
    fn sasl_lines(&self, protocol: &str, mechanism: &str, password: &str) -> Vec<String> {
        vec![
            "# written by cli_command_config.rs".to_string(),
            format!("security.protocol = {protocol}"),
            format!("sasl.mechanism={mechanism}"),
            "sasl.username=admin".to_string(),
            format!("sasl.password={password}"),
            format!("ssl.ca.location={}", self.certs.ca()),
        ]
    }
}

/// `strata <args…> --bootstrap-server B [--command-config C]`.
fn cli(args: &[&str], bootstrap: &str, config: Option<&str>) -> Result<CommandOutput> {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--bootstrap-server", bootstrap]);
    if let Some(c) = config {
        all.extend(["--command-config", c]);
    }
    strata_cli(&all)
}

fn ok(out: CommandOutput, what: &str) -> Result<String> {
    out.ensure_success(what)?;
    Ok(out.stdout_str())
}

/// Checks `topic describe` output: exactly `partitions` partitions, all empty.
fn ensure_described(stdout: &str, topic: &str, partitions: usize) -> Result<()> {
    ensure!(
        stdout.starts_with(&format!("Topic: {topic}\t"))
            && stdout.contains(&format!("\tPartitionCount: {partitions}\t")),
        "describe {topic}: want {partitions} partitions:\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('\t')).collect();
    ensure!(
        lines.len() == partitions,
        "describe {topic}: {} partition lines:\n{stdout}",
        lines.len()
    );
    for (i, line) in lines.iter().enumerate() {
        ensure!(
            line.starts_with(&format!("\tTopic: {topic}\tPartition: {i}\t"))
                && line.contains("\tLogStartOffset: 0\tHighWatermark: 0"),
            "describe {topic}: partition line {i}: {line}"
        );
    }
    Ok(())
}

/// Checks a refused command: non-zero exit, no panic, `needles` in stderr (case-insensitive),
/// the password nowhere.
fn ensure_refused(out: &CommandOutput, what: &str, needles: &[&str], secret: &str) -> Result<()> {
    let all = format!("{}{}", out.stdout_str(), out.stderr);
    let lower = out.stderr.to_lowercase();
    ensure!(!out.status.success(), "{what}: exited 0:\n{all}");
    ensure!(!all.contains("panicked"), "{what}: panicked:\n{all}");
    for n in needles {
        ensure!(
            lower.contains(&n.to_lowercase()),
            "{what}: stderr lacks {n:?}:\n{}",
            out.stderr
        );
    }
    ensure!(
        secret.is_empty() || !all.contains(secret),
        "{what}: the password was printed:\n{all}"
    );
    Ok(())
}

#[test]
fn command_config_secures_every_protocol() {
    run(LIMIT, async {
        let session = format!("connections.max.reauth.ms={}", SESSION.as_millis());
        let b = SecureBroker::start(|_| vec!["--set".into(), session.clone()])?;
        let ca = b.certs.ca();
        let scram256 = b.config(
            "scram256.properties",
            &b.sasl_lines("SASL_SSL", "SCRAM-SHA-256", ADMIN_PASSWORD),
        )?;
        let scram512 = b.config(
            "scram512.properties",
            &[
                "security.protocol=sasl_ssl".to_string(),
                "sasl.mechanism=SCRAM-SHA-512".to_string(),
                "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\".to_string(),
                format!("    username=\"admin\" password=\"{ADMIN_PASSWORD}\";"),
                format!("ssl.ca.location={ca}"),
                "ssl.endpoint.identification.algorithm=https".to_string(),
            ],
        )?;
        let plain = b.config(
            "plain.properties",
            &[
                "security.protocol=SASL_SSL".to_string(),
                "sasl.mechanism=PLAIN".to_string(),
                format!("sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"{ADMIN_PASSWORD}\";"),
                format!("ssl.ca.location : {ca}"),
            ],
        )?;
        let sasl_plaintext = b.config(
            "sasl_plaintext.properties",
            &[
                "security.protocol=SASL_PLAINTEXT".to_string(),
                "sasl.mechanism=SCRAM-SHA-256".to_string(),
                "sasl.username=admin".to_string(),
                format!("sasl.password={ADMIN_PASSWORD}"),
            ],
        )?;
        let ssl = b.config(
            "ssl.properties",
            &[
                "! SSL only; 127.0.0.2 is not in the certificate".to_string(),
                "security.protocol=SSL".to_string(),
                format!("ssl.ca.location={ca}"),
                "ssl.endpoint.identification.algorithm=".to_string(),
            ],
        )?;
        let cases = [
            ("t-sasl-ssl-scram256", 3, &b.sasl_ssl, &scram256),
            ("t-sasl-ssl-scram512", 2, &b.sasl_ssl, &scram512),
            ("t-sasl-ssl-plain", 1, &b.sasl_ssl, &plain),
            (
                "t-sasl-plaintext-scram256",
                4,
                &b.sasl_plaintext,
                &sasl_plaintext,
            ),
            ("t-ssl", 5, &b.ssl, &ssl),
        ];
        for (topic, partitions, bootstrap, config) in cases {
            let n = partitions.to_string();
            let out = cli(
                &["topic", "create", topic, "--partitions", &n],
                bootstrap,
                Some(config),
            )?;
            let stdout = ok(out, &format!("create {topic}"))?;
            ensure!(
                stdout == format!("Created topic {topic} with {partitions} partitions.\n"),
                "create {topic}: {stdout:?}"
            );
            let stdout = ok(
                cli(&["topic", "describe", topic], bootstrap, Some(config))?,
                &format!("describe {topic}"),
            )?;
            ensure_described(&stdout, topic, partitions)?;
            let stdout = ok(
                cli(&["topic", "list"], bootstrap, Some(config))?,
                &format!("list over {config}"),
            )?;
            ensure!(
                stdout.lines().any(|l| l == topic),
                "list over {config} lacks {topic}:\n{stdout}"
            );
        }

        // The PLAINTEXT listener sees exactly the five topics, with their partition counts.
        let stdout = ok(
            cli(&["topic", "list"], &b.plaintext, None)?,
            "plaintext list",
        )?;
        let mut want: Vec<&str> = cases.iter().map(|c| c.0).collect();
        want.sort();
        let got: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("__")).collect();
        ensure!(got == want, "plaintext list: {got:?}, want {want:?}");
        for (topic, partitions, _, _) in cases {
            let stdout = ok(
                cli(&["topic", "describe", topic], &b.plaintext, None)?,
                &format!("plaintext describe {topic}"),
            )?;
            ensure_described(&stdout, topic, partitions)?;
        }

        // KafkaClient directly (cluster status) and ListGroups to every broker (group list).
        let stdout = ok(
            cli(&["cluster", "status"], &b.sasl_ssl, Some(&scram512))?,
            "cluster status over SASL_SSL",
        )?;
        ensure!(
            stdout.contains("Brokers (live):") && stdout.contains(&format!(" {}\n", b.sasl_ssl)),
            "cluster status over SASL_SSL does not show the SASL_SSL address:\n{stdout}"
        );
        let stdout = ok(
            cli(&["group", "list"], &b.sasl_plaintext, Some(&sasl_plaintext))?,
            "group list over SASL_PLAINTEXT",
        )?;
        ensure!(stdout.is_empty(), "group list: {stdout:?}");

        // The broker closes a connection whose session expired at its next request: a client
        // that renews its session keeps its connection past the lifetime. (ClusterClient
        // drops a connection whose request failed and reports the error.)
        let security = ClientSecurity::load_command_config(Some(Path::new(&scram512)))?;
        let mut client = ClusterClient::connect_with(&b.sasl_ssl, security).await?;
        let first = client.metadata(None).await?;
        tokio::time::sleep(SESSION + SESSION / 3).await;
        let second = client
            .metadata(None)
            .await
            .context("Metadata after the session lifetime")?;
        ensure!(
            first.topics.len() == cases.len() && second.topics.len() == cases.len(),
            "Metadata topics: {} then {}",
            first.topics.len(),
            second.topics.len()
        );
        Ok(())
    });
}

#[test]
fn command_config_refusals_are_clean() {
    run(LIMIT, async {
        // Client certificates are asked for, and checked when presented.
        let b = SecureBroker::start(|certs| {
            vec![
                "--set".into(),
                "ssl.client.auth=requested".into(),
                "--set".into(),
                format!("ssl.truststore.certificates={}", certs.ca()),
            ]
        })?;
        let ca = b.certs.ca();
        let wrong = "wrong-Pa55word-7d1e";

        let config = b.config(
            "wrong-scram.properties",
            &b.sasl_lines("SASL_SSL", "SCRAM-SHA-256", wrong),
        )?;
        let out = cli(
            &["topic", "create", "t-refused"],
            &b.sasl_ssl,
            Some(&config),
        )?;
        ensure_refused(
            &out,
            "SCRAM-SHA-256, wrong password",
            &["authentication failed", "admin"],
            wrong,
        )?;

        let config = b.config(
            "wrong-plain.properties",
            &b.sasl_lines("SASL_PLAINTEXT", "PLAIN", wrong),
        )?;
        let out = cli(
            &["topic", "create", "t-refused"],
            &b.sasl_plaintext,
            Some(&config),
        )?;
        ensure_refused(
            &out,
            "PLAIN, wrong password",
            &["authentication failed"],
            wrong,
        )?;
        let out = cli(&["group", "list"], &b.sasl_plaintext, Some(&config))?;
        ensure_refused(
            &out,
            "group list, wrong password",
            &["authentication failed"],
            wrong,
        )?;

        let config = b.config(
            "stranger-ca.properties",
            &[
                "security.protocol=SSL".to_string(),
                format!("ssl.ca.location={}", b.certs.arg("stranger-ca.pem")),
                "ssl.endpoint.identification.algorithm=".to_string(),
            ],
        )?;
        let out = cli(&["topic", "create", "t-refused"], &b.ssl, Some(&config))?;
        ensure_refused(
            &out,
            "SSL, another CA",
            &[
                "TLS handshake",
                "invalid peer certificate",
                "ssl.ca.location",
            ],
            "",
        )?;

        let config = b.config(
            "hostname.properties",
            &[
                "security.protocol=SSL".to_string(),
                format!("ssl.ca.location={ca}"),
            ],
        )?;
        let out = cli(&["topic", "create", "t-refused"], &b.ssl, Some(&config))?;
        ensure_refused(
            &out,
            "SSL, hostname verification",
            &["not valid for name", "127.0.0.2"],
            "",
        )?;

        let config = b.config(
            "sasl-on-ssl.properties",
            &[
                "security.protocol=SASL_SSL".to_string(),
                "sasl.username=admin".to_string(),
                format!("sasl.password={ADMIN_PASSWORD}"),
                format!("ssl.ca.location={ca}"),
                "ssl.endpoint.identification.algorithm=".to_string(),
            ],
        )?;
        let out = cli(&["topic", "create", "t-refused"], &b.ssl, Some(&config))?;
        ensure_refused(
            &out,
            "SASL on the SSL listener",
            &["does not take SASL", "security.protocol"],
            ADMIN_PASSWORD,
        )?;

        let config = b.config(
            "bad-protocol.properties",
            &[
                "security.protocol=TLS".to_string(),
                "sasl.password=hunter2".to_string(),
            ],
        )?;
        let out = cli(&["topic", "list"], &b.sasl_ssl, Some(&config))?;
        ensure_refused(
            &out,
            "bad security.protocol",
            &["security.protocol = TLS", "bad-protocol.properties"],
            "hunter2",
        )?;

        // Mutual TLS: the CA's client certificate is let in; one of another CA is refused.
        let mtls = |name: &str, cert: &str, key: &str| {
            b.config(
                name,
                &[
                    "security.protocol=SSL".to_string(),
                    format!("ssl.ca.location={ca}"),
                    "ssl.endpoint.identification.algorithm=".to_string(),
                    format!("ssl.certificate.location={}", b.certs.arg(cert)),
                    format!("ssl.key.location={}", b.certs.arg(key)),
                ],
            )
        };
        let config = mtls("mtls.properties", "client.pem", "client.key")?;
        ok(
            cli(&["topic", "list"], &b.ssl, Some(&config))?,
            "mTLS topic list",
        )?;
        let config = mtls("stranger.properties", "stranger.pem", "stranger.key")?;
        let out = cli(&["topic", "create", "t-refused"], &b.ssl, Some(&config))?;
        ensure_refused(
            &out,
            "mTLS, a certificate of another CA",
            &["UnknownCA", "ssl.certificate.location"],
            "",
        )?;

        let missing = b
            .dir
            .path()
            .join("missing.properties")
            .display()
            .to_string();
        let out = cli(&["topic", "list"], &b.sasl_ssl, Some(&missing))?;
        ensure_refused(&out, "missing file", &["missing.properties"], "")?;

        let stdout = ok(
            cli(&["topic", "list"], &b.plaintext, None)?,
            "plaintext list",
        )?;
        ensure!(
            !stdout.contains("t-refused"),
            "a refused command created its topic:\n{stdout}"
        );
        Ok(())
    });
}
