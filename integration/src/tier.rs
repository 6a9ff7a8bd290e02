//! Helpers for the tiered-storage scenarios (`tests/tier_*.rs`): an S3 server (moto) that can be
//! frozen to simulate an outage, the broker environment for S3, `strata tier status` parsed into
//! rows, the local segment files of a partition, the objects of a `file://` bucket, and exact
//! comparison of what a consumer read with what was produced.
//!
//! Everything talks to loopback only: moto listens on `127.0.0.1`, and every process that may
//! open an S3 store gets `AWS_EC2_METADATA_DISABLED=true` and non-existent AWS profile files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_tier::manifest::SegmentManifest;

use crate::client::{Delivered, Outgoing, Record};
use crate::tools::strata_cli_env;

pub use crate::moto::{moto_requests, Moto, MotoRequest};

/// The environment every process that may open an object store gets: no instance metadata, no
/// profile files of the machine.
pub fn base_env() -> Vec<(String, String)> {
    [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/strata-it-aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/strata-it-aws-credentials",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// [`base_env`] plus the settings for an S3-compatible server at `endpoint` (plain http).
pub fn s3_env(endpoint: &str) -> Vec<(String, String)> {
    let mut env = base_env();
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// One row of `strata tier status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRow {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// First offset held in the bucket.
    pub remote_start: i64,
    /// One past the last offset held in the bucket.
    pub remote_end: i64,
    /// Manifests (segments) in the bucket.
    pub remote_segments: usize,
    /// Bytes of the `.log` objects.
    pub remote_bytes: u64,
    /// Log start offset across tiers (from the running broker), if asked.
    pub log_start: Option<i64>,
    /// First local offset (from the running broker), if asked.
    pub local_start: Option<i64>,
    /// Log end offset (from the running broker), if asked.
    pub log_end: Option<i64>,
}

/// Runs `strata tier status --data-dir D [--object-store URL] [--bootstrap-server B]` and parses
/// its table.
pub fn tier_status(
    data_dir: &Path,
    object_store: Option<&str>,
    bootstrap: Option<&str>,
    env: &[(String, String)],
) -> Result<Vec<StatusRow>> {
    let data = data_dir.display().to_string();
    let mut args = vec!["tier", "status", "--data-dir", data.as_str()];
    if let Some(url) = object_store {
        args.extend(["--object-store", url]);
    }
    if let Some(b) = bootstrap {
        args.extend(["--bootstrap-server", b]);
    }
    let out = strata_cli_env(&args, env)?;
    out.ensure_success("strata tier status")?;
    let text = out.stdout_str();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    ensure!(
        header.starts_with("TOPIC\tPARTITION\tREMOTE-START"),
        "unexpected tier status header: {header:?}"
    );
    let opt = |s: &str| -> Result<Option<i64>> {
        if s == "-" {
            Ok(None)
        } else {
            Ok(Some(s.parse().with_context(|| format!("number {s:?}"))?))
        }
    };
    let mut rows = Vec::new();
    // The partition table ends at the first blank line (the per-broker request report follows).
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        ensure!(f.len() == 9, "unexpected tier status line: {line:?}");
        rows.push(StatusRow {
            topic: f[0].to_string(),
            partition: f[1].parse()?,
            remote_start: f[2].parse()?,
            remote_end: f[3].parse()?,
            remote_segments: f[4].parse()?,
            remote_bytes: f[5].parse()?,
            log_start: opt(f[6])?,
            local_start: opt(f[7])?,
            log_end: opt(f[8])?,
        });
    }
    Ok(rows)
}

/// Base offsets of the `.log` segment files in `<data dir>/<topic>-<partition>/`, ascending.
pub fn local_segments(data_dir: &Path, topic: &str, partition: i32) -> Result<Vec<i64>> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                bases.push(stem.parse()?);
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// One object of a `file://` bucket under `v1/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketObject {
    /// Key relative to the bucket root.
    pub key: String,
    /// File path.
    pub path: PathBuf,
    /// Topic id.
    pub topic_id: String,
    /// Partition.
    pub partition: i32,
    /// Base offset of the segment.
    pub base_offset: i64,
    /// Upload id.
    pub upload_id: String,
    /// `log`, `index`, `timeindex`, `txnindex`, `snapshot` or `manifest.json`.
    pub ext: String,
    /// Size in bytes.
    pub size: u64,
}

/// Every object under `<root>/v1/` of a `file://` bucket rooted at `root`, sorted by key.
/// Files that do not follow the key layout (such as a staging file of a write in progress) are
/// an error: once uploads have settled the bucket holds nothing else.
pub fn bucket_objects(root: &Path) -> Result<Vec<BucketObject>> {
    walk_bucket(root, true)
}

/// Like [`bucket_objects`] while uploads may be running: files that do not follow the key
/// layout (staging files of writes in progress) are skipped, and files that vanish during the
/// walk are ignored.
pub fn bucket_objects_in_flight(root: &Path) -> Result<Vec<BucketObject>> {
    walk_bucket(root, false)
}

fn walk_bucket(root: &Path, strict: bool) -> Result<Vec<BucketObject>> {
    let mut out = Vec::new();
    let v1 = root.join("v1");
    if !v1.exists() {
        return Ok(out);
    }
    let mut stack = vec![v1];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if !strict && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let (is_dir, size) = match entry.metadata() {
                Ok(m) => (m.is_dir(), m.len()),
                Err(e) if !strict && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
            };
            if is_dir {
                stack.push(path);
                continue;
            }
            let key = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let file = key.rsplit('/').next().unwrap_or_default();
            let ext = file
                .split_once('.')
                .map(|(_, e)| e.to_string())
                .unwrap_or_default();
            let parsed = strata_tier::keys::parse(&key).filter(|_| {
                [
                    "log",
                    "index",
                    "timeindex",
                    "txnindex",
                    "snapshot",
                    "manifest.json",
                ]
                .contains(&ext.as_str())
            });
            let Some(parsed) = parsed else {
                ensure!(
                    !strict,
                    "file {key} in the bucket does not follow the key layout (a staging file \
                     left by an interrupted write?)"
                );
                continue;
            };
            out.push(BucketObject {
                size,
                key,
                path,
                topic_id: parsed.0,
                partition: parsed.1,
                base_offset: parsed.2,
                upload_id: parsed.3,
                ext,
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Manifests, and `.log` objects of uploads without a manifest, in a `file://` bucket rooted at
/// `root` right now (uploads may be running).
pub fn bucket_state(root: &Path) -> Result<(usize, usize)> {
    let objects = bucket_objects_in_flight(root)?;
    let manifests: Vec<&str> = objects
        .iter()
        .filter(|o| o.ext == "manifest.json")
        .map(|o| o.upload_id.as_str())
        .collect();
    let incomplete = objects
        .iter()
        .filter(|o| o.ext == "log" && !manifests.contains(&o.upload_id.as_str()))
        .count();
    Ok((manifests.len(), incomplete))
}

/// The manifests of a `file://` bucket rooted at `root`, sorted by (partition, base offset).
pub fn bucket_manifests(root: &Path) -> Result<Vec<SegmentManifest>> {
    let mut out = Vec::new();
    for o in bucket_objects(root)?
        .iter()
        .filter(|o| o.ext == "manifest.json")
    {
        let data = std::fs::read(&o.path)?;
        out.push(
            SegmentManifest::from_bytes(&data).map_err(|e| anyhow!("manifest {}: {e}", o.key))?,
        );
    }
    out.sort_by_key(|m| (m.partition, m.base_offset));
    Ok(out)
}

/// Checks the bucket invariants after uploads have settled: every upload id that has any
/// object has exactly the objects of a complete upload (the four of every upload and the
/// `.snapshot`/`.txnindex` its manifest names, of the sizes it names) (so no leftovers of unfinished
/// uploads), each `.log` object has the manifest's size, each base offset of a partition is
/// uploaded once, and the segments of each partition are contiguous from `start` on. Returns
/// the manifests.
pub fn check_bucket(root: &Path, topic: &str, partitions: i32) -> Result<Vec<SegmentManifest>> {
    let objects = bucket_objects(root)?;
    let manifests = bucket_manifests(root)?;
    let mut by_upload: BTreeMap<&str, Vec<&BucketObject>> = BTreeMap::new();
    for o in &objects {
        by_upload.entry(o.upload_id.as_str()).or_default().push(o);
    }
    for m in &manifests {
        ensure!(m.topic == topic, "manifest of another topic: {m:?}");
        let objs = by_upload.remove(m.upload_id.as_str()).unwrap_or_default();
        let mut exts: Vec<&str> = objs.iter().map(|o| o.ext.as_str()).collect();
        exts.sort_unstable();
        // The four objects of every upload, and the `.snapshot` / `.txnindex` ones a version 2
        // manifest names.
        let mut expected = vec!["index", "log", "manifest.json", "timeindex"];
        let aux = [("snapshot", m.producer_snapshot), ("txnindex", m.txn_index)];
        for (ext, object) in aux {
            if let Some(object) = object {
                expected.push(ext);
                let size = objs.iter().find(|o| o.ext == ext).map_or(0, |o| o.size);
                ensure!(
                    size == object.size,
                    "upload {}: .{ext} object has {size} bytes, the manifest says {}",
                    m.upload_id,
                    object.size
                );
            }
        }
        expected.sort_unstable();
        ensure!(
            exts == expected,
            "upload {} of {}-{} base {} has objects {exts:?}",
            m.upload_id,
            m.topic,
            m.partition,
            m.base_offset
        );
        let log = objs.iter().find(|o| o.ext == "log").map_or(0, |o| o.size);
        ensure!(
            log == m.size,
            "upload {}: .log object has {log} bytes, the manifest says {}",
            m.upload_id,
            m.size
        );
        ensure!(
            objs.iter()
                .all(|o| o.partition == m.partition && o.base_offset == m.base_offset),
            "upload {}: objects under another partition or base offset",
            m.upload_id
        );
    }
    ensure!(
        by_upload.is_empty(),
        "objects of uploads without a manifest: {:?}",
        by_upload
            .values()
            .flatten()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>()
    );
    for p in 0..partitions {
        let segs: Vec<&SegmentManifest> = manifests.iter().filter(|m| m.partition == p).collect();
        for pair in segs.windows(2) {
            ensure!(
                pair[0].base_offset != pair[1].base_offset,
                "partition {p}: base offset {} uploaded twice",
                pair[0].base_offset
            );
            ensure!(
                pair[0].end_offset == pair[1].base_offset,
                "partition {p}: segment [{}, {}) is followed by one at {}",
                pair[0].base_offset,
                pair[0].end_offset,
                pair[1].base_offset
            );
        }
    }
    Ok(manifests)
}

/// Polls `probe` every 200 ms until it returns `Ok(Ok(value))`, failing with its last
/// description (`Ok(Err(state))`) after `timeout`. An `Err` from the probe fails at once.
pub async fn wait_for<T, F>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Result<Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe()? {
            Ok(v) => return Ok(v),
            Err(state) if Instant::now() >= deadline => {
                bail!("{what}: not reached within {timeout:?}; last state: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Waits until every partition of `topic` has exactly one local segment file (the active one,
/// at `B`), i.e. every sealed segment was uploaded and then removed by local retention, and
/// that segment is not the first (`B > 0`, so there is a cold range). Returns `B` per partition.
pub async fn wait_all_uploaded(
    data_dir: &Path,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<Vec<i64>> {
    wait_for(
        "every sealed segment uploaded and deleted locally",
        timeout,
        || {
            let mut actives = Vec::new();
            let mut state = Vec::new();
            for p in 0..partitions {
                let segs = local_segments(data_dir, topic, p)?;
                state.push(format!("{topic}-{p}: local segments {segs:?}"));
                match segs.as_slice() {
                    [only] if *only > 0 => actives.push(*only),
                    _ => {}
                }
            }
            if actives.len() == partitions as usize {
                Ok(Ok(actives))
            } else {
                Ok(Err(state.join("; ")))
            }
        },
    )
    .await
}

/// The current time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `count` records for partitions `0..partitions` round-robin: record `first + i` has key
/// `k-<n>`, two headers (`n` = its number, `src` = a constant, one null-valued header `nil`),
/// a unique value of `value_len` bytes (its number then pseudo-random bytes), and the explicit
/// timestamp `ts_base + n`.
pub fn numbered_records(
    first: usize,
    count: usize,
    partitions: i32,
    value_len: usize,
    ts_base: i64,
) -> Vec<Outgoing> {
    let mut rng = StdRng::seed_from_u64(first as u64 ^ 0x5eed_0f71);
    (first..first + count)
        .map(|n| {
            let mut value = format!("value-{n:09}-").into_bytes();
            while value.len() < value_len {
                value.push(rng.random::<u8>());
            }
            Outgoing {
                partition: Some((n % partitions as usize) as i32),
                key: Some(format!("k-{n}").into_bytes()),
                value,
                headers: vec![
                    ("n".to_string(), Some((n as u64).to_be_bytes().to_vec())),
                    ("src".to_string(), Some(b"strata-tier-it".to_vec())),
                    ("nil".to_string(), None),
                ],
                timestamp: Some(ts_base + n as i64),
            }
        })
        .collect()
}

/// The log of each partition as the producer's acknowledgements describe it: per partition,
/// the records in offset order. Fails unless each partition's acknowledged offsets are exactly
/// `starts[p], starts[p] + 1, ...` in send order.
pub fn acknowledged_logs(
    sent: &[Outgoing],
    acked: &[Delivered],
    starts: &[i64],
) -> Result<Vec<Vec<Outgoing>>> {
    ensure!(
        sent.len() == acked.len(),
        "{} sent, {} acked",
        sent.len(),
        acked.len()
    );
    let mut logs: Vec<Vec<Outgoing>> = vec![Vec::new(); starts.len()];
    for (i, (record, d)) in sent.iter().zip(acked).enumerate() {
        let p = usize::try_from(d.partition)?;
        ensure!(
            record.partition == Some(d.partition),
            "record {i} was sent to partition {:?} but acked on {}",
            record.partition,
            d.partition
        );
        let log = logs
            .get_mut(p)
            .ok_or_else(|| anyhow!("record {i} acked on unknown partition {p}"))?;
        let expected = starts[p] + log.len() as i64;
        ensure!(
            d.offset == expected,
            "record {i} acked at {p}/{}, expected offset {expected}",
            d.offset
        );
        log.push(record.clone());
    }
    Ok(logs)
}

/// Compares what a consumer read from one partition with the expected log: exactly
/// `expected.len()` records, the j-th at offset `first_offset + j`, with the same key, value,
/// headers and timestamp.
pub fn compare_partition(
    what: &str,
    partition: i32,
    read: &[Record],
    expected: &[Outgoing],
    first_offset: i64,
) -> Result<()> {
    let got: Vec<&Record> = read.iter().filter(|r| r.partition == partition).collect();
    for (j, (r, e)) in got.iter().zip(expected).enumerate() {
        let offset = first_offset + j as i64;
        let same = r.offset == offset
            && r.key == e.key
            && r.value.as_deref() == Some(e.value.as_slice())
            && r.headers == e.headers
            && r.timestamp == e.timestamp;
        if !same {
            bail!(
                "{what}: partition {partition}, position {j}: expected offset {offset} key {:?} \
                 ts {:?}; read offset {} key {:?} ts {:?} value {} bytes (expected {}), headers \
                 equal: {}, value equal: {}",
                e.key.as_deref().map(String::from_utf8_lossy),
                e.timestamp,
                r.offset,
                r.key.as_deref().map(String::from_utf8_lossy),
                r.timestamp,
                r.value.as_ref().map_or(0, Vec::len),
                e.value.len(),
                r.headers == e.headers,
                r.value.as_deref() == Some(e.value.as_slice()),
            );
        }
    }
    ensure!(
        got.len() == expected.len(),
        "{what}: partition {partition}: read {} records from offset {first_offset}, expected {} \
         (last read offset {:?})",
        got.len(),
        expected.len(),
        got.last().map(|r| r.offset)
    );
    Ok(())
}

/// One partition of a [`raw_fetch`] answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Kafka error code.
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Bytes of record batches.
    pub records_len: usize,
    /// First offset of the first batch and last offset of the last whole batch, if any.
    pub offsets: Option<(i64, i64)>,
}

/// Sends one Fetch v4 request over raw TCP (no client library, so nothing retries or hides an
/// error) for `partitions` as `(partition, fetch offset)` of `topic`, and decodes the answer.
/// `max_wait_ms` and `min_bytes` as in Kafka; each partition may return up to 1 MiB.
pub async fn raw_fetch(
    addr: std::net::SocketAddr,
    topic: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    min_bytes: i32,
) -> Result<Vec<FetchedPartition>> {
    let topic = topic.to_string();
    let partitions = partitions.to_vec();
    tokio::task::spawn_blocking(move || {
        raw_fetch_blocking(addr, &topic, &partitions, max_wait_ms, min_bytes)
    })
    .await
    .context("the raw fetch thread panicked")?
}

fn raw_fetch_blocking(
    addr: std::net::SocketAddr,
    topic: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    min_bytes: i32,
) -> Result<Vec<FetchedPartition>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = Vec::new();
    req.extend_from_slice(&1i16.to_be_bytes()); // Fetch
    req.extend_from_slice(&4i16.to_be_bytes()); // v4
    req.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    req.extend_from_slice(&9i16.to_be_bytes());
    req.extend_from_slice(b"strata-it");
    req.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
    req.extend_from_slice(&max_wait_ms.to_be_bytes());
    req.extend_from_slice(&min_bytes.to_be_bytes());
    req.extend_from_slice(&(64i32 << 20).to_be_bytes()); // max bytes
    req.push(0); // read_uncommitted
    req.extend_from_slice(&1i32.to_be_bytes());
    req.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    req.extend_from_slice(topic.as_bytes());
    req.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for (p, offset) in partitions {
        req.extend_from_slice(&p.to_be_bytes());
        req.extend_from_slice(&offset.to_be_bytes());
        req.extend_from_slice(&(1i32 << 20).to_be_bytes());
    }
    let mut frame = (req.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&req);
    s.write_all(&frame)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    ensure!((8..1 << 28).contains(&len), "response size {len}");
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    let mut r = Cursor { buf: &body, pos: 0 };
    ensure!(r.i32()? == 7, "correlation id");
    let _throttle = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..r.i32()? {
        let name_len = r.i16()?;
        let name = String::from_utf8_lossy(r.take(name_len.max(0) as usize)?).to_string();
        for _ in 0..r.i32()? {
            let partition = r.i32()?;
            let error_code = r.i16()?;
            let high_watermark = r.i64()?;
            let _lso = r.i64()?;
            let aborted = r.i32()?;
            r.take(aborted.max(0) as usize * 16)?;
            let records_len = r.i32()?.max(0) as usize;
            let records = r.take(records_len)?;
            out.push(FetchedPartition {
                topic: name.clone(),
                partition,
                error_code,
                high_watermark,
                records_len,
                offsets: batch_range(records),
            });
        }
    }
    Ok(out)
}

/// First offset of the first batch and last offset of the last whole batch in `records`.
fn batch_range(records: &[u8]) -> Option<(i64, i64)> {
    let mut pos = 0usize;
    let mut range: Option<(i64, i64)> = None;
    while pos + 27 <= records.len() {
        let base = i64::from_be_bytes(records[pos..pos + 8].try_into().ok()?);
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().ok()?) as usize;
        let delta = i32::from_be_bytes(records[pos + 23..pos + 27].try_into().ok()?) as i64;
        if pos + 12 + len > records.len() {
            break;
        }
        range = Some((range.map_or(base, |r| r.0), base + delta));
        pos += 12 + len;
    }
    range
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(
            self.pos + n <= self.buf.len(),
            "response truncated at {}",
            self.pos
        );
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into()?))
    }
}

/// Topic configs of a tiered topic whose sealed segments leave local disk as soon as they are
/// uploaded: `remote.storage.enable=true`, 1 MiB segments, `local.retention.bytes=0`, no total
/// retention.
pub const COLD_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("remote.storage.enable", "true"),
    ("segment.bytes", "1048576"),
    ("local.retention.bytes", "0"),
    ("retention.ms", "-1"),
];

/// Broker flags that make the tiering loop and retention act within 200 ms.
pub const FAST_TIERING: &[&str] = &[
    "--set",
    "remote.log.manager.task.interval.ms=200",
    "--set",
    "log.retention.check.interval.ms=200",
];

/// Flags of a read replica (`strata serve --read-replica --object-store URL`, which the test
/// puts first) that looks for new topics and segments in the bucket every 500 ms.
pub const READ_REPLICA_REFRESH: &[&str] = &["--set", "strata.read.replica.refresh.interval.ms=500"];

/// Polls ListOffsets (earliest, latest; `fetch_watermarks`) of partitions `0..expected.len()` of
/// `topic` on `bootstrap` every 100 ms until partition `p` answers exactly `expected[p]`, and
/// returns how long that took. Errors (a topic the broker does not list yet) count as "not
/// yet"; after `timeout` it fails with the last answers.
pub async fn wait_watermarks(
    bootstrap: &str,
    topic: &str,
    expected: &[(i64, i64)],
    timeout: Duration,
) -> Result<Duration> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let expected = expected.to_vec();
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::Consumer;
        let started = Instant::now();
        let mut client = crate::client::consumer(&bootstrap, &[])?;
        loop {
            let got: Vec<Result<(i64, i64), String>> = (0..expected.len())
                .map(|p| {
                    client
                        .fetch_watermarks(&topic, p as i32, Duration::from_secs(5))
                        .map_err(|e| e.to_string())
                })
                .collect();
            if got.iter().zip(&expected).all(|(g, e)| g.as_ref() == Ok(e)) {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= timeout {
                bail!(
                    "{topic} on {bootstrap}: watermarks (earliest, latest) {got:?}, expected \
                     {expected:?} within {timeout:?}"
                );
            }
            if got.iter().any(Result::is_err) {
                // A fresh client asks for fresh metadata.
                client = crate::client::consumer(&bootstrap, &[])?;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .context("the watermark thread panicked")?
}
