//! External commands: `kcat` (Debian's, linking librdkafka 2.0.2) and the `strata` CLI, each run
//! with bytes on stdin, captured output and a time limit.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::broker::strata_bin;

/// Time limit for one external command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished command left behind.
#[derive(Debug)]
pub struct CommandOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr (lossily decoded).
    pub stderr: String,
}

impl CommandOutput {
    /// Stdout, lossily decoded.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Fails unless the command exited with status 0.
    pub fn ensure_success(&self, what: &str) -> Result<()> {
        if !self.status.success() {
            bail!(
                "{what} exited with {}\nstdout:\n{}\nstderr:\n{}",
                self.status,
                self.stdout_str(),
                self.stderr
            );
        }
        Ok(())
    }
}

/// Runs `kcat` with `args`, writing `stdin` to it and closing it. Cargo puts the rdkafka-sys
/// build directory on `LD_LIBRARY_PATH`, whose librdkafka lacks OpenSSL; kcat is run without it
/// so that it uses its own (TLS and SASL work).
pub fn kcat(args: &[&str], stdin: &[u8]) -> Result<CommandOutput> {
    let mut cmd = Command::new("kcat");
    cmd.args(args).env_remove("LD_LIBRARY_PATH");
    run_command(cmd, stdin, COMMAND_TIMEOUT)
        .context("running kcat (install it with integration/setup.sh)")
}

/// Runs the `strata` binary with `args` (for example `topic list --bootstrap-server B`).
pub fn strata_cli(args: &[&str]) -> Result<CommandOutput> {
    let mut cmd = Command::new(strata_bin()?);
    cmd.args(args);
    run_command(cmd, &[], COMMAND_TIMEOUT)
}

/// Runs the `strata` binary with `args` and extra environment variables (for example the AWS
/// settings of an S3 object store).
pub fn strata_cli_env(args: &[&str], env: &[(String, String)]) -> Result<CommandOutput> {
    let mut cmd = Command::new(strata_bin()?);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    run_command(cmd, &[], COMMAND_TIMEOUT)
}

/// Runs `cmd` to completion within `timeout`, killing it if it overruns.
pub fn run_command(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Result<CommandOutput> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;

    let mut child_stdin = child.stdin.take().context("stdin")?;
    let input = stdin.to_vec();
    let writer = thread::spawn(move || {
        // A command that exits without reading all of its input is not an error here.
        let _ = child_stdin.write_all(&input);
    });
    let mut child_stdout = child.stdout.take().context("stdout")?;
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = child_stdout.read_to_end(&mut buf);
        buf
    });
    let mut child_stderr = child.stderr.take().context("stderr")?;
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = child_stderr.read_to_end(&mut buf);
        buf
    });

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            bail!(
                "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
    })
}
