//! kcat (Debian's, with OpenSSL and SASL) against TLS and SASL listeners from async tests:
//! run on a blocking thread, and a whole topic read back as records.
//!
//! Invariant: kcat runs without cargo's `LD_LIBRARY_PATH` ([`crate::kcat`]), whose librdkafka
//! (built by rdkafka-sys for the Rust tests) has no OpenSSL ("OpenSSL not available at build
//! time"); without it kcat loads its own.

use anyhow::{ensure, Result};

use crate::pyclient::{with, Rec};
use crate::tools::CommandOutput;

/// Runs kcat with `args` and `stdin` on a blocking thread.
pub async fn kcat_async(args: Vec<String>, stdin: &'static [u8]) -> Result<CommandOutput> {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::kcat(&refs, stdin)
    })
    .await?
}

/// Every record kcat with the connection flags `base` reads from `topic` (`-C -e`), as
/// (partition, offset, key, value).
pub async fn kcat_read(base: Vec<String>, topic: &str) -> Result<Vec<Rec>> {
    let out = kcat_async(
        with(
            base,
            &["-C", "-t", topic, "-e", "-q", "-f", "%p %o %k %s\\n"],
        ),
        b"",
    )
    .await?;
    out.ensure_success("kcat -C")?;
    out.stdout_str()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            ensure!(f.len() == 4, "kcat line {:?}", &l[..l.len().min(80)]);
            Ok((
                f[0].parse()?,
                f[1].parse()?,
                f[2].to_string(),
                f[3].to_string(),
            ))
        })
        .collect()
}
