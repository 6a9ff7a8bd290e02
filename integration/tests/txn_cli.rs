//! `strata txn list|describe` against a real broker while a confluent-kafka producer holds a
//! transaction open (`py/txn_hold.py`), then after it commits: the exact state, producer and
//! partitions the coordinator reports (ListTransactions, DescribeTransactions through
//! FindCoordinator key type 1), and errors for unknown ids and states.

use std::time::Duration;

use anyhow::{ensure, Result};
use strata_integration::tools::strata_cli;
use strata_integration::txn::{PyProcess, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

const TOPIC: &str = "txn-cli";
const TXN_ID: &str = "cli-txn";

fn describe(bootstrap: &str) -> Result<Vec<(String, String)>> {
    let out = strata_cli(&["txn", "describe", TXN_ID, "--bootstrap-server", bootstrap])?;
    out.ensure_success("strata txn describe")?;
    Ok(out
        .stdout_str()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

fn field(rows: &[(String, String)], key: &str) -> String {
    rows.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// `(id, producer id, state)` rows of `strata txn list`.
fn list(bootstrap: &str, state: Option<&str>) -> Result<Vec<(String, String, String)>> {
    let mut args = vec!["txn", "list", "--bootstrap-server", bootstrap];
    if let Some(s) = state {
        args.extend(["--state", s]);
    }
    let out = strata_cli(&args)?;
    out.ensure_success("strata txn list")?;
    let text = out.stdout_str();
    let mut lines = text.lines();
    ensure!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("TRANSACTIONAL-ID")),
        "no header:\n{text}"
    );
    Ok(lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect())
}

#[test]
fn txn_list_and_describe_show_the_coordinators_state() {
    run(Duration::from_secs(120), async {
        let broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, TOPIC, 2, &[]).await?;
        let mut hold = PyProcess::spawn("txn_hold.py", &[&b, TOPIC, TXN_ID])?;
        hold.wait_line(0, Duration::from_secs(60), |l| l == "STEP open")
            .await?;

        let open = describe(&b)?;
        ensure!(field(&open, "State") == "Ongoing", "describe: {open:?}");
        ensure!(field(&open, "ProducerEpoch") == "0", "describe: {open:?}");
        ensure!(field(&open, "TimeoutMs") == "120000", "describe: {open:?}");
        ensure!(
            field(&open, "Partitions") == format!("{TOPIC}-0,{TOPIC}-1"),
            "describe: {open:?}"
        );
        let pid = field(&open, "ProducerId");
        ensure!(
            pid.parse::<i64>().is_ok_and(|p| p >= 0),
            "describe: {open:?}"
        );
        ensure!(
            list(&b, None)? == vec![(TXN_ID.to_string(), pid.clone(), "Ongoing".to_string())],
            "list while open"
        );
        ensure!(list(&b, Some("CompleteCommit"))?.is_empty(), "state filter");

        hold.send("commit")?;
        hold.finish(Duration::from_secs(60)).await?;
        // The commit completes once its markers are written.
        let mut done = Vec::new();
        for _ in 0..100 {
            done = describe(&b)?;
            if field(&done, "State") == "CompleteCommit" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(
            field(&done, "State") == "CompleteCommit",
            "after commit: {done:?}"
        );
        ensure!(
            field(&done, "Partitions").is_empty(),
            "after commit: {done:?}"
        );
        ensure!(field(&done, "ProducerId") == pid, "after commit: {done:?}");
        ensure!(
            list(&b, Some("CompleteCommit"))?
                == vec![(TXN_ID.to_string(), pid, "CompleteCommit".to_string())],
            "list after commit"
        );

        let unknown = strata_cli(&["txn", "describe", "nobody", "--bootstrap-server", &b])?;
        ensure!(
            !unknown.status.success(),
            "describe of an unknown id succeeded"
        );
        ensure!(
            unknown.stderr.contains("TRANSACTIONAL_ID_NOT_FOUND"),
            "unknown id: {}",
            unknown.stderr
        );
        let bad = strata_cli(&[
            "txn",
            "list",
            "--state",
            "Sleeping",
            "--bootstrap-server",
            &b,
        ])?;
        ensure!(
            !bad.status.success(),
            "an unknown state filter was accepted"
        );
        Ok(())
    });
}
