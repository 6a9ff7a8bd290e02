//! Helpers of the transaction scenarios (`tests/txn_*.rs`): the Python scripts in
//! `integration/py/txn_*.py` (confluent-kafka, librdkafka bundled; installed by
//! `integration/setup.sh`) run against the real broker, either to completion
//! ([`run_script`]) or interactively ([`PyProcess`]: the test reads their lines as they come,
//! kills or restarts brokers at the moments the script announces, and answers on stdin).
//!
//! Script conventions (see `py/txn_common.py`): `REC <label> <partition> <offset> <value>` for
//! a record read back, `KV <key> <value>` for an outcome, `STEP <name>` at a phase,
//! `FAIL: <message>` and exit status 1 for a failed check, `DONE` as the last line of a run
//! that passed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::{forget_pid, remember_pid};
use crate::groups::offsets_partition_for;
use crate::raw::RawConn;
use crate::tools::run_command;

/// Partitions of `__transaction_state` (Kafka's `transaction.state.log.num.partitions`).
pub const TXN_STATE_PARTITIONS: i32 = 50;

/// Broker settings every transaction scenario uses: no initial rebalance delay, short
/// sessions allowed.
pub const TXN_BROKER_ARGS: &[&str] = &[
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "group.min.session.timeout.ms=1000",
];

/// Path of `integration/py/<name>`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py").join(name)
}

/// The lines a finished script printed on stdout, and its stderr.
#[derive(Debug, Clone)]
pub struct ScriptOutput {
    /// Stdout, line by line.
    pub lines: Vec<String>,
    /// Stderr (diagnostics).
    pub stderr: String,
}

impl ScriptOutput {
    /// Records printed as `REC <label> ...`: (partition, offset, value), as printed.
    pub fn records(&self, label: &str) -> Vec<(i32, i64, String)> {
        records(&self.lines, label)
    }

    /// The value of the last `KV <key> <value>` line.
    pub fn kv(&self, key: &str) -> Option<String> {
        kv(&self.lines, key)
    }

    /// The value of `KV <key>`, or an error naming the missing key.
    pub fn need(&self, key: &str) -> Result<String> {
        self.kv(key).with_context(|| {
            format!(
                "the script printed no `KV {key}`:\n{}",
                self.lines.join("\n")
            )
        })
    }
}

/// Runs `python3 -u py/<name> args...` to completion within `timeout`; fails unless it exits
/// 0 with `DONE` as its last line (the error carries its `FAIL:` line, stdout and stderr).
pub fn run_script(name: &str, args: &[&str], timeout: Duration) -> Result<ScriptOutput> {
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg(script(name)).args(args);
    let out = run_command(cmd, &[], timeout)
        .with_context(|| format!("running {name} (confluent-kafka: integration/setup.sh)"))?;
    let text = out.stdout_str();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    if !out.status.success() || lines.last().map(String::as_str) != Some("DONE") {
        bail!(
            "{name} {args:?} exited with {} without DONE: {}\n--- stdout ---\n{text}\n--- stderr ---\n{}",
            out.status,
            first_failure(&lines).unwrap_or("(no FAIL line)"),
            tail(&out.stderr, 8000)
        );
    }
    Ok(ScriptOutput {
        lines,
        stderr: out.stderr,
    })
}

/// [`run_script`] on a blocking thread, for async tests.
pub async fn run_script_async(
    name: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<ScriptOutput> {
    let name = name.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_script(&name, &args, timeout)
    })
    .await?
}

/// `REC <label> <partition> <offset> <value>` lines: (partition, offset, value).
pub fn records(lines: &[String], label: &str) -> Vec<(i32, i64, String)> {
    let prefix = format!("REC {label} ");
    lines
        .iter()
        .filter_map(|l| {
            let mut it = l.strip_prefix(&prefix)?.splitn(3, ' ');
            Some((
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
                it.next()?.to_string(),
            ))
        })
        .collect()
}

/// The value of the last `KV <key> <value>` line.
pub fn kv(lines: &[String], key: &str) -> Option<String> {
    let prefix = format!("KV {key} ");
    lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

/// Every value of `KV <key> <value>` lines, in order.
pub fn kvs(lines: &[String], key: &str) -> Vec<String> {
    let prefix = format!("KV {key} ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

fn first_failure(lines: &[String]) -> Option<&str> {
    lines
        .iter()
        .find(|l| l.starts_with("FAIL: "))
        .map(String::as_str)
}

fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[derive(Default)]
struct Shared {
    lines: Vec<String>,
    stdout_closed: bool,
    stderr: String,
}

/// A running script whose stdout lines the test follows and whose stdin it writes. Dropping
/// it kills the process.
pub struct PyProcess {
    name: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
}

impl PyProcess {
    /// Starts `python3 -u py/<name> args...`.
    pub fn spawn(name: &str, args: &[&str]) -> Result<PyProcess> {
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(script(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {cmd:?} (confluent-kafka: integration/setup.sh)"))?;
        remember_pid(child.id());
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let stdout = child.stdout.take().context("stdout")?;
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*s;
                if let Ok(mut sh) = m.lock() {
                    sh.lines.push(line);
                }
                cv.notify_all();
            }
            let (m, cv) = &*s;
            if let Ok(mut sh) = m.lock() {
                sh.stdout_closed = true;
            }
            cv.notify_all();
        });
        let mut stderr = child.stderr.take().context("stderr")?;
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut sh) = s.0.lock() {
                            sh.stderr.push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(PyProcess {
            name: name.to_string(),
            child: Some(child),
            stdin,
            shared,
        })
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.shared
            .0
            .lock()
            .map(|s| s.lines.clone())
            .unwrap_or_default()
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.shared
            .0
            .lock()
            .map(|s| s.stderr.clone())
            .unwrap_or_default()
    }

    /// A description of the process's output for error messages.
    pub fn report(&self) -> String {
        let lines = self.lines();
        let shown = &lines[lines.len().saturating_sub(60)..];
        format!(
            "{}: {}\n--- stdout (last {} lines) ---\n{}\n--- stderr (tail) ---\n{}",
            self.name,
            first_failure(&lines).unwrap_or("(no FAIL line)"),
            shown.len(),
            shown.join("\n"),
            tail(&self.stderr(), 8000)
        )
    }

    /// The first stdout line at index `from` or later that satisfies `pred`.
    fn find_line(&self, from: usize, pred: &dyn Fn(&str) -> bool) -> Option<(usize, String)> {
        let sh = self.shared.0.lock().ok()?;
        sh.lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| pred(l.as_str()))
            .map(|(i, l)| (i, l.clone()))
    }

    /// Blocks until a stdout line at index `from` or later satisfies `pred`; returns its
    /// index and text. Fails if the script's stdout closes (it exited) or `timeout` passes.
    /// Blocking on purpose: a test that kills a broker at the line's arrival reacts within
    /// microseconds.
    pub fn wait_line_blocking(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.shared;
        let mut sh = m.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        loop {
            if let Some((i, l)) = sh
                .lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| pred(l.as_str()))
            {
                return Ok((i, l.clone()));
            }
            if sh.stdout_closed {
                drop(sh);
                bail!(
                    "the script ended before the expected line; {}",
                    self.report()
                );
            }
            let now = Instant::now();
            if now >= deadline {
                drop(sh);
                bail!("no expected line within {timeout:?}; {}", self.report());
            }
            sh = cv
                .wait_timeout(sh, deadline - now)
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .0;
        }
    }

    /// [`PyProcess::wait_line_blocking`] for a line equal to `line`.
    pub fn wait_exact(&self, from: usize, timeout: Duration, line: &str) -> Result<usize> {
        Ok(self.wait_line_blocking(from, timeout, |l| l == line)?.0)
    }

    /// The same wait from async code: polls every 20 ms without blocking the runtime.
    pub async fn wait_line(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<(usize, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.find_line(from, &pred) {
                return Ok(found);
            }
            if self.stdout_closed() {
                // The reader may have taken a last line just before closing.
                if let Some(found) = self.find_line(from, &pred) {
                    return Ok(found);
                }
                bail!(
                    "the script ended before the expected line; {}",
                    self.report()
                );
            }
            if Instant::now() >= deadline {
                bail!("no expected line within {timeout:?}; {}", self.report());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stdout_closed(&self) -> bool {
        self.shared
            .0
            .lock()
            .map(|s| s.stdout_closed)
            .unwrap_or(true)
    }

    /// Writes `line` and a newline to the script's stdin.
    pub fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .with_context(|| format!("writing {line:?} to {}", self.name))
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child.wait().context("reaping the script")?;
            forget_pid(child.id());
        }
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit (killing it on timeout); its status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().context("the script was killed")?;
        loop {
            if let Some(status) = child.try_wait()? {
                forget_pid(child.id());
                self.child = None;
                // Let the reader thread take the last lines.
                for _ in 0..50 {
                    if self.stdout_closed() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.kill();
                bail!(
                    "{} did not exit within {timeout:?}; {}",
                    self.name,
                    self.report()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the script to exit 0 with `DONE` as its last line; its stdout lines.
    pub async fn finish(mut self, timeout: Duration) -> Result<ScriptOutput> {
        self.stdin = None;
        let status = self.wait_exit(timeout).await?;
        let lines = self.lines();
        if !status.success() || lines.last().map(String::as_str) != Some("DONE") {
            bail!(
                "{} exited with {status} without DONE; {}",
                self.name,
                self.report()
            );
        }
        Ok(ScriptOutput {
            lines,
            stderr: self.stderr(),
        })
    }
}

impl Drop for PyProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// FindCoordinator v3 with key type 1 (transaction) for `txn_id`, sent to `addr`:
/// (error code, coordinator node id).
pub fn find_txn_coordinator(addr: SocketAddr, txn_id: &str) -> Result<(i16, i32)> {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(txn_id.to_string()))
        .with_key_type(1);
    let mut conn = RawConn::open(addr, "txn-it", Duration::from_secs(10))?;
    let resp: FindCoordinatorResponse = conn.call(ApiKey::FindCoordinator, 3, &req)?;
    Ok((resp.error_code, resp.node_id.0))
}

/// Waits until FindCoordinator (key type 1) for `txn_id` on `addr` answers without error;
/// the coordinator's node id.
pub async fn wait_txn_coordinator(
    addr: SocketAddr,
    txn_id: &str,
    timeout: Duration,
) -> Result<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match find_txn_coordinator(addr, txn_id) {
            Ok((0, node)) => return Ok(node),
            Ok((code, node)) => format!("error code {code} (node {node})"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("FindCoordinator(transaction, {txn_id}) on {addr}: no coordinator within {timeout:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Kafka's `Utils.abs(transactionalId.hashCode()) % 50`: the `__transaction_state` partition
/// of a transactional id, whose leader is its coordinator.
pub fn txn_state_partition(txn_id: &str) -> i32 {
    offsets_partition_for(txn_id, TXN_STATE_PARTITIONS)
}

/// One partition as Metadata reports it: (id, leader, replicas sorted, ISR sorted).
pub type PartitionInfo = (i32, i32, Vec<i32>, Vec<i32>);

/// The partitions of `topic` (sorted by id) according to one Metadata request to `bootstrap`.
pub fn partitions_of(bootstrap: &str, topic: &str) -> Result<Vec<PartitionInfo>> {
    use rdkafka::consumer::Consumer;
    let md = crate::client::consumer(bootstrap, &[("allow.auto.create.topics", "false")])?
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("Metadata for {topic}"))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .with_context(|| format!("{topic} is not in the Metadata response"))?;
    if let Some(e) = t.error() {
        bail!("{topic}: topic error {e:?}");
    }
    let mut parts = Vec::new();
    for p in t.partitions() {
        if let Some(e) = p.error() {
            bail!("{topic}-{}: partition error {e:?}", p.id());
        }
        let mut replicas = p.replicas().to_vec();
        replicas.sort_unstable();
        let mut isr = p.isr().to_vec();
        isr.sort_unstable();
        parts.push((p.id(), p.leader(), replicas, isr));
    }
    parts.sort_by_key(|p| p.0);
    Ok(parts)
}

/// Waits until `topic` lists `partitions` partitions, each with a leader among its replicas
/// and every replica in its ISR.
pub async fn wait_full_isr(
    bootstrap: &str,
    topic: &str,
    partitions: usize,
    timeout: Duration,
) -> Result<Vec<PartitionInfo>> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match partitions_of(bootstrap, topic) {
            Ok(parts) => {
                let bad: Vec<&PartitionInfo> = parts
                    .iter()
                    .filter(|(_, leader, replicas, isr)| {
                        !replicas.contains(leader) || isr != replicas
                    })
                    .collect();
                if parts.len() == partitions && bad.is_empty() {
                    return Ok(parts);
                }
                format!("{} partitions; not fully in sync: {bad:?}", parts.len())
            }
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{topic}: not {partitions} partitions in full sync within {timeout:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Checks the final read of `py/txn_restart.py` (`REC rc` lines): every value of rounds
/// `1..=rounds` and of `final` (`<tag>-<i>`, i in 0..per_partition*partitions) exactly once,
/// value i in partition i % partitions, offsets increasing within each partition.
pub fn check_restart_exactly_once(
    out: &ScriptOutput,
    rounds: usize,
    partitions: i32,
    per_partition: i32,
) -> Result<()> {
    use std::collections::BTreeMap;
    let rc = out.records("rc");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (p, _o, v) in &rc {
        *counts.entry(v.clone()).or_default() += 1;
        let i: i32 = v
            .rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("unexpected value {v}"))?;
        anyhow::ensure!(*p == i % partitions, "{v} read from partition {p}");
    }
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for tag in (1..=rounds)
        .map(|k| k.to_string())
        .chain(["final".to_string()])
    {
        for i in 0..per_partition * partitions {
            want.insert(format!("{tag}-{i}"), 1);
        }
    }
    anyhow::ensure!(
        counts == want,
        "read_committed: want every value once; duplicated {:?}, missing {:?}, unexpected {:?}",
        counts.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>(),
        want.keys()
            .filter(|k| !counts.contains_key(*k))
            .collect::<Vec<_>>(),
        counts
            .keys()
            .filter(|k| !want.contains_key(*k))
            .collect::<Vec<_>>()
    );
    for p in 0..partitions {
        let offsets: Vec<i64> = rc.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        anyhow::ensure!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p} offsets not increasing: {offsets:?}"
        );
    }
    Ok(())
}

/// `outcome_k` (and `redo_k`) of each round of `py/txn_restart.py`, for the test's report.
pub fn restart_outcomes(out: &ScriptOutput, rounds: usize) -> Vec<String> {
    (1..=rounds)
        .map(|k| {
            let mut s = out.kv(&format!("outcome_{k}")).unwrap_or_default();
            if let Some(r) = out.kv(&format!("redo_{k}")) {
                s.push_str(&format!(" (redo: {r})"));
            }
            s
        })
        .collect()
}

/// The topics, group and ids of one `py/txn_eos.py` run.
#[derive(Clone, Debug)]
pub struct EosSetup {
    /// `bootstrap.servers` of the processor.
    pub bootstrap: String,
    /// Input topic.
    pub input: String,
    /// Output topic.
    pub output: String,
    /// The processor's consumer group.
    pub group: String,
    /// The processor's transactional.id.
    pub txn_id: String,
    /// Input records (numbered 0..n).
    pub n: usize,
    /// Partitions of both topics.
    pub partitions: usize,
}

/// The exactly-once processor of `py/txn_eos.py` (20 records per transaction, 10 ms pause
/// between transactions), restarted by [`EosProcessor::wait_progress`] whenever it exits
/// without `DONE` (a fatal error), at most `max_starts` times in all.
pub struct EosProcessor {
    setup: EosSetup,
    max_starts: usize,
    /// The running (or last) processor.
    pub py: PyProcess,
    /// Processors started so far.
    pub starts: usize,
    /// Stdout lines of processors that ended, for the report.
    pub history: Vec<String>,
}

impl EosProcessor {
    /// Starts the first processor.
    pub fn start(setup: &EosSetup, max_starts: usize) -> Result<EosProcessor> {
        Ok(EosProcessor {
            py: Self::spawn(setup)?,
            setup: setup.clone(),
            max_starts,
            starts: 1,
            history: Vec::new(),
        })
    }

    fn spawn(s: &EosSetup) -> Result<PyProcess> {
        PyProcess::spawn(
            "txn_eos.py",
            &[
                "process",
                &s.bootstrap,
                &s.input,
                &s.output,
                &s.group,
                &s.txn_id,
                &s.n.to_string(),
                "20",
                "10",
            ],
        )
    }

    /// SIGKILLs the running processor (if any) and starts a new one with the same group and
    /// transactional.id.
    pub fn restart(&mut self, why: &str) -> Result<()> {
        if self.starts >= self.max_starts {
            bail!(
                "the processor was started {} times; last one: {}",
                self.max_starts,
                self.py.report()
            );
        }
        self.py.kill()?;
        self.history
            .push(format!("--- processor #{} ended ({why}) ---", self.starts));
        self.history.extend(self.py.lines());
        self.py = Self::spawn(&self.setup)?;
        self.starts += 1;
        eprintln!("processor #{} started ({why})", self.starts);
        Ok(())
    }

    /// Whether the running processor printed `DONE`.
    pub fn done(&self) -> bool {
        self.py.lines().last().map(String::as_str) == Some("DONE")
    }

    /// Waits until the running processor reports `KV committed <n>` with n >= `target` (or
    /// DONE), restarting it whenever it exits without DONE.
    pub async fn wait_progress(&mut self, target: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let best = kvs(&self.py.lines(), "committed")
                .iter()
                .filter_map(|v| v.parse::<usize>().ok())
                .max()
                .unwrap_or(0);
            if best >= target || self.done() {
                return Ok(());
            }
            if !self.py.is_running() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if self.done() {
                    return Ok(());
                }
                self.restart("exited without DONE")?;
            }
            if Instant::now() >= deadline {
                bail!(
                    "no progress to {target} committed records within {timeout:?}; {}",
                    self.py.report()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every input record is committed and the processor printed DONE; a summary
    /// (starts, aborted transactions, fatal exits) for the test's report.
    pub async fn finish(&mut self, timeout: Duration) -> Result<String> {
        self.wait_progress(self.setup.n, timeout).await?;
        if !self.done() {
            self.py
                .wait_line(0, Duration::from_secs(30), |l| l == "DONE")
                .await?;
        }
        let lines = self.py.lines();
        let notable: Vec<&String> = self
            .history
            .iter()
            .chain(lines.iter())
            .filter(|l| l.starts_with("KV aborted ") || l.starts_with("KV fatal "))
            .collect();
        Ok(format!(
            "processor starts {}; aborted transactions and fatal exits: {notable:?}",
            self.starts
        ))
    }
}

/// Runs `py/txn_eos.py check` and asserts its dump exactly: every input record `i` appears
/// once in the output (read_committed) as `i:p`, in partition i % partitions, each partition
/// in input order, and the group's committed offsets are the input's end offsets.
pub async fn check_eos_output(s: &EosSetup) -> Result<()> {
    let check = run_script_async(
        "txn_eos.py",
        &[
            "check",
            &s.bootstrap,
            &s.input,
            &s.output,
            &s.group,
            &s.n.to_string(),
            &s.partitions.to_string(),
        ],
        Duration::from_secs(90),
    )
    .await?;
    let (n, parts) = (s.n, s.partitions);
    let out = check.records("out");
    anyhow::ensure!(out.len() == n, "{} output records, want {n}", out.len());
    let mut seen = vec![0usize; n];
    for (p, _o, v) in &out {
        let i: usize = v
            .strip_suffix(":p")
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("unexpected output value {v}"))?;
        anyhow::ensure!(i < n, "output value {v} out of range");
        anyhow::ensure!(
            usize::try_from(*p).ok() == Some(i % parts),
            "{v} in partition {p}"
        );
        seen[i] += 1;
    }
    let missing: Vec<usize> = (0..n).filter(|i| seen[*i] == 0).collect();
    let dup: Vec<usize> = (0..n).filter(|i| seen[*i] > 1).collect();
    anyhow::ensure!(
        missing.is_empty() && dup.is_empty(),
        "output vs input: missing {missing:?}, duplicated {dup:?}"
    );
    for p in 0..parts {
        let seq: Vec<usize> = out
            .iter()
            .filter(|r| usize::try_from(r.0).ok() == Some(p))
            .map(|r| r.2.trim_end_matches(":p").parse().unwrap_or(usize::MAX))
            .collect();
        let want: Vec<usize> = (p..n).step_by(parts).collect();
        anyhow::ensure!(
            seq == want,
            "output partition {p} is not the input partition in order"
        );
    }
    let ends: Vec<String> = (0..parts)
        .map(|p| (p..n).step_by(parts).count().to_string())
        .collect();
    let committed = check.need("committed_offsets")?;
    anyhow::ensure!(
        committed == ends.join(","),
        "the group's committed offsets {committed}, want the input's end offsets {}",
        ends.join(",")
    );
    Ok(())
}

/// FindCoordinator v3 for `key` of `key_type` (0 group, 1 transaction) sent to `addr`,
/// retried until it answers without error within `timeout`; the coordinator's node id.
pub async fn wait_coordinator(
    addr: SocketAddr,
    key: &str,
    key_type: i8,
    timeout: Duration,
) -> Result<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(key.to_string()))
            .with_key_type(key_type);
        let last = match RawConn::open(addr, "txn-it", Duration::from_secs(10)).and_then(|mut c| {
            c.call::<_, FindCoordinatorResponse>(ApiKey::FindCoordinator, 3, &req)
        }) {
            Ok(r) if r.error_code == 0 => return Ok(r.node_id.0),
            Ok(r) => format!("error code {} (node {})", r.error_code, r.node_id.0),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("FindCoordinator(type {key_type}, {key}) on {addr}: no coordinator within {timeout:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
