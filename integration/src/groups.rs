//! Consumer-group helpers: [`GroupConsumer`] runs `group-consumer` (a librdkafka group member,
//! `src/bin/group-consumer.rs`) as a child process and collects what it prints, so a test can
//! stop it cleanly (close its stdin) or SIGKILL it; [`describe_lag`] parses
//! `strata group describe`; [`offsets_partition_for`] is where Kafka puts a group.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::tools::strata_cli;

/// A consumed record: (partition, offset, value).
pub type Consumed = (i32, i64, String);

/// A `group-consumer` child process.
pub struct GroupConsumer {
    /// A label for messages.
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
}

fn consumer_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or_else(|| anyhow!("unexpected test executable path"))?;
    let bin = dir.join("group-consumer");
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build -p strata-integration --bins`",
            bin.display()
        );
    }
    Ok(bin)
}

impl GroupConsumer {
    /// Starts a consumer in `group` subscribed to `topic` with the given session timeout and
    /// optional static `group.instance.id`.
    pub fn start(
        name: &str,
        bootstrap: &str,
        group: &str,
        topic: &str,
        session_ms: u32,
        instance: Option<&str>,
    ) -> Result<GroupConsumer> {
        let mut cmd = Command::new(consumer_bin()?);
        cmd.args([bootstrap, group, topic, &session_ms.to_string()]);
        if let Some(i) = instance {
            cmd.arg(i);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().context("spawning group-consumer")?;
        let stdout = child.stdout.take().context("stdout")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
            }
        });
        Ok(GroupConsumer {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Records printed so far, in order.
    pub fn records(&self) -> Vec<Consumed> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let mut it = l.strip_prefix("RECORD ")?.splitn(3, ' ');
                Some((
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                    it.next().unwrap_or("").to_string(),
                ))
            })
            .collect()
    }

    /// Number of `ASSIGNED` lines (one per rebalance that gave it partitions or none).
    pub fn assignments(&self) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with("ASSIGNED"))
            .count()
    }

    /// The partitions of the last assignment, if any assignment happened.
    pub fn assigned(&self) -> Option<Vec<i32>> {
        let lines = self.lines();
        let last = lines.iter().rev().find(|l| l.starts_with("ASSIGNED"))?;
        Some(
            last.trim_start_matches("ASSIGNED")
                .trim()
                .split(',')
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect(),
        )
    }

    /// Closes stdin and waits for a clean exit (`CLOSED`).
    pub fn stop(mut self) -> Result<Vec<String>> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                bail!("{} did not exit after its stdin closed", self.name);
            }
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(100));
        let lines = self.lines();
        if !lines.iter().any(|l| l == "CLOSED") {
            bail!("{} exited without closing cleanly", self.name);
        }
        Ok(lines)
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill().context("kill")?;
        self.child.wait().context("reap")?;
        Ok(())
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes (an error naming `what`).
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// One row of `strata group describe`: (topic, partition, current, log end, lag, consumer id).
pub type LagRow = (String, i32, String, String, String, String);

/// Runs `strata group describe GROUP` and returns its table rows.
pub fn describe_lag(bootstrap: &str, group: &str) -> Result<Vec<LagRow>> {
    let out = strata_cli(&["group", "describe", group, "--bootstrap-server", bootstrap])?;
    out.ensure_success("strata group describe")?;
    let text = out.stdout_str();
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("GROUP ") {
            in_table = true;
            continue;
        }
        if !in_table || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 7 {
            bail!("unexpected describe line: {line}\n{text}");
        }
        rows.push((
            cols[1].to_string(),
            cols[2].parse().unwrap_or(-1),
            cols[3].to_string(),
            cols[4].to_string(),
            cols[5].to_string(),
            cols[6].to_string(),
        ));
    }
    Ok(rows)
}

/// Java's `String.hashCode`: `h = 31 * h + c` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs(groupId.hashCode()) % partitions` (`Utils.abs(i32::MIN)` is 0): the
/// `__consumer_offsets` partition of a group, whose leader is the group's coordinator.
pub fn offsets_partition_for(group: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}
