//! TLS on the links between cluster nodes (issue 13): three `strata serve` processes on
//! loopback whose quorum listens on `--cluster-listen SSL://127.0.0.1:C` (mutual TLS with node
//! certificates) and whose brokers reach each other on an SSL Kafka listener with
//! `ssl.client.auth=required` (`inter.broker.listener.name=SSL`), beside a PLAINTEXT listener
//! for the test's librdkafka clients. Each node has its own certificate (`CN=node-N,O=Strata`,
//! SAN `IP:127.0.0.1`, serverAuth and clientAuth) from [`TestCerts`]'s CA; the ACL authorizer
//! is on.
//!
//! - `quorum_and_replication_run_over_tls`: `strata cluster status` names a leader and 3
//!   voters with known log ends; an RF=3 `min.insync.replicas=2` topic takes 1000 acks=all
//!   records with the ISR [1, 2, 3]; `ss` shows the followers' connections from the broker
//!   processes to the leader's SSL port and none to any PLAINTEXT port; SIGKILL of the leader
//!   mid-stream elects another, and every acknowledged record (2000) is read back exactly, in
//!   order.
//! - `node_principal_must_be_a_super_user`: the same cluster with `super.users=User:ANONYMOUS`
//!   only: followers arrive as their certificate's principal, which may not CLUSTER_ACTION,
//!   so the ISR shrinks to the leader alone, acks=all writes fail, and the leader counts the
//!   denials in `strata_authorization_denied_total`.
//! - `a_node_with_a_foreign_certificate_cannot_join`: node 3's certificate is signed by
//!   another CA. Nodes 1 and 2 form the quorum and serve an RF=2 topic with acks=all; node 3
//!   never gets a leader, so it never opens its Kafka listener, and its log shows the good
//!   nodes' `UnknownCA` alert; the quorum leader logs its link to node 3 refused with
//!   `invalid peer certificate: UnknownIssuer`. The status stays leader 1 or 2 with live
//!   brokers [1, 2]. A node 3 with a certificate of the right CA then joins: 3 live brokers.
//! - `node_link_misconfigurations_refuse_to_start`: an SSL cluster listener without node
//!   certificate, key or truststore; an inter-broker listener that does not exist, or is
//!   SASL; each exits non-zero naming the setting.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::broker::{free_port, strata_bin};
use strata_integration::certs::TestCerts;
use strata_integration::client::{
    consumer, create_replicated_topic, enqueue, numbered, numbered_values, values_by_partition,
};
use strata_integration::prom::scrape;
use strata_integration::tools::run_command;
use strata_integration::{producer, run, strata_cli, Broker};

/// The principal of node `id`'s certificate (subject `/O=Strata/CN=node-<id>`).
fn principal(id: usize) -> String {
    format!("User:CN=node-{id},O=Strata")
}

/// The ports of one node.
#[derive(Debug, Clone, Copy)]
struct Ports {
    plain: u16,
    ssl: u16,
    cluster: u16,
    metrics: u16,
}

impl Ports {
    fn pick() -> Result<Ports> {
        Ok(Ports {
            plain: free_port()?,
            ssl: free_port()?,
            cluster: free_port()?,
            metrics: free_port()?,
        })
    }

    fn plain_addr(&self) -> String {
        format!("127.0.0.1:{}", self.plain)
    }
}

/// `strata serve` arguments of node `id` with certificate `<cert>.pem` (the `--listen` list,
/// the rest).
fn node_args(
    certs: &TestCerts,
    id: usize,
    cert: &str,
    ports: &[Ports],
    super_users: &str,
) -> (String, Vec<String>) {
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{}", i + 1, p.cluster))
        .collect::<Vec<_>>()
        .join(",");
    let p = ports[id - 1];
    let listen = format!("127.0.0.1:{},SSL://127.0.0.1:{}", p.plain, p.ssl);
    let mut args: Vec<String> = vec![
        "--node-id".into(),
        id.to_string(),
        "--voters".into(),
        voters,
        "--cluster-listen".into(),
        format!("SSL://127.0.0.1:{}", p.cluster),
        "--tls-cert".into(),
        certs.arg(&format!("{cert}.pem")),
        "--tls-key".into(),
        certs.arg(&format!("{cert}.key")),
        "--metrics-listen".into(),
        format!("127.0.0.1:{}", p.metrics),
    ];
    for kv in [
        format!("ssl.truststore.certificates={}", certs.ca()),
        "ssl.client.auth=required".into(),
        "inter.broker.listener.name=SSL".into(),
        "authorizer.class.name=acl".into(),
        format!("super.users={super_users}"),
        "broker.session.timeout.ms=2000".into(),
        "broker.heartbeat.interval.ms=200".into(),
        "replica.lag.time.max.ms=2000".into(),
    ] {
        args.push("--set".into());
        args.push(kv);
    }
    (listen, args)
}

/// Starts every node at once (each waits for the quorum before it listens), one thread each;
/// returns each start's outcome, by node.
fn start_all(specs: Vec<(String, Vec<String>)>) -> Vec<Result<Broker>> {
    let threads: Vec<_> = specs
        .into_iter()
        .map(|(listen, args)| {
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Broker::start_listeners(&listen, &args)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|_| bail!("start thread panicked")))
        .collect()
}

/// Three nodes, certificates `node1..3`, with `super_users`.
fn start_cluster(certs: &TestCerts, super_users: &str) -> Result<(Vec<Broker>, Vec<Ports>)> {
    let ports: Vec<Ports> = (0..3).map(|_| Ports::pick()).collect::<Result<_>>()?;
    let specs = (1..=3)
        .map(|id| node_args(certs, id, &format!("node{id}"), &ports, super_users))
        .collect();
    let brokers = start_all(specs).into_iter().collect::<Result<Vec<_>>>()?;
    Ok((brokers, ports))
}

fn node_certs() -> Result<TestCerts> {
    let certs = TestCerts::generate()?;
    for id in 1..=3 {
        certs.add_node(
            &format!("node{id}"),
            &format!("/O=Strata/CN=node-{id}"),
            "DNS:localhost,IP:127.0.0.1",
            "ca",
        )?;
    }
    Ok(certs)
}

/// (leader, sorted ISR) of partition 0 of `topic`.
fn leader_and_isr(bootstrap: &str, topic: &str) -> Result<(i32, Vec<i32>)> {
    let md = consumer(bootstrap, &[])?
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .context("topic listed")?;
    let p = t.partitions().iter().find(|p| p.id() == 0).context("p0")?;
    let mut isr = p.isr().to_vec();
    isr.sort();
    Ok((p.leader(), isr))
}

/// Waits until partition 0 of `topic` has a leader and the ISR `want(leader)`.
async fn wait_isr(
    bootstrap: &str,
    topic: &str,
    want: impl Fn(i32) -> Vec<i32>,
    limit: Duration,
) -> Result<i32> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Ok((leader, isr)) = leader_and_isr(bootstrap, topic) {
            if leader > 0 && isr == want(leader) {
                return Ok(leader);
            }
            last = Some((leader, isr));
        }
        ensure!(
            Instant::now() < deadline,
            "{topic}-0 never reached the expected ISR; last (leader, isr): {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The quorum as `strata cluster status` through `bootstrap` shows it: (leader, voters whose
/// log end is known, live broker ids).
fn quorum_status(bootstrap: &str) -> Result<(i32, Vec<i32>, Vec<i32>)> {
    let out = strata_cli(&["cluster", "status", "--bootstrap-server", bootstrap])?;
    out.ensure_success("strata cluster status")?;
    let text = out.stdout_str();
    let leader = text
        .lines()
        .find_map(|l| l.strip_prefix("Quorum: leader "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|l| l.parse().ok())
        .with_context(|| format!("no quorum leader in:\n{text}"))?;
    let voters = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("voter "))
        .filter(|l| l.contains(": log end ") && !l.contains("unknown"))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect();
    let brokers = text
        .lines()
        .skip_while(|l| !l.starts_with("Brokers (live):"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    Ok((leader, voters, brokers))
}

/// Established TCP connections from the processes `pids` to local ports: peer port → count.
fn connections_from(pids: &BTreeSet<u32>) -> Result<Vec<u16>> {
    let mut cmd = Command::new("ss");
    cmd.args(["-Htnp", "state", "established"]);
    let out = run_command(cmd, &[], Duration::from_secs(10))?;
    out.ensure_success("ss")?;
    let mut ports = Vec::new();
    for line in out.stdout_str().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(peer), Some(process)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let pid = process
            .split("pid=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) && peer.starts_with("127.0.0.1:") {
            if let Some(port) = peer.rsplit(':').next().and_then(|p| p.parse().ok()) {
                ports.push(port);
            }
        }
    }
    Ok(ports)
}

/// Sends `records` to partition 0 of `topic` with acks=all, SIGKILLing node `kill.1` after
/// record `kill.0` (if given); fails unless every one is acknowledged.
async fn produce_all(
    bootstrap: &str,
    topic: &str,
    tag: &str,
    n: usize,
    mut kill: Option<(usize, &mut Broker)>,
) -> Result<()> {
    let producer = producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "60000"),
            ("linger.ms", "5"),
        ],
    )?;
    let mut pending = Vec::new();
    for (i, r) in numbered(n, tag, 1).iter().enumerate() {
        pending.push(enqueue(&producer, topic, r).await?);
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some((at, broker)) = kill.as_mut() {
            if i == *at {
                broker.sigkill()?;
            }
        }
    }
    for (i, f) in pending.into_iter().enumerate() {
        f.await
            .context("producer gone")?
            .map_err(|(e, _)| anyhow::anyhow!("{tag} record {i} not acknowledged: {e}"))?;
    }
    Ok(())
}

#[test]
fn quorum_and_replication_run_over_tls() {
    run(Duration::from_secs(300), async {
        let certs = node_certs()?;
        let supers = format!(
            "{};{};{};User:ANONYMOUS",
            principal(1),
            principal(2),
            principal(3)
        );
        let (mut brokers, ports) = start_cluster(&certs, &supers)?;
        let all = ports
            .iter()
            .map(Ports::plain_addr)
            .collect::<Vec<_>>()
            .join(",");

        // The quorum formed over TLS: a leader, three voters with known log ends.
        let (leader, voters, live) = quorum_status(&ports[0].plain_addr())?;
        ensure!((1..=3).contains(&leader), "quorum leader {leader}");
        ensure!(voters == vec![1, 2, 3], "voters with log ends: {voters:?}");
        ensure!(live == vec![1, 2, 3], "live brokers: {live:?}");

        // Replication over the SSL listener: acks=all with min.insync.replicas=2.
        create_replicated_topic(&all, "tls", 1, 3, &[("min.insync.replicas", "2")]).await?;
        produce_all(&all, "tls", "a", 1000, None).await?;
        let first = wait_isr(&all, "tls", |_| vec![1, 2, 3], Duration::from_secs(30)).await?;

        // The followers' connections go to the leader's SSL port, none to a PLAINTEXT port.
        let pids: BTreeSet<u32> = brokers.iter().filter_map(Broker::pid).collect();
        let conns = connections_from(&pids)?;
        let leader_ssl = ports[first as usize - 1].ssl;
        let to_leader_ssl = conns.iter().filter(|p| **p == leader_ssl).count();
        let to_plain: Vec<u16> = conns
            .iter()
            .copied()
            .filter(|p| ports.iter().any(|n| n.plain == *p))
            .collect();
        eprintln!("broker connections (peer ports): {conns:?}; leader SSL port {leader_ssl}");
        ensure!(
            to_leader_ssl >= 2,
            "expected the two followers connected to the leader's SSL port {leader_ssl}; \
             broker connections go to {conns:?}"
        );
        ensure!(
            to_plain.is_empty(),
            "brokers connected to PLAINTEXT ports {to_plain:?} (all: {conns:?})"
        );

        // SIGKILL the leader mid-stream: another takes over, nothing acknowledged is lost.
        let killed = &mut brokers[first as usize - 1];
        produce_all(&all, "tls", "b", 1000, Some((400, killed))).await?;
        let live_nodes: Vec<String> = (1..=3)
            .filter(|n| *n != first as usize)
            .map(|n| ports[n - 1].plain_addr())
            .collect();
        let live_bootstrap = live_nodes.join(",");
        let survivors: Vec<i32> = (1..=3).filter(|n| *n != first).collect();
        let second = wait_isr(
            &live_bootstrap,
            "tls",
            |_| survivors.clone(),
            Duration::from_secs(30),
        )
        .await?;
        ensure!(second != first, "the killed node {first} still leads");
        let mut want = numbered_values(1000, "a", 1);
        want[0].extend(numbered_values(1000, "b", 1).remove(0));
        let got = values_by_partition(&live_bootstrap, "tls", 1).await?;
        ensure!(
            got == want,
            "read back {} records, want exactly the 2000 acknowledged, in order",
            got[0].len()
        );
        let (leader, voters, _) = quorum_status(&live_nodes[0])?;
        ensure!(
            leader != first && (1..=3).contains(&leader),
            "quorum leader after the kill: {leader}"
        );
        ensure!(voters.len() >= 2, "voters with log ends: {voters:?}");
        Ok(())
    });
}

#[test]
fn node_principal_must_be_a_super_user() {
    run(Duration::from_secs(240), async {
        let certs = node_certs()?;
        let (_brokers, ports) = start_cluster(&certs, "User:ANONYMOUS")?;
        let all = ports
            .iter()
            .map(Ports::plain_addr)
            .collect::<Vec<_>>()
            .join(",");
        create_replicated_topic(&all, "denied", 1, 3, &[("min.insync.replicas", "2")]).await?;
        // Followers are refused CLUSTER_ACTION: after replica.lag.time.max.ms the leader is
        // alone in the ISR.
        let leader = wait_isr(&all, "denied", |l| vec![l], Duration::from_secs(30)).await?;
        let producer = producer(&all, &[("acks", "all"), ("message.timeout.ms", "5000")])?;
        let sent = enqueue(&producer, "denied", &numbered(1, "x", 1)[0])
            .await?
            .await
            .context("producer gone")?;
        ensure!(
            sent.is_err(),
            "an acks=all write was acknowledged with followers denied: {sent:?}"
        );
        let body = scrape(ports[leader as usize - 1].metrics)?;
        let denied: f64 = body
            .lines()
            .filter(|l| {
                l.starts_with("strata_authorization_denied_total") && l.contains("ClusterAction")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        ensure!(
            denied >= 1.0,
            "the leader counted no CLUSTER_ACTION denial:\n{}",
            body.lines()
                .filter(|l| l.contains("denied"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        Ok(())
    });
}

#[test]
fn a_node_with_a_foreign_certificate_cannot_join() {
    run(Duration::from_secs(300), async {
        let certs = node_certs()?;
        certs.add_node(
            "intruder",
            "/O=Strata/CN=node-3",
            "DNS:localhost,IP:127.0.0.1",
            "stranger-ca",
        )?;
        let supers = format!(
            "{};{};{};User:ANONYMOUS",
            principal(1),
            principal(2),
            principal(3)
        );
        let ports: Vec<Ports> = (0..3).map(|_| Ports::pick()).collect::<Result<_>>()?;
        let spec = |id: usize, cert: &str| node_args(&certs, id, cert, &ports, &supers);
        let (listen3, args3) = spec(3, "intruder");
        let intruder = std::thread::spawn(move || {
            let args: Vec<&str> = args3.iter().map(String::as_str).collect();
            Broker::start_listeners(&listen3, &args)
        });
        let mut good = start_all(vec![spec(1, "node1"), spec(2, "node2")])
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        let two = format!("{},{}", ports[0].plain_addr(), ports[1].plain_addr());

        // Nodes 1 and 2 are a majority of the three voters: they serve acks=all writes.
        let (leader, _, live) = quorum_status(&ports[0].plain_addr())?;
        ensure!(leader == 1 || leader == 2, "quorum leader {leader}");
        ensure!(live == vec![1, 2], "live brokers: {live:?}");
        create_replicated_topic(&two, "two", 1, 2, &[("min.insync.replicas", "2")]).await?;
        produce_all(&two, "two", "a", 200, None).await?;
        ensure!(
            values_by_partition(&two, "two", 1).await? == numbered_values(200, "a", 1),
            "the records written while node 3 knocks"
        );

        // Node 3 never gets a quorum leader, so it never listens (the harness gives up after
        // its ready timeout and kills it).
        let outcome = tokio::task::spawn_blocking(move || intruder.join())
            .await?
            .unwrap_or_else(|_| bail!("start thread panicked"));
        // Its log tail (in the error) shows the good nodes refusing its certificate.
        match outcome {
            Ok(_) => bail!("node 3 with a foreign certificate joined the cluster"),
            Err(e) => {
                let e = format!("{e:#}");
                ensure!(
                    e.contains("did not accept connections"),
                    "node 3 failed otherwise: {e}"
                );
                ensure!(
                    e.contains("received fatal alert: UnknownCA"),
                    "node 3's log does not show its certificate refused: {e}"
                );
            }
        }
        // The quorum leader (the only good node that keeps dialing node 3) logged the refused
        // link: node 3's certificate is not from the cluster's CA.
        let mut logged = Vec::new();
        for (i, b) in good.iter().enumerate() {
            let log = std::fs::read_to_string(b.log_path())?;
            logged.extend(
                log.lines()
                    .filter(|l| l.contains("quorum link to node 3"))
                    .filter(|l| l.contains("invalid peer certificate: UnknownIssuer"))
                    .map(|l| format!("node {}: {l}", i + 1))
                    .take(1),
            );
        }
        ensure!(
            !logged.is_empty(),
            "neither node 1 nor node 2 logged the link to node 3 refused for its certificate"
        );
        eprintln!("{}", logged.join("\n"));
        let (leader, _, live) = quorum_status(&ports[1].plain_addr())?;
        ensure!(leader == 1 || leader == 2, "quorum leader after: {leader}");
        ensure!(live == vec![1, 2], "live brokers after: {live:?}");

        // The same node with a certificate from the cluster's CA joins.
        let (listen3, args3) = spec(3, "node3");
        let args: Vec<&str> = args3.iter().map(String::as_str).collect();
        let node3 = Broker::start_listeners(&listen3, &args)?;
        let (_, _, live) = quorum_status(&ports[2].plain_addr())?;
        ensure!(live == vec![1, 2, 3], "live brokers with node 3: {live:?}");
        good.push(node3);
        Ok(())
    });
}

#[test]
fn node_link_misconfigurations_refuse_to_start() {
    run(Duration::from_secs(120), async {
        let certs = node_certs()?;
        let dir = tempfile::tempdir()?;
        let (plain, ssl, cluster) = (free_port()?, free_port()?, free_port()?);
        let listen = format!("127.0.0.1:{plain},SSL://127.0.0.1:{ssl}");
        let voters = format!("1@127.0.0.1:{cluster}");
        let ssl_cluster = format!("SSL://127.0.0.1:{cluster}");
        let trust = format!("ssl.truststore.certificates={}", certs.ca());
        let (cert, key) = (certs.arg("node1.pem"), certs.arg("node1.key"));
        let tls = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["--cluster-listen", &ssl_cluster],
                "ssl.keystore.certificate.chain (--tls-cert)",
            ),
            (
                [&["--cluster-listen", ssl_cluster.as_str()][..], &tls].concat(),
                "needs ssl.truststore.certificates",
            ),
            (
                [
                    &tls[..],
                    &[
                        "--set",
                        "inter.broker.listener.name=INTERNAL",
                        "--set",
                        &trust,
                    ],
                ]
                .concat(),
                "inter.broker.listener.name = INTERNAL: no such listener",
            ),
            (
                [&tls[..], &["--set", "inter.broker.listener.name=SSL"]].concat(),
                "inter.broker.listener.name = SSL",
            ),
        ];
        for (extra, want) in cases {
            let mut cmd = Command::new(strata_bin()?);
            cmd.args(["serve", "--data-dir"])
                .arg(dir.path())
                .args(["--listen", &listen, "--node-id", "1", "--voters", &voters])
                .args(&extra);
            let out = run_command(cmd, &[], Duration::from_secs(30))?;
            let text = format!("{}{}", out.stdout_str(), out.stderr);
            ensure!(!out.status.success(), "{extra:?} started:\n{text}");
            ensure!(
                text.contains(want),
                "{extra:?}: wanted {want:?} in:\n{text}"
            );
        }
        // SASL between brokers is refused by name.
        let sasl_listen = format!("127.0.0.1:{plain},SASL_SSL://127.0.0.1:{ssl}");
        let mut cmd = Command::new(strata_bin()?);
        cmd.args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &sasl_listen])
            .args(tls)
            .args(["--set", "inter.broker.listener.name=SASL_SSL"]);
        let out = run_command(cmd, &[], Duration::from_secs(30))?;
        let text = format!("{}{}", out.stdout_str(), out.stderr);
        ensure!(
            !out.status.success(),
            "SASL_SSL inter-broker started:\n{text}"
        );
        ensure!(
            text.contains("SASL between brokers is not supported"),
            "SASL_SSL inter-broker:\n{text}"
        );
        Ok(())
    });
}
