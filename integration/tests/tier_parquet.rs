//! Parquet archives in the bucket (docs/tiering.md, "Parquet archive"), against moto's S3 server
//! over HTTP: a 1-partition topic with `remote.storage.enable=true`,
//! `strata.parquet.enable=true`, `segment.bytes=1 MiB` and `segment.ms=3000` (so the last
//! segment seals too) gets 3 000 records from five producers, one per codec (none, gzip,
//! snappy, lz4, zstd), with keys (some null), values, three headers (one with a null value)
//! and explicit timestamps. Once uploaded,
//!
//! - pyarrow (integration/py/tier_parquet_read.py) reads every file under
//!   `<prefix>/parquet/topic=tpq/partition=0/`, checks the schema, and reads them again as a
//!   Hive-partitioned dataset (and DuckDB's `read_parquet(..., hive_partitioning = true)` sums
//!   them up the same); its rows match what a consumer reads, row for row: offsets,
//!   keys, values, headers, timestamps (and CreateTime, partition 0);
//! - the broker is stopped, its catalog deleted and rebuilt from the manifests at restart: the
//!   files are unchanged; then its disk is lost and `strata tier restore` rebuilds the topic on
//!   an empty data directory for a new broker: the files are unchanged again;
//! - retention on the restored broker (AlterConfigs `retention.bytes=1`) deletes every segment
//!   but the newest, and
//!   their Parquet files with them: the files left are exactly those of the segments left.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::admin::{AlterConfig, ResourceSpecifier};
use strata_integration::archive_rows::{duckdb_line, ensure_matches, parse_row, ArchiveRow};
use strata_integration::client::admin_options;
use strata_integration::tier::{now_ms, numbered_records, s3_env, Moto};
use strata_integration::txn::run_script_async;
use strata_integration::{admin, create_topic, producer, read_topic, run, send_all, Broker};

const TOPIC: &str = "tpq";
const BUCKET: &str = "strata-parquet";
const PREFIX: &str = "arch";
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const PER_CODEC: usize = 600;

#[test]
fn parquet_archives_match_consumers_and_follow_retention() {
    run(Duration::from_secs(240), scenario());
}

/// What the bucket's Parquet files hold: file keys with row counts, rows by offset, and the
/// row count of the Hive-partitioned dataset.
struct Archive {
    files: Vec<(String, usize)>,
    /// Base offsets of the segments whose manifests are in the bucket.
    segments: Vec<i64>,
    rows: BTreeMap<i64, ArchiveRow>,
    dataset_rows: usize,
    /// DuckDB's summary line.
    duckdb: Option<String>,
}

async fn read_archive(endpoint: &str) -> Result<Archive> {
    let out = tempfile::tempdir()?;
    let dir = out.path().to_str().context("temp dir")?.to_string();
    let script = run_script_async(
        "tier_parquet_read.py",
        &[endpoint, BUCKET, PREFIX, &dir],
        Duration::from_secs(60),
    )
    .await
    .context("pyarrow reader (integration/setup.sh installs pyarrow)")?;
    let mut archive = Archive {
        files: Vec::new(),
        segments: Vec::new(),
        rows: BTreeMap::new(),
        dataset_rows: 0,
        duckdb: None,
    };
    for line in &script.lines {
        if let Some(rest) = line.strip_prefix("FILE ") {
            let (key, n) = rest.rsplit_once(' ').context("FILE line")?;
            archive.files.push((key.to_string(), n.parse()?));
        } else if let Some(json) = line.strip_prefix("ROW ") {
            // offset ts ts_type partition key value [headers]
            let row = parse_row(json)?;
            if let Some(dup) = archive.rows.insert(row.offset, row) {
                bail!("offset {} in two Parquet rows", dup.offset);
            }
        } else if let Some(base) = line.strip_prefix("MANIFEST ") {
            archive.segments.push(base.parse()?);
        } else if line.starts_with("DUCKDB ") {
            archive.duckdb = Some(line.clone());
        } else if let Some(rest) = line.strip_prefix("DATASET ") {
            archive.dataset_rows = rest.split(' ').next().unwrap_or("0").parse()?;
        }
    }
    Ok(archive)
}

async fn scenario() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket(BUCKET).await?;
    let endpoint = moto.endpoint();
    let env = s3_env(&endpoint);
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let args = [
        "--object-store",
        url.as_str(),
        "--set",
        "remote.log.manager.task.interval.ms=200",
        "--set",
        "log.retention.check.interval.ms=200",
    ];
    let mut broker = Broker::start_with_env(&args, &env)?;
    let bootstrap = broker.bootstrap();
    let configs = [
        ("remote.storage.enable", "true"),
        ("strata.parquet.enable", "true"),
        ("segment.bytes", "1048576"),
        ("segment.ms", "3000"),
        ("retention.ms", "-1"),
    ];
    create_topic(&bootstrap, TOPIC, 1, &configs).await?;

    let ts_base = now_ms() - 3_600_000;
    let mut sent = 0;
    for (i, codec) in CODECS.iter().enumerate() {
        let mut records = numbered_records(i * PER_CODEC, PER_CODEC, 1, 700, ts_base);
        for (j, r) in records.iter_mut().enumerate() {
            if j % 50 == 0 {
                r.key = None;
            }
        }
        let p = producer(
            &bootstrap,
            &[("compression.type", codec), ("linger.ms", "20")],
        )?;
        send_all(&p, TOPIC, &records).await?;
        sent += records.len();
    }

    // Every record ends up in a Parquet file once the last segment has rolled and uploaded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let archive = loop {
        let a = read_archive(&endpoint).await?;
        if a.rows.len() == sent {
            break a;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} of {sent} records in Parquet after 90 s: {:?}",
            a.rows.len(),
            a.files
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    ensure!(archive.files.len() >= 2, "files: {:?}", archive.files);
    ensure!(
        archive.dataset_rows == sent,
        "dataset rows {}",
        archive.dataset_rows
    );
    for (key, _) in &archive.files {
        let name = key.rsplit('/').next().unwrap_or_default();
        ensure!(
            key.starts_with(&format!("{PREFIX}/parquet/topic={TOPIC}/partition=0/"))
                && name.len() == "00000000000000000000.parquet".len(),
            "key layout: {key}"
        );
    }

    let consumed = read_topic(&bootstrap, TOPIC, 1).await?;
    ensure!(
        consumed.len() == sent,
        "consumed {} of {sent}",
        consumed.len()
    );
    for c in &consumed {
        let row = archive
            .rows
            .get(&c.offset)
            .with_context(|| format!("offset {}", c.offset))?;
        ensure_matches(row, c)?;
    }
    ensure!(
        archive.duckdb.as_deref() == Some(duckdb_line(&consumed).as_str()),
        "DuckDB read {:?}, the consumer {}",
        archive.duckdb,
        duckdb_line(&consumed)
    );

    // The catalog is lost and rebuilt from the manifests, which name the Parquet files: the
    // files stay, and retention (below) still deletes them with their segments.
    let status = broker.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "shutdown exited with {status}");
    std::fs::remove_dir_all(broker.data_dir().join("__tier").join("catalog"))
        .context("deleting the catalog")?;
    broker.restart()?;
    let rebuilt = read_archive(&endpoint).await?;
    ensure!(
        rebuilt.files == archive.files && rebuilt.rows == archive.rows,
        "after the catalog rebuild: files {:?}, before {:?}",
        rebuilt.files,
        archive.files
    );

    // The broker's disk is lost: `strata tier restore` rebuilds the topic on an empty data
    // directory from the bucket, and a new broker serves it; the Parquet files stay as they
    // are, named by the manifests it restored from.
    let status = broker.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "shutdown exited with {status}");
    drop(broker);
    let mut restored = Broker::prepare(&args, &env)?;
    let data = restored.data_dir().display().to_string();
    strata_integration::tools::strata_cli_env(
        &[
            "tier",
            "restore",
            "--topic",
            TOPIC,
            "--data-dir",
            &data,
            "--object-store",
            &url,
        ],
        &env,
    )?
    .ensure_success("strata tier restore")?;
    restored.restart()?;
    let bootstrap = restored.bootstrap();
    let after_restore = read_archive(&endpoint).await?;
    ensure!(
        after_restore.files == archive.files && after_restore.rows == archive.rows,
        "after the restore: files {:?}, before {:?}",
        after_restore.files,
        archive.files
    );

    // Retention on the restored broker deletes segments and their Parquet files together.
    // AlterConfigs replaces the whole override set, so the others are given again.
    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(TOPIC));
    for (k, v) in configs {
        alter = alter.set(k, v);
    }
    alter = alter.set("retention.bytes", "1");
    let results = admin(&bootstrap)?
        .alter_configs([&alter], &admin_options())
        .await
        .context("AlterConfigs")?;
    ensure!(
        matches!(results.as_slice(), [Ok(_)]),
        "AlterConfigs: {results:?}"
    );
    // retention.bytes keeps the newest segment (the total less it is below 1 byte); every
    // other one goes, and exactly the Parquet files of the segments left remain.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let a = read_archive(&endpoint).await?;
        let mut bases: Vec<i64> = a
            .files
            .iter()
            .map(|(k, _)| {
                let name = k.rsplit('/').next().unwrap_or_default();
                name.trim_end_matches(".parquet").parse::<i64>()
            })
            .collect::<Result<_, _>>()?;
        bases.sort();
        let mut segments = a.segments.clone();
        segments.sort();
        if segments.len() == 1 && bases == segments {
            ensure!(
                archive.files.len() > 1,
                "retention deleted nothing: {:?}",
                a.files
            );
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "after retention: Parquet files {:?}, segments {segments:?}",
            a.files
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    drop(restored);
    Ok(())
}
