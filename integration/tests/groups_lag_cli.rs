//! The lag tooling: `strata group list|describe|reset-offsets|delete` against a real group,
//! with exact committed offsets, log end offsets and lag, and the `strata_group_lag` metric.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use strata_integration::broker::free_port;
use strata_integration::groups::{describe_lag, wait_until, GroupConsumer};
use strata_integration::{create_topic, producer, run, send_all, strata_cli, Broker, Outgoing};

fn records(n: usize, from: usize, ts: i64) -> Vec<Outgoing> {
    (from..from + n)
        .map(|i| Outgoing {
            partition: Some((i % 4) as i32),
            value: format!("v{i}").into_bytes(),
            timestamp: Some(ts),
            ..Outgoing::default()
        })
        .collect()
}

fn cli(args: &[&str], b: &str) -> anyhow::Result<String> {
    let mut all = args.to_vec();
    all.extend(["--bootstrap-server", b]);
    let out = strata_cli(&all)?;
    out.ensure_success(&format!("strata {args:?}"))?;
    Ok(out.stdout_str())
}

/// (partition, current, end, lag) per row.
fn lag_table(b: &str, group: &str) -> anyhow::Result<Vec<(i32, String, String, String)>> {
    Ok(describe_lag(b, group)?
        .into_iter()
        .map(|r| (r.1, r.2, r.3, r.4))
        .collect())
}

fn row(p: i32, cur: i64, end: i64) -> (i32, String, String, String) {
    (p, cur.to_string(), end.to_string(), (end - cur).to_string())
}

fn scrape(port: u16) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

#[test]
fn describe_lag_reset_offsets_and_delete() {
    run(Duration::from_secs(150), async {
        let metrics_port = free_port()?;
        let metrics = format!("127.0.0.1:{metrics_port}");
        let broker = Broker::start(&[
            "--set",
            "group.initial.rebalance.delay.ms=0",
            "--set",
            "group.min.session.timeout.ms=1000",
            "--metrics-listen",
            &metrics,
        ])?;
        let b = broker.bootstrap();
        create_topic(&b, "lag", 4, &[]).await?;
        let p = producer(&b, &[])?;
        const T1: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        const T2: i64 = T1 + 3_600_000; // one hour later
        send_all(&p, "lag", &records(100, 0, T1)).await?;

        // Nothing committed yet: describe says the group does not exist.
        let none = strata_cli(&["group", "describe", "lag-g", "--bootstrap-server", &b])?;
        assert!(!none.status.success());

        let c = GroupConsumer::start("c", &b, "lag-g", "lag", 3000, None)?;
        wait_until("100 consumed", Duration::from_secs(40), || {
            c.records().len() >= 100
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let live = describe_lag(&b, "lag-g")?;
        assert!(
            live.iter().all(|r| r.5.starts_with("rdkafka-")),
            "members shown: {live:?}"
        );
        assert_eq!(
            cli(&["group", "list"], &b)?.lines().collect::<Vec<_>>(),
            vec!["lag-g"]
        );
        c.stop()?;
        assert_eq!(
            lag_table(&b, "lag-g")?,
            (0..4).map(|p| row(p, 25, 25)).collect::<Vec<_>>()
        );

        // 40 more records: lag is exactly 10 per partition, in the CLI and in the metric.
        send_all(&p, "lag", &records(40, 100, T2)).await?;
        assert_eq!(
            lag_table(&b, "lag-g")?,
            (0..4).map(|p| row(p, 25, 35)).collect::<Vec<_>>()
        );
        wait_until("strata_group_lag = 10", Duration::from_secs(20), || {
            scrape(metrics_port)
                .map(|m| (0..4).all(|p| m.contains(&format!("strata_group_lag{{group=\"lag-g\",topic=\"lag\",partition=\"{p}\"}} 10"))))
                .unwrap_or(false)
        })
        .await?;

        // Dry run changes nothing; --execute applies.
        let dry = cli(
            &[
                "group",
                "reset-offsets",
                "lag-g",
                "--topic",
                "lag",
                "--to-earliest",
            ],
            &b,
        )?;
        assert!(dry.contains("dry run"), "{dry}");
        assert_eq!(
            lag_table(&b, "lag-g")?,
            (0..4).map(|p| row(p, 25, 35)).collect::<Vec<_>>()
        );
        cli(
            &[
                "group",
                "reset-offsets",
                "lag-g",
                "--topic",
                "lag",
                "--to-earliest",
                "--execute",
            ],
            &b,
        )?;
        assert_eq!(
            lag_table(&b, "lag-g")?,
            (0..4).map(|p| row(p, 0, 35)).collect::<Vec<_>>()
        );
        let c = GroupConsumer::start("c", &b, "lag-g", "lag", 3000, None)?;
        wait_until("140 re-read", Duration::from_secs(40), || {
            c.records().len() >= 140
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(c.records().len(), 140);
        // Resetting a group with members is refused.
        let busy = strata_cli(&[
            "group",
            "reset-offsets",
            "lag-g",
            "--topic",
            "lag",
            "--to-latest",
            "--execute",
            "--bootstrap-server",
            &b,
        ])?;
        assert!(
            !busy.status.success() && busy.stderr.contains("inactive"),
            "{}",
            busy.stderr
        );
        c.stop()?;

        // --to-offset (clamped per partition), then --to-datetime between the two batches.
        cli(
            &[
                "group",
                "reset-offsets",
                "lag-g",
                "--topic",
                "lag",
                "--to-offset",
                "30",
                "--execute",
            ],
            &b,
        )?;
        assert_eq!(
            lag_table(&b, "lag-g")?,
            (0..4).map(|p| row(p, 30, 35)).collect::<Vec<_>>()
        );
        let c = GroupConsumer::start("c", &b, "lag-g", "lag", 3000, None)?;
        wait_until("20 re-read", Duration::from_secs(40), || {
            c.records().len() >= 20
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut got: Vec<(i32, i64)> = c.records().iter().map(|r| (r.0, r.1)).collect();
        got.sort();
        assert_eq!(
            got,
            (0..4)
                .flat_map(|p| (30..35).map(move |o| (p, o)))
                .collect::<Vec<_>>()
        );
        c.stop()?;
        cli(
            &[
                "group",
                "reset-offsets",
                "lag-g",
                "--topic",
                "lag",
                "--to-datetime",
                "2023-11-14T22:30:00Z",
                "--execute",
            ],
            &b,
        )?;
        assert_eq!(
            lag_table(&b, "lag-g")?,
            (0..4).map(|p| row(p, 25, 35)).collect::<Vec<_>>()
        );

        let deleted = cli(&["group", "delete", "lag-g"], &b)?;
        assert!(deleted.contains("was successful"), "{deleted}");
        assert_eq!(cli(&["group", "list"], &b)?.trim(), "");
        Ok(())
    });
}
