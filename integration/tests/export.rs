//! `strata export` (issue 11) against the real broker and binary: a 2-partition tiered topic
//! (`segment.bytes=1 MiB`, `local.retention.bytes=0`, zstd batches) whose history is mostly in
//! the bucket (`file://`), with an aborted transaction in partition 0. The records have UTF-8
//! keys, binary values (JSON Lines writes them as base64), three headers (one null-valued)
//! and explicit timestamps. Checked, exactly:
//!
//! - Parquet, whole topic, files of ~400 KB of records: pyarrow (integration/py/export_read.py)
//!   reads every file (schema checked) and the directory as one Hive dataset, and DuckDB's
//!   `read_parquet(..., hive_partitioning = true)` sums it up the same; the rows are
//!   what a read_committed consumer reads, row for row (offsets, timestamps, keys, values,
//!   headers), none of the aborted ones; file names are contiguous offset ranges from 0 up to
//!   the high watermark, cold offsets included;
//! - a second run with the same arguments writes nothing and leaves every file as it was;
//! - after more records, a third run writes only the new range (no row twice);
//! - an interrupted run (a range file removed, a stale `.tmp` left) is repaired by the next:
//!   exactly the missing rows are written again, the `.tmp` removed;
//! - JSON Lines of partition 1 with `--from-offset 100 --to-offset 250`: offsets 100..=249;
//!   with `--from-time`/`--to-time`: the records whose timestamps are in `[from, to)`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::producer::{FutureRecord, Producer};
use strata_integration::archive_rows::{duckdb_line, ensure_matches, parse_row, ArchiveRow};
use strata_integration::tier::{
    numbered_records, wait_all_uploaded, COLD_TOPIC_CONFIGS, FAST_TIERING,
};
use strata_integration::txn::run_script_async;
use strata_integration::{create_topic, producer, read_topic, run, send_all, strata_cli, Broker};

const TOPIC: &str = "exp";
const PARTITIONS: i32 = 2;
const FIRST: usize = 6000;
const VALUE_LEN: usize = 800;
const MORE: usize = 400;
const TS_BASE: i64 = 1_700_000_000_000;

#[test]
fn export_reads_hot_and_cold_resumes_and_honours_bounds() {
    run(Duration::from_secs(240), scenario());
}

/// What one export directory holds, as export_read.py prints it.
struct Exported {
    /// Relative path → rows.
    files: BTreeMap<String, usize>,
    /// (partition, offset) → row.
    rows: BTreeMap<(i32, i64), ArchiveRow>,
    tmp: Vec<String>,
    dataset_rows: Option<usize>,
    /// DuckDB's summary line (Parquet only).
    duckdb: Option<String>,
}

async fn read_export(dir: &Path, format: &str) -> Result<Exported> {
    let dir = dir.to_str().context("export dir")?.to_string();
    let script = run_script_async("export_read.py", &[&dir, format], Duration::from_secs(60))
        .await
        .context("export reader (integration/setup.sh installs pyarrow)")?;
    let mut out = Exported {
        files: BTreeMap::new(),
        rows: BTreeMap::new(),
        tmp: Vec::new(),
        dataset_rows: None,
        duckdb: None,
    };
    for line in &script.lines {
        if let Some(rest) = line.strip_prefix("FILE ") {
            let (path, n) = rest.rsplit_once(' ').context("FILE line")?;
            out.files.insert(path.to_string(), n.parse()?);
        } else if let Some(rest) = line.strip_prefix("ROW ") {
            let row = parse_row(rest)?;
            if let Some(dup) = out.rows.insert((row.partition, row.offset), row) {
                bail!(
                    "partition {} offset {} in two rows",
                    dup.partition,
                    dup.offset
                );
            }
        } else if let Some(rest) = line.strip_prefix("TMP ") {
            out.tmp.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("DATASET ") {
            out.dataset_rows = Some(rest.parse()?);
        } else if line.starts_with("DUCKDB ") {
            out.duckdb = Some(line.clone());
        }
    }
    Ok(out)
}

/// Runs `strata export` with `args`; returns its stdout.
async fn export(bootstrap: &str, args: &[&str]) -> Result<String> {
    let mut all: Vec<String> = vec![
        "export".into(),
        "--bootstrap-server".into(),
        bootstrap.into(),
        "--topic".into(),
        TOPIC.into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        strata_cli(&refs)
    })
    .await??;
    out.ensure_success("strata export")?;
    Ok(out.stdout_str())
}

/// Per partition, the `(first, last)` ranges of the files, checked contiguous from 0 to `hw`.
fn ensure_contiguous(files: &BTreeMap<String, usize>, hws: &[i64], ext: &str) -> Result<()> {
    for (p, &hw) in hws.iter().enumerate() {
        let prefix = format!("topic={TOPIC}/partition={p}/");
        let mut next = 0;
        for name in files.keys().filter_map(|f| f.strip_prefix(&prefix)) {
            let stem = name
                .strip_suffix(&format!(".{ext}"))
                .with_context(|| format!("file {name}"))?;
            let (first, last) = stem.split_once('-').context("range name")?;
            let (first, last): (i64, i64) = (first.parse()?, last.parse()?);
            ensure!(
                first == next && last >= first && first.to_string().len() <= 20,
                "partition {p}: file {name} after offset {next}"
            );
            next = last + 1;
        }
        ensure!(
            next == hw,
            "partition {p}: the files cover 0..{next}, high watermark {hw}"
        );
    }
    Ok(())
}

async fn scenario() -> Result<()> {
    let broker = Broker::start(FAST_TIERING)?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, COLD_TOPIC_CONFIGS).await?;
    let plain = producer(
        &bootstrap,
        &[("compression.type", "zstd"), ("linger.ms", "5")],
    )?;
    send_all(
        &plain,
        TOPIC,
        &numbered_records(0, FIRST / 2, PARTITIONS, VALUE_LEN, TS_BASE),
    )
    .await?;
    // An aborted transaction in partition 0, between two halves of plain records.
    let txn = producer(&bootstrap, &[("transactional.id", "export-aborted")])?;
    txn.init_transactions(Duration::from_secs(30))?;
    txn.begin_transaction()?;
    for i in 0..20 {
        let value = format!("aborted-{i}");
        txn.send(
            FutureRecord::<[u8], [u8]>::to(TOPIC)
                .partition(0)
                .payload(value.as_bytes()),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)?;
    }
    txn.abort_transaction(Duration::from_secs(30))?;
    send_all(
        &plain,
        TOPIC,
        &numbered_records(FIRST / 2, FIRST / 2, PARTITIONS, VALUE_LEN, TS_BASE),
    )
    .await?;
    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(90),
    )
    .await?;
    println!("local logs start at {actives:?}; everything below is only in the bucket");

    // The whole topic as Parquet.
    let out = tempfile::tempdir()?;
    let dir = out.path().to_str().context("dir")?.to_string();
    let args = [
        "--format",
        "parquet",
        "--out",
        dir.as_str(),
        "--file-bytes",
        "400000",
    ];
    let said = export(&bootstrap, &args).await?;
    println!("{said}");
    let consumed = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    ensure!(
        consumed.len() == FIRST,
        "consumed {} of {FIRST}",
        consumed.len()
    );
    let hws = high_watermarks(&bootstrap).await?;
    let first = read_export(out.path(), "parquet").await?;
    ensure_same(&first, &consumed)?;
    ensure!(
        first.dataset_rows == Some(FIRST),
        "dataset rows {:?}",
        first.dataset_rows
    );
    ensure_contiguous(&first.files, &hws, "parquet")?;
    ensure!(
        first.duckdb.as_deref() == Some(duckdb_line(&consumed).as_str()),
        "DuckDB read {:?}, the consumer {}",
        first.duckdb,
        duckdb_line(&consumed)
    );
    ensure!(
        first.files.len() >= 2 * PARTITIONS as usize,
        "expected several files per partition: {:?}",
        first.files.keys()
    );
    ensure!(
        said.contains(&format!("exported {FIRST} rows")),
        "summary: {said}"
    );

    // Again: nothing to do.
    let before = snapshot(out.path())?;
    let said = export(&bootstrap, &args).await?;
    ensure!(
        said.contains("exported 0 rows") && said.contains("0 new file(s)"),
        "second run: {said}"
    );
    ensure!(
        snapshot(out.path())? == before,
        "the second run changed the files"
    );

    // More records: only the new range is written.
    send_all(
        &plain,
        TOPIC,
        &numbered_records(FIRST, MORE, PARTITIONS, VALUE_LEN, TS_BASE),
    )
    .await?;
    let said = export(&bootstrap, &args).await?;
    ensure!(
        said.contains(&format!("exported {MORE} rows")),
        "third run: {said}"
    );
    let consumed = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    let hws = high_watermarks(&bootstrap).await?;
    let third = read_export(out.path(), "parquet").await?;
    ensure_same(&third, &consumed)?;
    ensure_contiguous(&third.files, &hws, "parquet")?;
    for (name, rows) in &first.files {
        ensure!(
            third.files.get(name) == Some(rows),
            "file {name} changed after the third run"
        );
    }

    // An interrupted run: one range file gone, a temporary left behind.
    let (victim, victim_rows) = third
        .files
        .iter()
        .find(|(n, _)| n.contains("partition=1/"))
        .map(|(n, r)| (n.clone(), *r))
        .context("a partition 1 file")?;
    std::fs::remove_file(out.path().join(&victim))?;
    let stale = out.path().join(format!(
        "topic={TOPIC}/partition=1/.00000000000000000000.parquet.tmp"
    ));
    std::fs::write(&stale, b"half a file")?;
    let said = export(&bootstrap, &args).await?;
    ensure!(
        said.contains(&format!("exported {victim_rows} rows")),
        "repair run (missing {victim}, {victim_rows} rows): {said}"
    );
    let repaired = read_export(out.path(), "parquet").await?;
    ensure!(repaired.tmp.is_empty(), "left over: {:?}", repaired.tmp);
    ensure_same(&repaired, &consumed)?;
    ensure_contiguous(&repaired.files, &hws, "parquet")?;

    // JSON Lines of partition 1, offsets 100..250.
    let jl = tempfile::tempdir()?;
    let jdir = jl.path().to_str().context("dir")?.to_string();
    export(
        &bootstrap,
        &[
            "--partition",
            "1",
            "--from-offset",
            "100",
            "--to-offset",
            "250",
            "--format",
            "jsonl",
            "--out",
            jdir.as_str(),
        ],
    )
    .await?;
    let want: Vec<_> = consumed
        .iter()
        .filter(|c| c.partition == 1 && (100..250).contains(&c.offset))
        .cloned()
        .collect();
    ensure!(want.len() == 150, "partition 1 has offsets 100..250");
    let got = read_export(jl.path(), "jsonl").await?;
    ensure_same(&got, &want)?;

    // By time: records of partition 0 with timestamps in [from, to), both before the aborted
    // transaction (its records carry the current time, and ListOffsets by time finds them).
    let p0: Vec<_> = consumed.iter().filter(|c| c.partition == 0).collect();
    let (from, to) = (
        p0[100].timestamp.context("ts")?,
        p0[600].timestamp.context("ts")?,
    );
    let tl = tempfile::tempdir()?;
    let tdir = tl.path().to_str().context("dir")?.to_string();
    let (from_s, to_s) = (from.to_string(), to.to_string());
    export(
        &bootstrap,
        &[
            "--partition",
            "0",
            "--from-time",
            from_s.as_str(),
            "--to-time",
            to_s.as_str(),
            "--format",
            "jsonl",
            "--out",
            tdir.as_str(),
        ],
    )
    .await?;
    let want: Vec<_> = p0[100..600].iter().map(|c| (*c).clone()).collect();
    let got = read_export(tl.path(), "jsonl").await?;
    ensure_same(&got, &want)?;
    drop(broker);
    Ok(())
}

/// Fails unless `exported` holds exactly the rows of `consumed`.
fn ensure_same(exported: &Exported, consumed: &[strata_integration::Record]) -> Result<()> {
    ensure!(
        exported.rows.len() == consumed.len(),
        "exported {} rows, the consumer read {}",
        exported.rows.len(),
        consumed.len()
    );
    for c in consumed {
        let row = exported
            .rows
            .get(&(c.partition, c.offset))
            .with_context(|| {
                format!("partition {} offset {} not exported", c.partition, c.offset)
            })?;
        ensure_matches(row, c)?;
    }
    Ok(())
}

/// Each partition's high watermark (ListOffsets latest, through a consumer).
async fn high_watermarks(bootstrap: &str) -> Result<Vec<i64>> {
    use rdkafka::consumer::Consumer;
    let c = strata_integration::consumer(bootstrap, &[])?;
    (0..PARTITIONS)
        .map(|p| {
            let (_, hw) = c
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .with_context(|| format!("watermarks of partition {p}"))?;
            Ok(hw)
        })
        .collect()
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Result<BTreeMap<String, (u64, std::time::SystemTime)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path().display().to_string(), (m.len(), m.modified()?));
            }
        }
    }
    Ok(out)
}
