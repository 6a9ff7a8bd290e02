//! The cluster's operator tools against real processes: `deploy/local-cluster.sh` starts three
//! nodes and an S3 server on loopback; `strata cluster status` reports the quorum, the brokers
//! and the controller, then an under-replicated partition once a node is killed (-9); the
//! script stops everything it started.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use strata_integration::broker::{signal, strata_bin};
use strata_integration::client::{create_replicated_topic, numbered};
use strata_integration::tools::run_command;
use strata_integration::{producer, run, send_all, strata_cli};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local-cluster.sh")
}

fn local_cluster(cmd: &str, dir: &std::path::Path, base: u16) -> Result<String> {
    let mut c = Command::new("bash");
    c.arg(script())
        .arg(cmd)
        .arg(dir)
        .env("STRATA_PORT_BASE", base.to_string())
        .env("STRATA_BIN", strata_bin()?);
    let out = run_command(c, b"", Duration::from_secs(120))?;
    if !out.status.success() {
        for f in ["node1.log", "node2.log", "node3.log", "s3.log"] {
            let log = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            let tail: String = log
                .chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprintln!("----- {f} -----\n{tail}");
        }
    }
    out.ensure_success(&format!("local-cluster.sh {cmd}"))?;
    Ok(out.stdout_str())
}

/// `strata cluster status` output, or its error text while the cluster is still settling.
fn status(bootstrap: &str) -> Result<String> {
    let out = strata_cli(&["cluster", "status", "--bootstrap-server", bootstrap])?;
    if out.status.success() {
        Ok(out.stdout_str())
    } else {
        Ok(format!("(failed) {}", out.stderr))
    }
}

/// Stops the script's processes when the test ends, passed or failed.
struct StopOnDrop<'a>(&'a std::path::Path, u16);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = local_cluster("stop", self.0, self.1);
    }
}

#[test]
fn local_cluster_script_and_cluster_status() {
    run(Duration::from_secs(180), async {
        let dir = tempfile::tempdir()?;
        // Ports base..base+2 (Kafka), base+100.. (cluster), base-92 (S3): below the kernel's
        // ephemeral range (32768+), derived from the pid so parallel runs differ; a start that
        // loses a port race is stopped and retried on another base.
        let mut attempt = 0u32;
        let (base, bootstrap) = loop {
            let base = 10_092 + ((std::process::id() + attempt * 7) % 1500) as u16 * 10;
            let stop = StopOnDrop(dir.path(), base);
            match local_cluster("start", dir.path(), base) {
                Ok(b) => {
                    std::mem::forget(stop);
                    break (base, b);
                }
                Err(e) if attempt < 2 => {
                    drop(stop);
                    eprintln!("local-cluster.sh start on base {base} failed ({e}); retrying");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let _stop = StopOnDrop(dir.path(), base);
        ensure!(
            bootstrap.trim().split(',').count() == 3,
            "bootstrap: {bootstrap}"
        );
        let first = format!("127.0.0.1:{base}");
        create_replicated_topic(bootstrap.trim(), "ops", 2, 3, &[]).await?;

        let healthy = Instant::now() + Duration::from_secs(20);
        loop {
            let out = status(&first)?;
            let ok = out.contains("Controller (metadata quorum leader):")
                && (1..=3).all(|v| out.contains(&format!("voter {v}: log end")))
                && out.contains("Partitions: 2, under-replicated: 0, offline: 0")
                && (0..3).all(|i| out.contains(&format!("127.0.0.1:{}", base + i)));
            if ok {
                break;
            }
            ensure!(Instant::now() < healthy, "status never healthy:\n{out}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // `strata topic describe` through one node: every partition's leader, replicas, ISR and
        // offsets, the offsets asked of each partition's own leader.
        send_all(
            &producer(bootstrap.trim(), &[("acks", "all")])?,
            "ops",
            &numbered(10, "o", 2),
        )
        .await?;
        let described = strata_cli(&["topic", "describe", "ops", "--bootstrap-server", &first])?;
        described.ensure_success("strata topic describe")?;
        let text = described.stdout_str();
        let hw: Vec<i64> = text
            .lines()
            .filter_map(|l| l.split("HighWatermark: ").nth(1))
            .map(|v| v.trim().parse().unwrap_or(-1))
            .collect();
        ensure!(hw == vec![5, 5], "high watermarks {hw:?} in:\n{text}");
        ensure!(
            text.matches("Replicas: [").count() == 2 && text.contains("Isr: ["),
            "{text}"
        );

        // Kill node 3: it leaves the broker list and both partitions become under-replicated.
        let pid: u32 = std::fs::read_to_string(dir.path().join("node3.pid"))?
            .trim()
            .parse()
            .context("node3 pid")?;
        signal(pid, libc::SIGKILL)?;
        let degraded = Instant::now() + Duration::from_secs(60);
        loop {
            let out = status(&first)?;
            if out.contains("under-replicated: 2")
                && !out.contains(&format!("127.0.0.1:{}", base + 2))
            {
                break;
            }
            ensure!(
                Instant::now() < degraded,
                "status never showed the loss:\n{out}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        local_cluster("stop", dir.path(), base)?;
        for n in 1..=2 {
            ensure!(
                !dir.path().join(format!("node{n}.pid")).exists(),
                "node{n} not stopped"
            );
        }
        Ok(())
    });
}
