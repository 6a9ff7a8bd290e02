//! Honest request accounting (docs/metrics.md, "Object-store requests"), against moto's S3
//! server over HTTP: a 1-partition topic with `remote.storage.enable=true`,
//! `segment.bytes=20 MiB` (above the store's 8 MiB multipart threshold, so every sealed
//! segment goes up as a multipart upload of 3 parts) and `local.retention.bytes=0` gets about
//! 48 MB. Once every sealed segment is uploaded and deleted locally, a consumer replays the
//! topic from offset 0, so everything below the active segment comes cold from the bucket.
//! Then, with the broker idle:
//!
//! - the broker's `strata_remote_http_requests_total{kind}` equals, kind by kind, what moto
//!   logged for the broker's prefix (moto's access log does not show the `Range` header, so
//!   `get` and `get_range` are compared as their sum; both are also checked to be there:
//!   ranged cold reads happened);
//! - `strata tier status --bootstrap-server` prints, for the broker, the same request counts,
//!   the payload bytes of `strata_remote_bytes_total{op}`, and requests per GiB computed from
//!   them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_integration::tier::{
    moto_requests, now_ms, numbered_records, s3_env, wait_all_uploaded, Moto, MotoRequest,
};
use strata_integration::tools::strata_cli_env;
use strata_integration::{create_topic, producer, read_topic, run, send_all, Broker};

const TOPIC: &str = "acct";
const BUCKET: &str = "strata-acct";
const PREFIX: &str = "acct";
const RECORDS: usize = 48_000;
const VALUE_LEN: usize = 1000;
/// `get` and `get_range` together: moto's log cannot tell them apart.
const GETS: &str = "get+get_range";

#[test]
fn http_request_counts_match_moto_and_tier_status() {
    run(Duration::from_secs(300), scenario());
}

/// The broker's request kind of one request moto logged, or `None` if it is not the broker's
/// (outside its prefix, e.g. the test's own bucket creation).
fn moto_kind(r: &MotoRequest) -> Option<&'static str> {
    let (path, query) = match r.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (r.target.as_str(), ""),
    };
    let keys: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split('=').next().unwrap_or_default())
        .collect();
    let has = |k: &str| keys.contains(&k);
    let on_bucket = path.trim_end_matches('/') == format!("/{BUCKET}");
    if on_bucket {
        // werkzeug logs the target percent-decoded (`prefix=acct/v1/`); accept both forms.
        let ours = query.split('&').any(|p| {
            let p = p.replace("%2F", "/").replace("%2f", "/");
            p == format!("prefix={PREFIX}") || p.starts_with(&format!("prefix={PREFIX}/"))
        });
        return (ours && r.method == "GET").then_some("list");
    }
    if !path.starts_with(&format!("/{BUCKET}/{PREFIX}/")) {
        return None;
    }
    Some(match (r.method.as_str(), has("uploadId")) {
        ("POST", _) if has("uploads") => "multipart_create",
        ("PUT", true) if has("partNumber") => "multipart_part",
        ("POST", true) => "multipart_complete",
        ("DELETE", true) => "multipart_abort",
        ("GET", false) => GETS,
        ("HEAD", false) => "head",
        ("PUT", false) => "put",
        ("DELETE", false) => "delete",
        _ => "other",
    })
}

/// The broker's requests in moto's log, by kind.
fn moto_counts(log: &std::path::Path) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for r in moto_requests(log)? {
        if let Some(kind) = moto_kind(&r) {
            *out.entry(kind.to_string()).or_insert(0) += 1;
        }
    }
    Ok(out)
}

/// The `/metrics` text of the broker.
fn scrape(port: u16) -> Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).context("connecting to /metrics")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// Values of `name{label="..."}` series by label value.
fn series(text: &str, name: &str, label: &str) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let open = format!("{label}=\"");
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix('{')) else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").context("a labelled series")?;
        let Some(at) = labels.find(&open) else {
            continue;
        };
        let v = &labels[at + open.len()..];
        let v = &v[..v.find('"').context("label end")?];
        let n: f64 = value.trim().parse().with_context(|| format!("{line:?}"))?;
        *out.entry(v.to_string()).or_insert(0) += n as u64;
    }
    Ok(out)
}

/// The broker's request counts by kind (zero kinds left out) and its `(put, get)` bytes.
fn broker_counts(port: u16) -> Result<(BTreeMap<String, u64>, (u64, u64))> {
    let text = scrape(port)?;
    let kinds = series(&text, "strata_remote_http_requests_total", "kind")?;
    let bytes = series(&text, "strata_remote_bytes_total", "op")?;
    let kinds = kinds.into_iter().filter(|(_, n)| *n > 0).collect();
    let get = |k: &str| bytes.get(k).copied().unwrap_or(0);
    Ok((kinds, (get("put"), get("get"))))
}

/// `get` and `get_range` summed (as moto's log sees them).
fn merge_gets(kinds: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, n) in kinds {
        let k = if k == "get" || k == "get_range" {
            GETS
        } else {
            k
        };
        *out.entry(k.to_string()).or_insert(0) += n;
    }
    out
}

async fn scenario() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let log = tmp.path().join("moto.log");
    let moto = Moto::start_logging_requests(&log).await?;
    moto.create_bucket(BUCKET).await?;
    let env = s3_env(&moto.endpoint());
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let metrics_port = strata_integration::broker::free_port()?;
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let broker = Broker::start_with_env(
        &[
            "--object-store",
            &url,
            "--metrics-listen",
            &metrics_listen,
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("remote.storage.enable", "true"),
            ("segment.bytes", "20971520"),
            ("local.retention.bytes", "0"),
            ("retention.ms", "-1"),
        ],
    )
    .await?;

    let sent = numbered_records(0, RECORDS, 1, VALUE_LEN, now_ms() - 3_600_000);
    {
        let producer = producer(&bootstrap, &[("batch.size", "131072")])?;
        send_all(&producer, TOPIC, &sent).await?;
    }
    wait_all_uploaded(broker.data_dir(), TOPIC, 1, Duration::from_secs(120)).await?;

    // Cold replay from offset 0: the sealed segments are only in the bucket.
    let read = read_topic(&bootstrap, TOPIC, 1).await?;
    ensure!(
        read.len() == sent.len(),
        "replayed {} of {} records",
        read.len(),
        sent.len()
    );

    // Idle: the counts stop moving; then the metric and moto's log agree kind by kind.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (kinds, bytes) = loop {
        let (before, bytes) = broker_counts(metrics_port)?;
        let logged = moto_counts(&log)?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (after, bytes_after) = broker_counts(metrics_port)?;
        let logged_after = moto_counts(&log)?;
        let stable = before == after && bytes == bytes_after && logged == logged_after;
        if stable && merge_gets(&after) == logged {
            break (after, bytes);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the broker's request counts never matched moto's log:\n  metric {after:?}\n  \
             moto   {logged_after:?}"
        );
    };
    eprintln!("strata_remote_http_requests_total: {kinds:?}");
    eprintln!(
        "moto's log, broker prefix:          {:?}",
        moto_counts(&log)?
    );
    eprintln!("bytes (put, get): {bytes:?}");
    let count = |k: &str| kinds.get(k).copied().unwrap_or(0);
    ensure!(
        count("multipart_create") >= 2 && count("multipart_complete") >= 2,
        "two sealed 20 MiB segments go up as multipart uploads: {kinds:?}"
    );
    ensure!(
        count("multipart_part") >= 3 * count("multipart_complete"),
        "20 MiB in 8 MiB parts is 3 parts: {kinds:?}"
    );
    ensure!(
        count("get_range") > 0,
        "the cold replay reads ranges: {kinds:?}"
    );
    ensure!(count("other") == 0, "unclassified requests: {kinds:?}");
    ensure!(
        bytes.0 >= 36 << 20 && bytes.1 >= 36 << 20,
        "bytes {bytes:?}"
    );

    // strata tier status prints the same figures for the broker (stdout, after the partition table).
    let data = broker.data_dir().display().to_string();
    let out = strata_cli_env(
        &[
            "tier",
            "status",
            "--data-dir",
            &data,
            "--object-store",
            &url,
            "--bootstrap-server",
            &bootstrap,
        ],
        &env,
    )?;
    out.ensure_success("strata tier status")?;
    let (now, now_bytes) = broker_counts(metrics_port)?;
    ensure!(
        now == kinds && now_bytes == bytes,
        "the broker moved on: {now:?}"
    );
    let (printed, totals) = parse_report(&out.stdout_str())?;
    let nonzero: BTreeMap<String, u64> = printed
        .iter()
        .filter(|(k, n)| **n > 0 && k.as_str() != "total")
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    ensure!(
        nonzero == kinds,
        "tier status {printed:?} vs metric {kinds:?}\n{}",
        out.stdout_str()
    );
    ensure!(
        printed.get("total").copied() == Some(kinds.values().sum()),
        "total in {printed:?}"
    );
    let writes: u64 = ["put", "multipart_create", "multipart_part"]
        .iter()
        .chain(&["multipart_complete", "multipart_abort"])
        .map(|k| count(k))
        .sum();
    let reads = count("get") + count("get_range");
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let expected = vec![
        bytes.0.to_string(),
        format!("{:.4}", gib(bytes.0)),
        bytes.1.to_string(),
        format!("{:.4}", gib(bytes.1)),
        format!("{:.1}", writes as f64 / gib(bytes.0)),
        format!("{:.1}", reads as f64 / gib(bytes.1)),
    ];
    ensure!(
        totals == expected,
        "tier status totals {totals:?}, expected {expected:?}\n{}",
        out.stdout_str()
    );
    eprintln!("tier status:\n{}", out.stdout_str());
    Ok(())
}

/// The single broker's rows of the report `strata tier status` writes on stdout: requests by
/// kind, and the fields after BROKER of its totals row.
fn parse_report(stdout: &str) -> Result<(BTreeMap<String, u64>, Vec<String>)> {
    let mut kinds = BTreeMap::new();
    let mut totals = None;
    let mut table = 0;
    for line in stdout.lines() {
        if line.starts_with("BROKER\t") {
            table += 1;
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        match (table, f.as_slice()) {
            (1, [_, "http", kind, n]) => {
                kinds.insert(kind.to_string(), n.parse()?);
            }
            (2, [_, rest @ ..]) if rest.len() == 6 => {
                totals = Some(rest.iter().map(|s| s.to_string()).collect());
            }
            _ => {}
        }
    }
    Ok((kinds, totals.context("no totals row in tier status")?))
}
