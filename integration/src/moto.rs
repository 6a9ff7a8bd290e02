//! `moto_server` (an S3-compatible server, installed by `integration/setup.sh`) for the tests
//! of the S3 path: started on a free loopback port, frozen with SIGSTOP to simulate an outage
//! (objects are kept in memory, so nothing is lost), and its access log read back as requests.
//!
//! Invariant: a [`Moto`] is killed (after a SIGCONT) when dropped, and its pid is remembered
//! so that a panicking test does not leave it running.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use strata_tier::store::testing::{free_port, http_request};

use crate::broker::{forget_pid, remember_pid, signal};

/// `moto_server` (installed by `integration/setup.sh`) on a free loopback port. It keeps objects
/// in memory, so [`Moto::freeze`] (SIGSTOP) is an outage without data loss: connections are
/// accepted by the kernel but nothing is answered until [`Moto::thaw`]. Killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto and waits (up to 60 s) until it answers HTTP.
    pub async fn start() -> Result<Moto> {
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("running moto_server (install it with integration/setup.sh)")?;
            remember_pid(child.id());
            let mut moto = Moto { child, port };
            match moto.wait_ready(Duration::from_secs(60)).await {
                Ok(()) => return Ok(moto),
                Err(e) => last_error = e, // dropped: killed; try another port
            }
        }
        bail!("moto_server did not start: {last_error}")
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto_server exited with {status}"));
            }
            if let Ok((status, _)) = http_request(addr, "GET", "/").await {
                if status > 0 {
                    return Ok(());
                }
            }
            if started.elapsed() > limit {
                return Err(format!("no answer on {addr} within {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let (status, body) = http_request(addr, "PUT", &format!("/{bucket}"))
            .await
            .with_context(|| format!("creating bucket {bucket}"))?;
        ensure!(status == 200, "creating bucket {bucket}: {status} {body}");
        Ok(())
    }

    /// Freezes the server (SIGSTOP): the bucket becomes unreachable, its data is kept.
    pub fn freeze(&self) -> Result<()> {
        // The pyenv shim execs the interpreter, so the child's pid is moto's own process.
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.child.id()))
            .context("reading moto's command line")?;
        ensure!(
            String::from_utf8_lossy(&cmdline).contains("moto_server"),
            "pid {} is not moto_server: {:?}",
            self.child.id(),
            String::from_utf8_lossy(&cmdline)
        );
        signal(self.child.id(), libc::SIGSTOP)
    }

    /// Continues a frozen server (SIGCONT).
    pub fn thaw(&self) -> Result<()> {
        signal(self.child.id(), libc::SIGCONT)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = signal(pid, libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
        forget_pid(pid);
    }
}

/// One request `moto_server` logged (werkzeug's access log: `"METHOD TARGET HTTP/1.1" STATUS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MotoRequest {
    /// HTTP method.
    pub method: String,
    /// Path with its query string, as sent.
    pub target: String,
    /// Response status.
    pub status: u16,
}

impl Moto {
    /// Like [`Moto::start`], with moto's stderr (its access log, one line per request answered)
    /// written to `log`; read it with [`moto_requests`].
    pub async fn start_logging_requests(log: &Path) -> Result<Moto> {
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let file = std::fs::File::create(log)
                .with_context(|| format!("creating moto's log {}", log.display()))?;
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file)
                .spawn()
                .context("running moto_server (install it with integration/setup.sh)")?;
            remember_pid(child.id());
            let mut moto = Moto { child, port };
            match moto.wait_ready(Duration::from_secs(60)).await {
                Ok(()) => return Ok(moto),
                Err(e) => last_error = e, // dropped: killed; try another port
            }
        }
        bail!("moto_server did not start: {last_error}")
    }
}

/// The requests in a log written by [`Moto::start_logging_requests`], in order.
pub fn moto_requests(log: &Path) -> Result<Vec<MotoRequest>> {
    let text = std::fs::read_to_string(log)
        .with_context(|| format!("reading moto's log {}", log.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        // 127.0.0.1 - - [06/Dec/2026 10:51:24] "PUT /bkt HTTP/1.1" 200 -
        let Some((_, rest)) = line.split_once("] \"") else {
            continue;
        };
        let Some((request, after)) = rest.split_once("\" ") else {
            continue;
        };
        let mut parts = request.split(' ');
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            continue;
        };
        let status = after.split(' ').next().unwrap_or_default();
        out.push(MotoRequest {
            method: method.to_string(),
            target: target.to_string(),
            status: status
                .parse()
                .with_context(|| format!("status in moto log line {line:?}"))?,
        });
    }
    Ok(out)
}
