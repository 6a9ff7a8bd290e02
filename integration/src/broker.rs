//! A `strata serve` child process on a loopback port with its own data directory.
//!
//! Lifecycle:
//! - [`Broker::start`] binds `127.0.0.1:0` to learn a free port, releases it, creates a temporary
//!   directory (data in `data/`, the process's stdout and stderr appended to `broker.log`), spawns
//!   the binary and waits up to [`READY_TIMEOUT`] for the port to accept a TCP connection. If the
//!   process exits early because the port was taken in between, it retries with a new port.
//! - [`Broker::start_listeners`] gives `--listen` a whole Kafka listener list (for example a
//!   PLAINTEXT and an SSL listener on ports the test chose) and waits for every one of them.
//! - [`Broker::sigkill`] and [`Broker::sigterm_and_wait`] stop it; [`Broker::restart`] starts it
//!   again on the same port and data directory.
//! - Dropping a [`Broker`] kills the process (SIGKILL), reaps it, and keeps the tail of its log in
//!   a process-wide list that [`crate::run`] prints when the test fails.
//!
//! Every live child pid is also kept in a process-wide list so the watchdog in [`crate::run`] can
//! kill them before it aborts a hung test.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

/// How long a start may take before the port accepts connections.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a SIGTERM'd broker may take to exit.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of log kept per broker for failure reports.
const LOG_TAIL_BYTES: u64 = 12 * 1024;

/// Pids of broker processes that are running and not yet reaped.
static LIVE_PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Log tails of brokers that have been dropped: (label, tail).
static FINISHED_LOGS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// A running (or stopped, restartable) `strata serve` process.
pub struct Broker {
    child: Option<Child>,
    bin: PathBuf,
    /// The address it listens on (`127.0.0.1`, or its own in a network namespace).
    host: std::net::Ipv4Addr,
    /// The network namespace it runs in (`ip netns exec`), if any.
    netns: Option<String>,
    port: u16,
    /// The whole `--listen` value when the test gave a listener list
    /// ([`Broker::start_listeners`]); else `--listen` is [`Broker::bootstrap`].
    listen: Option<String>,
    /// Every address that must accept connections before the broker counts as ready (empty:
    /// just [`Broker::addr`]).
    ready_addrs: Vec<SocketAddr>,
    extra_args: Vec<String>,
    /// Extra environment variables of the broker process (e.g. AWS settings for S3).
    env: Vec<(String, String)>,
    data_dir: PathBuf,
    log_path: PathBuf,
    starts: u32,
    /// Holds `data_dir` and `log_path`; removed when the broker is dropped.
    _dir: TempDir,
}

impl Broker {
    /// Starts a broker on a free port with a new temporary data directory. `extra_args` are
    /// appended to `strata serve --data-dir D --listen 127.0.0.1:P`, e.g.
    /// `&["--set", "num.partitions=4"]`.
    pub fn start(extra_args: &[&str]) -> Result<Broker> {
        Broker::start_with_env(extra_args, &[])
    }

    /// Like [`Broker::start`], with extra environment variables for the broker process (for
    /// example `AWS_ENDPOINT_URL` for an S3 object store).
    pub fn start_with_env(extra_args: &[&str], env: &[(String, String)]) -> Result<Broker> {
        let mut broker = Broker::prepare(extra_args, env)?;
        let mut last_err = None;
        for _ in 0..5 {
            broker.port = free_port()?;
            match broker.spawn_and_wait() {
                Ok(()) => return Ok(broker),
                Err(e) if broker.log_tail().contains("in use") => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no free port found")))
    }

    /// A broker that is not started yet: its temporary data directory exists (empty) and a
    /// port is chosen, so a test can prepare the data directory (for example with
    /// `strata tier restore`) before [`Broker::restart`] starts it.
    pub fn prepare(extra_args: &[&str], env: &[(String, String)]) -> Result<Broker> {
        let dir = tempfile::Builder::new()
            .prefix("strata-it-")
            .tempdir()
            .context("creating the broker's temporary directory")?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).context("creating the data directory")?;
        Ok(Broker {
            child: None,
            bin: strata_bin()?,
            host: std::net::Ipv4Addr::LOCALHOST,
            netns: None,
            port: free_port()?,
            listen: None,
            ready_addrs: Vec::new(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            env: env.to_vec(),
            data_dir,
            log_path: dir.path().join("broker.log"),
            starts: 0,
            _dir: dir,
        })
    }

    /// Starts a broker whose `--listen` is the Kafka listener list `listen`, e.g.
    /// `127.0.0.1:P1,SSL://127.0.0.1:P2` with ports from [`free_port`], instead of the
    /// harness's single PLAINTEXT port, and waits until every listed address accepts TCP
    /// connections. [`Broker::bootstrap`] and [`Broker::addr`] are the first listener's. The
    /// ports are the caller's, so there is no retry on a port taken in between.
    pub fn start_listeners(listen: &str, extra_args: &[&str]) -> Result<Broker> {
        let addrs = listener_addrs(listen)?;
        let mut broker = Broker::prepare(extra_args, &[])?;
        let std::net::IpAddr::V4(host) = addrs[0].ip() else {
            bail!("the first listener of {listen:?} is not an IPv4 address");
        };
        broker.host = host;
        broker.port = addrs[0].port();
        broker.listen = Some(listen.to_string());
        broker.ready_addrs = addrs;
        broker.spawn_and_wait()?;
        Ok(broker)
    }

    /// Like [`Broker::prepare`], for a broker that runs in network namespace `netns` and
    /// listens on `host:port` there.
    pub fn prepare_in(
        netns: &str,
        host: std::net::Ipv4Addr,
        port: u16,
        extra_args: &[&str],
        env: &[(String, String)],
    ) -> Result<Broker> {
        let mut broker = Broker::prepare(extra_args, env)?;
        broker.netns = Some(netns.to_string());
        broker.host = host;
        broker.port = port;
        Ok(broker)
    }

    /// `HOST:PORT` (`127.0.0.1` unless in a namespace), for `bootstrap.servers` and
    /// `--bootstrap-server`.
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.port))
    }

    /// The broker's data directory (kept across restarts).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file that receives the broker's stdout and stderr (all starts, appended).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The running process's pid, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) => {
                let child = self.child.take();
                if let Some(c) = child {
                    forget_pid(c.id());
                }
                false
            }
            Some(Err(_)) | None => false,
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn sigkill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("sigkill: the broker is not running");
        };
        let pid = child.id();
        // Fails only if the process was already reaped; wait() below still tells the outcome.
        let _ = child.kill();
        child.wait().context("reaping the killed broker")?;
        forget_pid(pid);
        Ok(())
    }

    /// Sends SIGTERM and waits up to [`SHUTDOWN_TIMEOUT`] for the process to exit. On timeout
    /// the process is killed and an error returned.
    pub fn sigterm_and_wait(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("sigterm: the broker is not running");
        };
        let pid = child.id();
        signal(pid, libc::SIGTERM)?;
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("waiting for the broker")? {
                forget_pid(pid);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                forget_pid(pid);
                bail!(
                    "the broker did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM; log tail:\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the process with SIGSTOP: connections stay open, the kernel still accepts and
    /// buffers bytes, but nothing is read or answered until [`Broker::resume`].
    pub fn pause(&self) -> Result<()> {
        let pid = self.pid().context("pause: the broker is not running")?;
        signal(pid, libc::SIGSTOP)
    }

    /// Continues a process frozen by [`Broker::pause`] (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        let pid = self.pid().context("resume: the broker is not running")?;
        signal(pid, libc::SIGCONT)
    }

    /// Starts the broker again with the same arguments, port and data directory. The previous
    /// process must have been stopped ([`Broker::sigkill`] or [`Broker::sigterm_and_wait`]).
    pub fn restart(&mut self) -> Result<()> {
        if self.is_running() {
            bail!("restart: the broker is still running; stop it first");
        }
        // The port was ours a moment ago; a bind can still fail briefly if the kernel has not
        // released it, so retry for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline && self.log_tail().contains("in use") => {
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The last few KiB of the broker's log.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log_path, LOG_TAIL_BYTES)
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Starts the process without waiting for its listener (cluster members wait for each
    /// other's quorum before they listen; start them all, then [`Broker::wait_ready`]).
    pub fn spawn(&mut self) -> Result<()> {
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .context("opening the broker log")?;
        let listen = self.listen.clone().unwrap_or_else(|| self.bootstrap());
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str()]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(&listen)
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        writeln!(log, "=== harness: start #{}: {cmd:?}", self.starts)?;
        cmd.stdout(log.try_clone()?).stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        remember_pid(child.id());
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the spawned process accepts connections on its Kafka listener.
    pub fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addrs = if self.ready_addrs.is_empty() {
            vec![self.addr()]
        } else {
            self.ready_addrs.clone()
        };
        for addr in addrs {
            loop {
                if !self.is_running() {
                    bail!(
                        "the broker exited before accepting connections on {addr}; log tail:\n{}",
                        self.log_tail()
                    );
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = self.sigkill();
                    bail!(
                        "the broker did not accept connections on {addr} within \
                         {READY_TIMEOUT:?}; log tail:\n{}",
                        self.log_tail()
                    );
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            forget_pid(child.id());
        }
        let label = format!(
            "broker on port {} ({} start(s), log {})",
            self.port,
            self.starts,
            self.log_path.display()
        );
        let tail = self.log_tail();
        if thread::panicking() {
            eprintln!("----- {label}: log tail -----\n{tail}\n----- end of log -----");
        } else if let Ok(mut logs) = FINISHED_LOGS.lock() {
            logs.push((label, tail));
        }
    }
}

/// Path of the `strata` binary: `$STRATA_BIN`, else `<target>/<profile>/strata` next to the
/// directory holding the test executable (`<target>/<profile>/deps/<test>`).
pub fn strata_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("STRATA_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().context("locating the test executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("unexpected test executable path {}", exe.display()))?;
    let bin = profile_dir.join("strata");
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build -p strata-cli` or set STRATA_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// The addresses of a Kafka listener list `[PROTOCOL://]HOST:PORT,…` whose hosts are IP
/// addresses, in order.
pub fn listener_addrs(listen: &str) -> Result<Vec<SocketAddr>> {
    let addrs = listen
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let addr = e.split_once("://").map_or(e, |(_, a)| a);
            addr.parse::<SocketAddr>()
                .with_context(|| format!("listener {e:?} in {listen:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if addrs.is_empty() {
        bail!("no listener in {listen:?}");
    }
    Ok(addrs)
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Kills every broker process this test process started and has not reaped. For the watchdog.
pub fn kill_all_live() {
    let pids = match LIVE_PIDS.lock() {
        Ok(p) => p.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for pid in pids {
        let _ = signal(pid, libc::SIGKILL);
    }
}

/// Takes the log tails of brokers dropped so far.
pub fn take_finished_logs() -> Vec<(String, String)> {
    match FINISHED_LOGS.lock() {
        Ok(mut logs) => std::mem::take(&mut *logs),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

/// Sends `sig` to `pid` (one of this test's own children).
pub fn signal(pid: u32, sig: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own unreaped child.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Records a child process (a broker, or a helper server such as moto) for the watchdog's
/// [`kill_all_live`].
pub fn remember_pid(pid: u32) {
    if let Ok(mut pids) = LIVE_PIDS.lock() {
        pids.push(pid);
    }
}

/// Forgets a child recorded with [`remember_pid`] once it is reaped.
pub fn forget_pid(pid: u32) {
    if let Ok(mut pids) = LIVE_PIDS.lock() {
        pids.retain(|p| *p != pid);
    }
}

fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("<no log>");
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::from("<unreadable log>");
    }
    let mut buf = Vec::new();
    if file.read_to_end(&mut buf).is_err() {
        return String::from("<unreadable log>");
    }
    String::from_utf8_lossy(&buf).into_owned()
}
