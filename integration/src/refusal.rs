//! A broker that must refuse its configuration: `strata serve` run on a fresh data directory
//! with the arguments under test, expected to exit non-zero within 20 s with an `Error: …`
//! that names what is wrong.
//!
//! Invariant: a broker that starts anyway (does not exit) fails the check and is killed by the
//! time limit; its output is in the failure message.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::broker::strata_bin;
use crate::tools::run_command;
use crate::CommandOutput;

/// Runs `strata serve --data-dir <fresh> args…` and checks that it refuses: a non-zero exit,
/// an `Error:` line, and every one of `needles` in the output from that line on. With
/// `probe_port`, nothing may listen on `127.0.0.1:probe_port` afterwards. Returns the `Error:`
/// line.
pub async fn ensure_serve_refuses(
    args: Vec<String>,
    needles: &[&str],
    probe_port: Option<u16>,
) -> Result<String> {
    let what = args.join(" ");
    let out = tokio::task::spawn_blocking(move || -> Result<CommandOutput> {
        let dir = tempfile::tempdir()?;
        let mut cmd = Command::new(strata_bin()?);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(&args)
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0");
        run_command(cmd, &[], Duration::from_secs(20))
            .map_err(|e| e.context("the broker did not exit: it did not refuse the configuration"))
    })
    .await?
    .with_context(|| what.clone())?;
    let text = format!("{}{}", out.stdout_str(), out.stderr);
    ensure!(
        !out.status.success(),
        "`strata serve {what}` exited with {}:\n{text}",
        out.status
    );
    let at = text
        .find("Error: ")
        .with_context(|| format!("`strata serve {what}`: no `Error:` line in\n{text}"))?;
    let error = &text[at..];
    for needle in needles {
        ensure!(
            error.contains(needle),
            "`strata serve {what}`: the error does not name {needle:?}:\n{error}"
        );
    }
    if let Some(port) = probe_port {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        ensure!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
            "`strata serve {what}`: something listens on {addr} after the refusal"
        );
    }
    Ok(error.lines().next().unwrap_or_default().to_string())
}
