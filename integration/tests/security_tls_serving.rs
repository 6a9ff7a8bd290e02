//! A TLS listener serves real Kafka clients (issue 13, slice 1): one `strata serve` with a
//! PLAINTEXT and an SSL listener advertised as `localhost:P2`
//! ([`strata_integration::tls_broker`]), clients `tls_client.py` and kcat over SSL, librdkafka
//! over PLAINTEXT.
//!
//! Over SSL, 60 keyed records (values up to ~150 KB, so fetches span many TLS records) are
//! acknowledged at offsets `i / 3` of partition `i % 3`; consumer A of a group reads 35 and
//! commits exactly what it read, consumer B reads exactly the other 25 and commits the ends.
//! Metadata, DescribeCluster and the group's coordinator over SSL name exactly `localhost:P2`;
//! Metadata over PLAINTEXT names exactly `127.0.0.1:P1` (same node id). The PLAINTEXT listener
//! reads the 60 records byte for byte; 30 more produced on PLAINTEXT and 5 by kcat over SSL land
//! at the expected offsets; consumer C of the group resumes over SSL and reads exactly those 35;
//! kcat over SSL and librdkafka over PLAINTEXT both read all 95 exactly. No TLS handshake
//! failed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context};
use strata_integration::certs::TestCerts;
use strata_integration::kcat_tls::{kcat_async, kcat_read};
use strata_integration::pyclient::{committed, recs, with, Rec};
use strata_integration::tls_broker::{TlsBroker, HANDSHAKE_FAILURES};
use strata_integration::tls_clients::{ensure_acks, nodes, plain_brokers, plain_read, py};
use strata_integration::tls_records::{brief, ensure_same, expected, key, tls_value};
use strata_integration::{producer, run, send_all, Outgoing};

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
        let a = recs(&a_lines, "REC A")?;
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
        let b = recs(&b_lines, "REC B")?;
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
        let out = kcat_async(
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
        ensure_same(
            "consumer C resuming over SSL",
            recs(&c_lines, "REC C")?,
            new,
        )?;
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
