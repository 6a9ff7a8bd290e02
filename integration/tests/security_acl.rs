//! ACLs (issue 13) against the real broker with real clients. Each test starts one
//! `strata serve` with `authorizer.class.name=acl`, `super.users=User:admin` and three
//! listeners: PLAINTEXT (principal `User:ANONYMOUS`), SASL_SSL (`User:<sasl user>`) and SSL
//! (`User:<certificate subject, RFC 2253>`), with `ssl.client.auth=required` on both TLS
//! listeners, so SASL_SSL clients present the harness's client certificate too and are still
//! known by their SASL user. `admin` / `admin-secret` (SCRAM-SHA-256) comes from `--add-scram`;
//! every other user is created through AlterUserScramCredentials. ACLs are managed with
//! confluent-kafka's AdminClient (`integration/py/acl_admin.py`); clients are confluent-kafka
//! (`acl_client.py`) and kafka-python (`acl_kafka_python.py`).
//!
//! - A SASL user, end to end: alice with no ACLs gets TOPIC_AUTHORIZATION_FAILED for each
//!   record she produces and GROUP_AUTHORIZATION_FAILED when her consumer joins; with READ on
//!   the group only, her consumer gets TOPIC_AUTHORIZATION_FAILED (Metadata), and with WRITE on
//!   the topic too her records are acknowledged at offsets 0..3 but her consumer still gets
//!   TOPIC_AUTHORIZATION_FAILED (Fetch); with READ as well she reads exactly those records and
//!   commits offset 3. CreateAcls and DeleteAcls as alice get CLUSTER_AUTHORIZATION_FAILED
//!   (confluent-kafka and kafka-python); DescribeAcls as alice gets it too through kafka-python
//!   (confluent-kafka reports no error and no binding: librdkafka drops DescribeAcls' top-level
//!   error code). DescribeAcls as admin returns exactly the three bindings created (both
//!   clients), and a MATCH filter the two on the topic. alice's Metadata lists only that topic,
//!   admin's every topic. DeleteAcls returns exactly the three bindings, after which alice is
//!   denied again and sees no topic. ALLOW WRITE for alice with DENY WRITE for `User:*` denies
//!   her records; PREFIXED `orders-` READ and WRITE let her produce to and consume from
//!   `orders-eu` and `orders-` (and join groups named `orders-…`) but not `orders` or
//!   `xorders-1`, and her Metadata lists exactly the three topics she has a binding on.
//!   `strata_authorization_denied_total` grew by at least the denials the test caused, in the
//!   operation and resource type of each. After SIGTERM and a restart on the same data
//!   directory DescribeAcls returns the same bindings and alice's next record is acknowledged
//!   at the next offset, while the DENY still holds.
//! - Other principals: the super user produces and consumes (and commits) with no ACL at all;
//!   an anonymous PLAINTEXT client sees no topic and is denied until `User:ANONYMOUS` gets
//!   WRITE; a kafka-python SCRAM-SHA-512 user gets TopicAuthorizationFailedError until granted
//!   WRITE; on the SSL listener the certificate `/CN=carol/O=Strata` is the principal
//!   `User:O=Strata,CN=carol` (RFC 2253 lists the last attribute first, as Java's
//!   `X500Principal` does): bindings for `User:CN=carol,O=Strata` or for the harness's other
//!   client certificate do not let her in, bindings for her principal let her produce (with
//!   an idempotent producer: WRITE on a topic is enough for a producer id), consume and
//!   commit; the other certificate's principal, which may only READ carol's topic, is refused
//!   a producer id (CLUSTER_AUTHORIZATION_FAILED, fatal for librdkafka).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_integration::certs::TestCerts;
use strata_integration::listeners::start_on_free_ports;
use strata_integration::prom::scrape;
use strata_integration::txn::run_script_async;
use strata_integration::{run, Broker};

const ADMIN_PASSWORD: &str = "admin-secret";
/// Time limit of one client script.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit of each test.
const LIMIT: Duration = Duration::from_secs(90);
/// A DescribeAcls / DeleteAcls filter matching every binding.
const EVERY_ACL: &str = "ANY - ANY - - ANY ANY";
const TOPIC_DENIED: &str = "TOPIC_AUTHORIZATION_FAILED";
const GROUP_DENIED: &str = "GROUP_AUTHORIZATION_FAILED";
const CLUSTER_DENIED: &str = "CLUSTER_AUTHORIZATION_FAILED";
const DENIED_METRIC: &str = "strata_authorization_denied_total";

// ---------------------------------------------------------------------------------------------
// The broker.

/// A broker with the authorizer on and the three listeners of the module docs.
struct AclBroker {
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
    fn start() -> Result<AclBroker> {
        let certs = TestCerts::generate()?;
        certs.add_client("carol", "/CN=carol/O=Strata")?;
        let (broker, ports) = start_on_free_ports(4, |p| {
            let listen = format!(
                "127.0.0.1:{},SASL_SSL://127.0.0.1:{},SSL://127.0.0.1:{}",
                p[0], p[1], p[2]
            );
            let args = [
                "--tls-cert",
                &certs.server_cert(),
                "--tls-key",
                &certs.server_key(),
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
                "--metrics-listen",
                &format!("127.0.0.1:{}", p[3]),
                "--set",
                "group.initial.rebalance.delay.ms=0",
            ];
            (listen, args.iter().map(|s| s.to_string()).collect())
        })?;
        Ok(AclBroker {
            broker,
            plaintext: format!("127.0.0.1:{}", ports[0]),
            sasl_ssl: format!("127.0.0.1:{}", ports[1]),
            ssl: format!("127.0.0.1:{}", ports[2]),
            metrics: ports[3],
            certs,
        })
    }

    /// SIGTERM, then the same command line on the same ports and data directory.
    fn restart(&mut self) -> Result<()> {
        let status = self.broker.sigterm_and_wait()?;
        ensure!(
            status.success(),
            "the broker exited with {status} on SIGTERM"
        );
        self.broker.restart()
    }

    /// Connection flags of the scripts for a SASL_SSL user (with the harness's client
    /// certificate, which the listener requires).
    fn sasl(&self, mechanism: &str, user: &str, password: &str) -> Vec<String> {
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

    fn admin(&self) -> Vec<String> {
        self.sasl("SCRAM-SHA-256", "admin", ADMIN_PASSWORD)
    }

    fn alice(&self) -> Vec<String> {
        self.sasl("SCRAM-SHA-256", "alice", "alice-pw")
    }

    /// An SSL client presenting `<cert>.pem`.
    fn ssl(&self, cert: &str) -> Vec<String> {
        let mut c = strings(&["--bootstrap", &self.ssl, "--protocol", "SSL"]);
        c.extend(self.tls(cert));
        c
    }

    /// A PLAINTEXT client: `User:ANONYMOUS`.
    fn anonymous(&self) -> Vec<String> {
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
    fn denials(&self) -> Result<BTreeMap<(String, String), f64>> {
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

// ---------------------------------------------------------------------------------------------
// Client scripts and their output.

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Runs `integration/py/<name>` with the connection flags `conn` and `args`; its stdout lines
/// without the final DONE.
async fn script(name: &str, conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    let mut all: Vec<&str> = conn.iter().map(String::as_str).collect();
    all.extend(args);
    let mut lines = run_script_async(name, &all, SCRIPT_TIMEOUT).await?.lines;
    lines.pop();
    Ok(lines)
}

/// `acl_admin.py`.
async fn admin(conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    script("acl_admin.py", conn, args).await
}

/// `acl_client.py`.
async fn client(conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    script("acl_client.py", conn, args).await
}

/// `acl_kafka_python.py`.
async fn kafka_python(conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    script("acl_kafka_python.py", conn, args).await
}

/// The rest of every line starting with `prefix `, in the order printed.
fn picked(lines: &[String], prefix: &str) -> Vec<String> {
    let prefix = format!("{prefix} ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// [`picked`], sorted.
fn sorted(lines: &[String], prefix: &str) -> Vec<String> {
    let mut v = picked(lines, prefix);
    v.sort();
    v
}

/// The records `acl_client.py --produce topic --count n --tag tag` writes, at offsets from
/// `first`: `topic 0 <offset> k<i> <tag>-<i>`.
fn records(topic: &str, tag: &str, first: i64, n: i64) -> Vec<String> {
    (0..n)
        .map(|i| format!("{topic} 0 {} k{i} {tag}-{i}", first + i))
        .collect()
}

/// The delivery errors of `n` records to `topic`: `topic k<i> <code>`.
fn refused(topic: &str, n: i64, code: &str) -> Vec<String> {
    (0..n).map(|i| format!("{topic} k{i} {code}")).collect()
}

/// Sorted copy of `items`.
fn sorted_of(items: &[&str]) -> Vec<String> {
    let mut v = strings(items);
    v.sort();
    v
}

/// A produce run in which every record was refused with TOPIC_AUTHORIZATION_FAILED.
fn ensure_produce_denied(out: &[String], topic: &str, n: i64, what: &str) -> Result<()> {
    ensure!(
        picked(out, "ACK").is_empty() && picked(out, "UNDELIVERED").is_empty(),
        "{what}: {out:?}"
    );
    ensure!(
        sorted(out, "DERR") == refused(topic, n, TOPIC_DENIED),
        "{what}: delivery errors {:?}",
        picked(out, "DERR")
    );
    Ok(())
}

/// A consume run that read nothing and whose only error was `code`.
fn ensure_consume_denied(out: &[String], code: &str, what: &str) -> Result<()> {
    ensure!(
        picked(out, "REC").is_empty() && picked(out, "COMMITTED").is_empty(),
        "{what}: read {out:?}"
    );
    ensure!(
        picked(out, "CERR") == [code],
        "{what}: consumer errors {:?}",
        picked(out, "CERR")
    );
    Ok(())
}

/// A group consumer of `topic` in `group` that gets GROUP_AUTHORIZATION_FAILED and reads
/// nothing.
async fn ensure_group_denied(conn: &[String], topic: &str, group: &str, what: &str) -> Result<()> {
    let out = client(
        conn,
        &[
            "--consume",
            topic,
            "--group",
            group,
            "--count",
            "3",
            "--until",
            GROUP_DENIED,
        ],
    )
    .await?;
    ensure!(
        picked(&out, "CERR").iter().any(|e| e == GROUP_DENIED) && picked(&out, "REC").is_empty(),
        "{what}: {out:?}"
    );
    Ok(())
}

/// A consume run that read exactly `want`, in order, with no error, and committed `next`.
fn ensure_consumed(out: &[String], want: &[String], next: i64, what: &str) -> Result<()> {
    ensure!(picked(out, "CERR").is_empty(), "{what}: errors {out:?}");
    ensure!(picked(out, "REC") == want, "{what}: read {out:?}");
    ensure!(
        picked(out, "COMMITTED") == [format!("0 {next}")],
        "{what}: committed {:?}",
        picked(out, "COMMITTED")
    );
    Ok(())
}

/// Every binding, as DescribeAcls through confluent-kafka gives it to admin (sorted).
async fn all_acls(ab: &AclBroker) -> Result<Vec<String>> {
    let out = admin(&ab.admin(), &["--describe", EVERY_ACL]).await?;
    ensure!(
        picked(&out, "DESCRIBE 0 ERR").is_empty(),
        "DescribeAcls as admin: {out:?}"
    );
    Ok(picked(&out, "DESCRIBE 0 ACL"))
}

/// `denials` after minus before, per series.
fn growth(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
) -> BTreeMap<(String, String), f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn a_sasl_user_is_denied_until_granted_and_acls_survive_a_restart() {
    run(LIMIT, async {
        let mut ab = AclBroker::start()?;
        let (adm, alice) = (ab.admin(), ab.alice());
        let before = ab.denials()?;
        // Lower bounds of the denials each step causes, by (operation, resource type).
        let mut caused: BTreeMap<(String, String), f64> = BTreeMap::new();
        let mut cause = |op: &str, rt: &str, n: f64| {
            *caused.entry((op.to_string(), rt.to_string())).or_default() += n;
        };

        let topics = [
            "payments",
            "contested",
            "orders",
            "orders-",
            "orders-eu",
            "xorders-1",
        ];
        let mut args = vec!["--upsert", "alice:SCRAM-SHA-256:8192:alice-pw"];
        for t in topics {
            args.extend(["--topic", t]);
        }
        args.extend(["--describe", EVERY_ACL]);
        let out = admin(&adm, &args).await?;
        let mut want = vec!["USER alice OK".to_string()];
        want.extend(topics.iter().map(|t| format!("TOPIC {t} OK")));
        ensure!(out == want, "admin's setup (and no ACL yet): {out:?}");

        // No ACL: nothing listed, every record refused, the group refused.
        let out = client(
            &alice,
            &[
                "--list",
                "--produce",
                "payments",
                "--count",
                "3",
                "--tag",
                "pay",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC").is_empty() && picked(&out, "LERR").is_empty(),
            "alice lists {out:?} with no ACL"
        );
        ensure_produce_denied(&out, "payments", 3, "alice with no ACL")?;
        cause("Describe", "Topic", 1.0);
        ensure_group_denied(&alice, "payments", "g-pay", "alice's consumer with no ACL").await?;
        cause("Describe", "Group", 1.0);

        // READ on the group only: the topic is refused (Metadata).
        let out = admin(
            &adm,
            &["--create", "GROUP g-pay LITERAL User:alice * READ ALLOW"],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant READ on g-pay: {out:?}");
        let consume = ["--consume", "payments", "--group", "g-pay", "--count", "3"];
        let out = client(&alice, &consume).await?;
        ensure_consume_denied(
            &out,
            TOPIC_DENIED,
            "alice's consumer with READ on the group",
        )?;
        cause("Describe", "Topic", 1.0);

        // WRITE on the topic: her records are acknowledged; WRITE does not let her read.
        let out = admin(
            &adm,
            &[
                "--create",
                "TOPIC payments LITERAL User:alice * WRITE ALLOW",
            ],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant WRITE on payments: {out:?}");
        let out = client(
            &alice,
            &["--produce", "payments", "--count", "3", "--tag", "pay"],
        )
        .await?;
        let payments = records("payments", "pay", 0, 3);
        ensure!(
            picked(&out, "ACK") == payments && picked(&out, "DERR").is_empty(),
            "alice with WRITE: {out:?}"
        );
        let out = client(&alice, &consume).await?;
        ensure_consume_denied(&out, TOPIC_DENIED, "alice's consumer with WRITE, not READ")?;
        cause("Read", "Topic", 1.0);

        // READ on the topic too: she reads exactly her records and commits.
        let out = admin(
            &adm,
            &["--create", "TOPIC payments LITERAL User:alice * READ ALLOW"],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant READ on payments: {out:?}");
        let out = client(&alice, &consume).await?;
        ensure_consumed(&out, &payments, 3, "alice's consumer with READ")?;

        // alice may not manage ACLs.
        let out = admin(
            &alice,
            &[
                "--create",
                "TOPIC payments LITERAL User:alice * ALTER ALLOW",
                "--delete",
                EVERY_ACL,
                "--describe",
                EVERY_ACL,
            ],
        )
        .await?;
        // librdkafka reads DescribeAcls' error code and drops it: no error and no binding.
        ensure!(
            out == [
                format!("CREATE 0 ERR {CLUSTER_DENIED}"),
                format!("DELETE 0 ERR {CLUSTER_DENIED}")
            ],
            "ACL requests as alice (confluent-kafka): {out:?}"
        );
        let out = kafka_python(
            &alice,
            &[
                "--describe-acls",
                "--create-acl",
                "TOPIC payments LITERAL User:alice * ALTER ALLOW",
            ],
        )
        .await?;
        ensure!(
            out == [
                "DESCRIBE ERR ClusterAuthorizationFailedError",
                "CREATE ERR ClusterAuthorizationFailedError"
            ],
            "ACL requests as alice (kafka-python): {out:?}"
        );
        cause("Alter", "Cluster", 3.0);
        cause("Describe", "Cluster", 2.0);

        // admin sees exactly what was created, with both clients and a MATCH filter.
        let granted = sorted_of(&[
            "GROUP g-pay LITERAL User:alice * READ ALLOW",
            "TOPIC payments LITERAL User:alice * READ ALLOW",
            "TOPIC payments LITERAL User:alice * WRITE ALLOW",
        ]);
        let out = admin(
            &adm,
            &[
                "--describe",
                EVERY_ACL,
                "--describe",
                "TOPIC payments MATCH - - ANY ANY",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "DESCRIBE 0 ACL") == granted
                && picked(&out, "DESCRIBE 1 ACL") == granted[1..]
                && out.len() == 5,
            "DescribeAcls as admin: {out:?}"
        );
        let out = kafka_python(&adm, &["--describe-acls"]).await?;
        ensure!(
            picked(&out, "ACL") == granted && out.len() == 3,
            "DescribeAcls as admin (kafka-python): {out:?}"
        );

        // Metadata: alice sees the one topic she has bindings on; admin sees every topic.
        let out = client(&alice, &["--list"]).await?;
        ensure!(out == ["TOPIC payments"], "alice lists {out:?}");
        let out = client(&adm, &["--list"]).await?;
        let mut every: Vec<&str> = topics.to_vec();
        every.push("__consumer_offsets");
        ensure!(
            picked(&out, "TOPIC") == sorted_of(&every),
            "admin lists {out:?}"
        );

        // DeleteAcls returns exactly the bindings it removed; alice is denied again.
        let out = admin(
            &adm,
            &[
                "--delete",
                "ANY - ANY User:alice - ANY ANY",
                "--describe",
                EVERY_ACL,
            ],
        )
        .await?;
        ensure!(
            sorted(&out, "DELETE 0 MATCH") == granted && out.len() == 3,
            "DeleteAcls: {out:?}"
        );
        let out = client(
            &alice,
            &[
                "--list",
                "--produce",
                "payments",
                "--count",
                "2",
                "--tag",
                "late",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC").is_empty(),
            "alice lists {out:?} after the delete"
        );
        ensure_produce_denied(&out, "payments", 2, "alice after the delete")?;
        cause("Describe", "Topic", 1.0);
        ensure_group_denied(
            &alice,
            "payments",
            "g-pay",
            "alice's consumer after the delete",
        )
        .await?;
        cause("Describe", "Group", 1.0);

        // DENY beats ALLOW; PREFIXED bindings cover names that start with the prefix.
        let bindings = [
            "TOPIC contested LITERAL User:alice * WRITE ALLOW",
            "TOPIC contested LITERAL User:* * WRITE DENY",
            "TOPIC orders- PREFIXED User:alice * READ ALLOW",
            "TOPIC orders- PREFIXED User:alice * WRITE ALLOW",
            "GROUP orders- PREFIXED User:alice * READ ALLOW",
        ];
        let mut args = Vec::new();
        for b in bindings {
            args.extend(["--create", b]);
        }
        let out = admin(&adm, &args).await?;
        ensure!(
            out == (0..5).map(|i| format!("CREATE {i} OK")).collect::<Vec<_>>(),
            "create the DENY and PREFIXED bindings: {out:?}"
        );
        let mut args = vec!["--list", "--count", "2", "--tag", "o"];
        for t in ["contested", "orders-eu", "orders-", "orders", "xorders-1"] {
            args.extend(["--produce", t]);
        }
        let out = client(&alice, &args).await?;
        ensure!(
            picked(&out, "TOPIC") == ["contested", "orders-", "orders-eu"],
            "alice lists {out:?}"
        );
        let mut acked = records("orders-", "o", 0, 2);
        acked.extend(records("orders-eu", "o", 0, 2));
        ensure!(
            sorted(&out, "ACK") == acked,
            "acknowledged to alice: {out:?}"
        );
        let mut denied = refused("contested", 2, TOPIC_DENIED);
        denied.extend(refused("orders", 2, TOPIC_DENIED));
        denied.extend(refused("xorders-1", 2, TOPIC_DENIED));
        ensure!(
            sorted(&out, "DERR") == denied && picked(&out, "UNDELIVERED").is_empty(),
            "refused to alice: {out:?}"
        );
        cause("Write", "Topic", 1.0);
        cause("Describe", "Topic", 2.0);
        let out = client(
            &alice,
            &[
                "--consume",
                "orders-eu",
                "--group",
                "orders-g1",
                "--count",
                "2",
            ],
        )
        .await?;
        ensure_consumed(
            &out,
            &records("orders-eu", "o", 0, 2),
            2,
            "alice reads orders-eu",
        )?;
        let out = client(
            &alice,
            &[
                "--consume",
                "orders",
                "--group",
                "orders-g2",
                "--count",
                "1",
            ],
        )
        .await?;
        ensure_consume_denied(&out, TOPIC_DENIED, "alice reads orders")?;
        cause("Describe", "Topic", 1.0);

        // Every denial was counted, under its operation and resource type.
        let grew = growth(&before, &ab.denials()?);
        for (series, at_least) in &caused {
            let got = grew.get(series).copied().unwrap_or(0.0);
            ensure!(
                got >= *at_least,
                "{DENIED_METRIC}{series:?} grew by {got}, expected at least {at_least}: {grew:?}"
            );
        }
        let (total, want): (f64, f64) = (grew.values().sum(), caused.values().sum());
        ensure!(
            total >= want,
            "{DENIED_METRIC} grew by {total} in all, expected at least {want}: {grew:?}"
        );

        // The bindings are in cluster metadata: a restart keeps them.
        let kept = sorted_of(&bindings);
        let acls = all_acls(&ab).await?;
        ensure!(acls == kept, "bindings before the restart: {acls:?}");
        ab.restart()?;
        let acls = all_acls(&ab).await?;
        ensure!(acls == kept, "bindings after the restart: {acls:?}");
        let out = client(
            &alice,
            &[
                "--list",
                "--produce",
                "orders-eu",
                "--produce",
                "contested",
                "--count",
                "1",
                "--tag",
                "after",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC") == ["contested", "orders-", "orders-eu"],
            "alice lists {out:?} after the restart"
        );
        ensure!(
            picked(&out, "ACK") == ["orders-eu 0 2 k0 after-0"]
                && picked(&out, "DERR") == refused("contested", 1, TOPIC_DENIED),
            "alice after the restart: {out:?}"
        );
        Ok(())
    });
}

#[test]
fn super_user_anonymous_kafka_python_and_certificate_principals() {
    run(LIMIT, async {
        let ab = AclBroker::start()?;
        let adm = ab.admin();
        let out = admin(
            &adm,
            &[
                "--upsert",
                "bob:SCRAM-SHA-512:8192:bob-pw",
                "--topic",
                "free",
                "--topic",
                "anon",
                "--topic",
                "kp",
                "--topic",
                "carol-t",
            ],
        )
        .await?;
        ensure!(
            out == [
                "USER bob OK",
                "TOPIC free OK",
                "TOPIC anon OK",
                "TOPIC kp OK",
                "TOPIC carol-t OK"
            ],
            "admin's setup: {out:?}"
        );

        // The super user needs no ACL: there is none, and it lists, produces and consumes.
        let out = client(
            &adm,
            &[
                "--list",
                "--produce",
                "free",
                "--count",
                "3",
                "--tag",
                "adm",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC") == ["anon", "carol-t", "free", "kp"],
            "admin lists {out:?}"
        );
        let free = records("free", "adm", 0, 3);
        ensure!(
            picked(&out, "ACK") == free && picked(&out, "DERR").is_empty(),
            "admin produces: {out:?}"
        );
        let out = client(
            &adm,
            &["--consume", "free", "--group", "g-admin", "--count", "3"],
        )
        .await?;
        ensure_consumed(&out, &free, 3, "admin consumes")?;
        let acls = all_acls(&ab).await?;
        ensure!(acls.is_empty(), "bindings: {acls:?}");

        // An anonymous PLAINTEXT client: nothing until User:ANONYMOUS has WRITE.
        let anonymous = ab.anonymous();
        let produce_anon = [
            "--list",
            "--produce",
            "anon",
            "--count",
            "2",
            "--tag",
            "anon",
        ];
        let out = client(&anonymous, &produce_anon).await?;
        ensure!(
            picked(&out, "TOPIC").is_empty() && picked(&out, "LERR").is_empty(),
            "the anonymous client lists {out:?}"
        );
        ensure_produce_denied(&out, "anon", 2, "the anonymous client")?;
        let out = admin(
            &adm,
            &[
                "--create",
                "TOPIC anon LITERAL User:ANONYMOUS * WRITE ALLOW",
            ],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant User:ANONYMOUS: {out:?}");
        let out = client(&anonymous, &produce_anon).await?;
        ensure!(
            picked(&out, "TOPIC") == ["anon"]
                && picked(&out, "ACK") == records("anon", "anon", 0, 2)
                && picked(&out, "DERR").is_empty(),
            "the anonymous client with WRITE: {out:?}"
        );

        // kafka-python with SCRAM-SHA-512: its own error class, then its record.
        let bob = ab.sasl("SCRAM-SHA-512", "bob", "bob-pw");
        let out = kafka_python(&bob, &["--produce", "kp", "--value", "bob-1"]).await?;
        ensure!(
            out == ["DENIED TopicAuthorizationFailedError"],
            "kafka-python bob with no ACL: {out:?}"
        );
        let out = admin(
            &adm,
            &["--create", "TOPIC kp LITERAL User:bob * WRITE ALLOW"],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant bob: {out:?}");
        let out = kafka_python(&bob, &["--produce", "kp", "--value", "bob-2"]).await?;
        ensure!(out == ["ACK 0 0"], "kafka-python bob with WRITE: {out:?}");

        // The certificate /CN=carol/O=Strata is User:O=Strata,CN=carol.
        let carol = ab.ssl("carol");
        let produce_carol = [
            "--list",
            "--produce",
            "carol-t",
            "--count",
            "2",
            "--tag",
            "carol",
        ];
        let out = client(&carol, &produce_carol).await?;
        ensure!(
            picked(&out, "TOPIC").is_empty(),
            "carol lists {out:?} with no ACL"
        );
        ensure_produce_denied(&out, "carol-t", 2, "carol with no ACL")?;
        let mut args = Vec::new();
        let wrong_order = [
            "TOPIC carol-t LITERAL User:CN=carol,O=Strata * WRITE ALLOW",
            "TOPIC carol-t LITERAL User:CN=strata-test-client * READ ALLOW",
        ];
        for b in wrong_order {
            args.extend(["--create", b]);
        }
        let out = admin(&adm, &args).await?;
        ensure!(
            out == ["CREATE 0 OK", "CREATE 1 OK"],
            "bindings for other principals: {out:?}"
        );
        let out = client(&carol, &produce_carol).await?;
        ensure_produce_denied(
            &out,
            "carol-t",
            2,
            "carol with bindings for other principals",
        )?;
        let out = client(&ab.ssl("client"), &["--produce", "carol-t", "--count", "1"]).await?;
        ensure_produce_denied(&out, "carol-t", 1, "the harness's client certificate")?;
        // It may describe carol-t but write nowhere: an idempotent producer gets no producer
        // id (KIP-679: IDEMPOTENT_WRITE on the cluster or WRITE on some topic).
        let out = client(
            &ab.ssl("client"),
            &["--idempotent", "--produce", "carol-t", "--count", "1"],
        )
        .await?;
        ensure!(
            picked(&out, "FATAL") == [CLUSTER_DENIED] && picked(&out, "ACK").is_empty(),
            "an idempotent producer without WRITE: {out:?}"
        );

        let mut args = Vec::new();
        for b in [
            "TOPIC carol-t LITERAL User:O=Strata,CN=carol * WRITE ALLOW",
            "TOPIC carol-t LITERAL User:O=Strata,CN=carol * READ ALLOW",
            "GROUP carol-g LITERAL User:O=Strata,CN=carol * READ ALLOW",
        ] {
            args.extend(["--create", b]);
        }
        let out = admin(&adm, &args).await?;
        ensure!(
            out == ["CREATE 0 OK", "CREATE 1 OK", "CREATE 2 OK"],
            "grant carol: {out:?}"
        );
        // WRITE on carol-t also gets her idempotent producer its producer id.
        let mut idempotent = vec!["--idempotent"];
        idempotent.extend(produce_carol);
        let out = client(&carol, &idempotent).await?;
        let carols = records("carol-t", "carol", 0, 2);
        ensure!(
            picked(&out, "TOPIC") == ["carol-t"]
                && picked(&out, "ACK") == carols
                && picked(&out, "DERR").is_empty()
                && picked(&out, "FATAL").is_empty(),
            "carol's idempotent producer with WRITE: {out:?}"
        );
        let out = client(
            &carol,
            &["--consume", "carol-t", "--group", "carol-g", "--count", "2"],
        )
        .await?;
        ensure_consumed(&out, &carols, 2, "carol reads")?;
        Ok(())
    });
}

#[test]
fn transactions_commit_under_the_authorizer() {
    run(LIMIT, async {
        let ab = AclBroker::start()?;
        let adm = ab.admin();
        let out = admin(
            &adm,
            &[
                "--upsert",
                "alice:SCRAM-SHA-256:8192:alice-pw",
                "--topic",
                "tx",
            ],
        )
        .await?;
        ensure!(out == ["USER alice OK", "TOPIC tx OK"], "setup: {out:?}");
        let txn = |id: &'static str, tag: &'static str| {
            [
                "--produce",
                "tx",
                "--count",
                "3",
                "--tag",
                tag,
                "--transactional-id",
                id,
            ]
        };
        // The super user's transaction commits: the broker writes its own markers, which no
        // client principal stands between.
        let out = client(&adm, &txn("tx-admin", "adm")).await?;
        ensure!(
            picked(&out, "TXN") == ["COMMITTED"]
                && picked(&out, "ACK") == records("tx", "adm", 0, 3),
            "admin's transaction: {out:?}"
        );
        // alice without WRITE on her transactional id is refused at once.
        let out = client(&ab.alice(), &txn("tx-alice", "al")).await?;
        ensure!(
            picked(&out, "TXNERR") == ["TRANSACTIONAL_ID_AUTHORIZATION_FAILED"]
                && picked(&out, "ACK").is_empty(),
            "alice without ACLs: {out:?}"
        );
        // With WRITE on the id and the topic her transaction commits after admin's (its
        // COMMIT marker took offset 3).
        let out = admin(
            &adm,
            &[
                "--create",
                "TRANSACTIONAL_ID tx-alice LITERAL User:alice * WRITE ALLOW",
                "--create",
                "TOPIC tx LITERAL User:alice * WRITE ALLOW",
            ],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK", "CREATE 1 OK"], "grants: {out:?}");
        let out = client(&ab.alice(), &txn("tx-alice", "al")).await?;
        ensure!(
            picked(&out, "TXN") == ["COMMITTED"]
                && picked(&out, "ACK") == records("tx", "al", 4, 3),
            "alice's transaction: {out:?}"
        );
        // A read_committed reader sees both transactions, nothing else.
        let mut want = records("tx", "adm", 0, 3);
        want.extend(records("tx", "al", 4, 3));
        let out = client(
            &adm,
            &["--consume", "tx", "--group", "g-tx", "--count", "6"],
        )
        .await?;
        ensure_consumed(&out, &want, 8, "read_committed")?;
        Ok(())
    });
}
