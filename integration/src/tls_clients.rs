//! The clients of the TLS listener scenarios (`tests/security_tls_*.rs`) and what they report:
//! `integration/py/tls_client.py` (one subcommand per run: `create`, `produce`, `consume`,
//! `meta`, `probe`) over SSL, and librdkafka (the rdkafka crate) over PLAINTEXT.
//!
//! Invariants the checks hold a run to: the records acknowledged are exactly the expected ones
//! ([`crate::tls_records::expected`]) at their places; a refused client got no metadata and
//! librdkafka saw its transport fail; records read over PLAINTEXT carry no headers, and every
//! key and value is present.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;

use crate::client::{consumer, read_topic, OP_TIMEOUT};
use crate::pyclient::{fields, picked, script_within, sorted, with, Rec};
use crate::tls_records::expected;

/// Time limit of one client script.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `py/tls_client.py args…`; its stdout lines (the last is DONE).
pub async fn py(args: Vec<String>) -> Result<Vec<String>> {
    script_within("tls_client.py", &args, CLIENT_TIMEOUT).await
}

/// `ACK p o key length` lines as (partition, offset, key, length).
pub fn acks(lines: &[String]) -> Result<Vec<(i32, i64, String, usize)>> {
    fields(lines, "ACK")
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 4, "ACK line {f:?}");
            Ok((f[0].parse()?, f[1].parse()?, f[2].clone(), f[3].parse()?))
        })
        .collect()
}

/// Fails unless `lines` acknowledge records `from..from + count` at their expected places.
pub fn ensure_acks(lines: &[String], from: usize, count: usize, partitions: usize) -> Result<()> {
    let got = acks(lines)?;
    let want: Vec<_> = (from..from + count)
        .map(|i| {
            let (p, o, k, v) = expected(i, partitions);
            (p, o, k, v.len())
        })
        .collect();
    ensure!(
        sorted(got.clone()) == sorted(want.clone()),
        "acknowledgements {got:?}, expected {want:?}"
    );
    Ok(())
}

/// `<prefix> id host port` lines.
pub fn nodes(lines: &[String], prefix: &str) -> Result<Vec<(i32, String, u16)>> {
    fields(lines, prefix)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 3, "{prefix} line {f:?}");
            Ok((f[0].parse()?, f[1].clone(), f[2].parse()?))
        })
        .collect()
}

/// What `tls_client.py probe` reported: metadata or not, and librdkafka's errors.
struct Probe {
    ok: bool,
    errors: Vec<String>,
}

async fn probe(args: Vec<String>, wait_s: &str) -> Result<Probe> {
    let lines = py(with(args, &["--wait", wait_s])).await?;
    let ok = lines.iter().any(|l| l == "META OK");
    ensure!(
        ok != lines.iter().any(|l| l == "META FAIL"),
        "probe printed {lines:?}"
    );
    Ok(Probe {
        ok,
        errors: picked(&lines, "ERR"),
    })
}

/// A client (`tls_client.py probe` flags) that must be refused: no metadata, and librdkafka
/// saw the transport fail.
pub async fn ensure_refused(args: Vec<String>, what: &str) -> Result<()> {
    let p = probe(args, "4").await?;
    ensure!(!p.ok, "{what}: got metadata (errors {:?})", p.errors);
    ensure!(
        p.errors
            .iter()
            .any(|e| e.starts_with("_TRANSPORT") || e.starts_with("_SSL")),
        "{what}: no transport error: {:?}",
        p.errors
    );
    Ok(())
}

/// Every record of `topic` read by librdkafka (rdkafka crate) over PLAINTEXT.
pub async fn plain_read(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<Rec>> {
    read_topic(bootstrap, topic, partitions)
        .await?
        .into_iter()
        .map(|r| {
            ensure!(
                r.headers.is_empty(),
                "headers on {}/{}",
                r.partition,
                r.offset
            );
            Ok((
                r.partition,
                r.offset,
                String::from_utf8(r.key.context("null key")?)?,
                String::from_utf8(r.value.context("null value")?)?,
            ))
        })
        .collect()
}

/// The brokers a PLAINTEXT Metadata request (rdkafka crate) lists: (id, host, port).
pub async fn plain_brokers(bootstrap: &str) -> Result<Vec<(i32, String, u16)>> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, &[])?;
        let md = c.fetch_metadata(None, OP_TIMEOUT).context("Metadata")?;
        md.brokers()
            .iter()
            .map(|b| Ok((b.id(), b.host().to_string(), u16::try_from(b.port())?)))
            .collect()
    })
    .await?
}
