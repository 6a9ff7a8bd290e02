//! A second client family: kafka-python (pure Python, its own group and offset code) joins a
//! group, consumes, commits and resumes exactly after its commits; a librdkafka group reads the
//! same topic independently; `strata group describe` shows kafka-python's commits.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use strata_integration::groups::{describe_lag, wait_until, GroupConsumer};
use strata_integration::tools::run_command;
use strata_integration::{create_topic, producer, run, send_all, Broker, Outgoing};

fn records(n: usize, from: usize) -> Vec<Outgoing> {
    (from..from + n)
        .map(|i| Outgoing {
            partition: Some((i % 2) as i32),
            value: format!("v{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

/// Runs the kafka-python consumer until it has `count` records; returns (partition, offset, value).
fn python_consume(
    bootstrap: &str,
    group: &str,
    topic: &str,
    count: usize,
) -> Result<Vec<(i32, i64, String)>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/group_consume.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args([bootstrap, group, topic, &count.to_string()]);
    let out = run_command(cmd, &[], Duration::from_secs(60))?;
    out.ensure_success("group_consume.py (install kafka-python with integration/setup.sh)")?;
    let text = out.stdout_str();
    anyhow::ensure!(
        text.lines().last() == Some("DONE"),
        "no DONE:\n{text}\n{}",
        out.stderr
    );
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.strip_prefix("RECORD ")?.splitn(3, ' ');
            Some((
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
                it.next()?.to_string(),
            ))
        })
        .collect())
}

#[test]
fn kafka_python_group_consumes_commits_and_resumes() {
    run(Duration::from_secs(150), async {
        let broker = Broker::start(&["--set", "group.initial.rebalance.delay.ms=0"])?;
        let b = broker.bootstrap();
        create_topic(&b, "py", 2, &[]).await?;
        let p = producer(&b, &[])?;
        send_all(&p, "py", &records(60, 0)).await?;
        let bb = b.clone();
        let first =
            tokio::task::spawn_blocking(move || python_consume(&bb, "pyg", "py", 60)).await??;
        let mut keys: Vec<(i32, i64)> = first.iter().map(|r| (r.0, r.1)).collect();
        keys.sort();
        assert_eq!(
            keys,
            (0..2)
                .flat_map(|p| (0..30).map(move |o| (p, o)))
                .collect::<Vec<_>>()
        );
        for (p, o, v) in &first {
            assert_eq!(v, &format!("v{}", o * 2 + i64::from(*p)));
        }
        let rows = describe_lag(&b, "pyg")?;
        assert_eq!(
            rows.iter()
                .map(|r| (r.1, r.2.as_str(), r.4.as_str()))
                .collect::<Vec<_>>(),
            vec![(0, "30", "0"), (1, "30", "0")]
        );

        // Resume: only the 10 new records.
        send_all(&p, "py", &records(10, 60)).await?;
        let bb = b.clone();
        let second =
            tokio::task::spawn_blocking(move || python_consume(&bb, "pyg", "py", 10)).await??;
        let mut keys: Vec<(i32, i64)> = second.iter().map(|r| (r.0, r.1)).collect();
        keys.sort();
        assert_eq!(
            keys,
            (0..2)
                .flat_map(|p| (30..35).map(move |o| (p, o)))
                .collect::<Vec<_>>()
        );

        // A librdkafka group reads everything independently.
        let c = GroupConsumer::start("rd", &b, "rdg", "py", 6000, None)?;
        wait_until("70 read by librdkafka", Duration::from_secs(40), || {
            c.records().len() >= 70
        })
        .await?;
        c.stop()?;
        let rows = describe_lag(&b, "pyg")?;
        assert_eq!(
            rows.iter()
                .map(|r| (r.1, r.2.as_str(), r.4.as_str()))
                .collect::<Vec<_>>(),
            vec![(0, "35", "0"), (1, "35", "0")]
        );
        Ok(())
    });
}
