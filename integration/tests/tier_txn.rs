//! Transactions on a tiered topic: a transactional producer (librdkafka through rdkafka)
//! writes 60 transactions of 100 records of ~1 KB (about 6 MB) into one partition with
//! `remote.storage.enable=true`, `segment.bytes=1 MiB` (the smallest allowed) and
//! `local.retention.bytes=0`, committing two of every three and aborting the third, then
//! leaves a 61st transaction of 1500 records open (segments roll inside it). Once every
//! sealed segment is uploaded and deleted locally (only the active segment is left on disk),
//!
//! - the bucket holds the segments' producer snapshots and, for the segments holding ABORT
//!   markers, their transaction indexes, named by version 2 manifests;
//! - a read_committed consumer from offset 0 sees exactly the committed records, in order, and
//!   stops at the open transaction (the last stable offset) (the aborted ones are dropped thanks to the aborted-transaction lists the cold reads
//!   return from the remote transaction indexes);
//! - a read_uncommitted consumer sees every data record, committed and aborted, in order;
//! - after `strata tier restore` of the topic into a second broker's empty data directory
//!   (the bucket alone: the first broker is stopped), a read_committed consumer sees exactly
//!   the transactions committed below the remote end — a transaction whose marker was not
//!   uploaded is aborted by the restore (its end is not in the bucket) — and read_uncommitted
//!   sees every data record below the remote end.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Offset;
use strata_integration::tier::{base_env, check_bucket, wait_all_uploaded};
use strata_integration::tools::strata_cli_env;
use strata_integration::{create_topic, read_partitions, run, Broker};

const TOPIC: &str = "tier-txn";
/// Finished transactions; one more (number `TRANSACTIONS`) is left open at the end.
const TRANSACTIONS: usize = 60;
const PER_TXN: usize = 100;
/// Records of the transaction left open: about 1.5 MB, so segments roll inside it and the
/// remote end falls in it.
const OPEN_RECORDS: usize = 1500;

/// Records of transaction `t`.
fn records_in(t: usize) -> usize {
    if t < TRANSACTIONS {
        PER_TXN
    } else {
        OPEN_RECORDS
    }
}
const VALUE_LEN: usize = 1000;

#[test]
fn read_committed_over_tiered_segments_skips_aborted_transactions() {
    run(Duration::from_secs(240), scenario());
}

/// The value of record `r` of transaction `t` (padded to about `VALUE_LEN` bytes).
fn value(t: usize, r: usize) -> String {
    let head = format!("t{t:03}-r{r:03}-");
    format!("{head}{}", "x".repeat(VALUE_LEN - head.len()))
}

fn committed(t: usize) -> bool {
    t < TRANSACTIONS && t % 3 != 1
}

/// Produces every transaction; blocking (librdkafka's transactional calls block).
fn produce(bootstrap: &str) -> Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", "tier-txn-producer")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .set("transaction.timeout.ms", "60000")
        .create()
        .context("creating the transactional producer")?;
    let timeout = Duration::from_secs(30);
    producer
        .init_transactions(timeout)
        .context("init_transactions")?;
    for t in 0..=TRANSACTIONS {
        producer
            .begin_transaction()
            .with_context(|| format!("begin transaction {t}"))?;
        for r in 0..records_in(t) {
            let v = value(t, r);
            let key = format!("k{t}");
            loop {
                let record = BaseRecord::to(TOPIC).partition(0).key(&key).payload(&v);
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, _))
                        if e.rdkafka_error_code()
                            == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                    {
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(e).context("send"),
                }
            }
            producer.poll(Duration::ZERO);
        }
        if t == TRANSACTIONS {
            // Left open (the test ends long before `transaction.timeout.ms`).
            producer
                .flush(timeout)
                .context("flush of the open transaction")?;
        } else if committed(t) {
            producer
                .commit_transaction(timeout)
                .with_context(|| format!("commit transaction {t}"))?;
        } else {
            // Delivered first, so the aborted records really are in the log.
            producer.flush(timeout).context("flush before abort")?;
            producer
                .abort_transaction(timeout)
                .with_context(|| format!("abort transaction {t}"))?;
        }
    }
    Ok(())
}

const BROKER_ARGS: [&str; 6] = [
    "--set",
    "remote.log.manager.task.interval.ms=200",
    "--set",
    "log.retention.check.interval.ms=200",
    "--set",
    "group.initial.rebalance.delay.ms=0",
];

/// Record values (offset order) read from offset 0 of `TOPIC` at `bootstrap` with `isolation`.
async fn read_values(bootstrap: &str, isolation: &str) -> Result<Vec<(i64, String)>> {
    let records = read_partitions(
        bootstrap,
        TOPIC,
        &[(0, Offset::Beginning)],
        &[("isolation.level", isolation)],
    )
    .await?;
    Ok(records
        .into_iter()
        .map(|r| {
            let v = String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned();
            (r.offset, v)
        })
        .collect())
}

fn only_values(records: &[(i64, String)]) -> Vec<String> {
    records.iter().map(|(_, v)| v.clone()).collect()
}

async fn scenario() -> Result<()> {
    let env = base_env();
    let mut broker = Broker::start_with_env(&BROKER_ARGS, &env)?;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("remote.storage.enable", "true"),
            ("segment.bytes", "1048576"),
            ("local.retention.bytes", "0"),
            ("retention.ms", "-1"),
        ],
    )
    .await?;

    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || produce(&b))
        .await
        .context("the producer thread panicked")??;

    let actives = wait_all_uploaded(broker.data_dir(), TOPIC, 1, Duration::from_secs(90)).await?;
    let manifests = check_bucket(&broker.data_dir().join("remote"), TOPIC, 1)?;
    ensure!(
        manifests.len() >= 5,
        "expected several tiered segments, got {}",
        manifests.len()
    );
    ensure!(
        manifests.iter().all(|m| m.format_version == 2),
        "manifests of another version: {:?}",
        manifests
            .iter()
            .map(|m| m.format_version)
            .collect::<Vec<_>>()
    );
    ensure!(
        manifests.iter().all(|m| m.producer_snapshot.is_some()),
        "a tiered segment without its producer snapshot"
    );
    let indexed = manifests.iter().filter(|m| m.txn_index.is_some()).count();
    ensure!(
        indexed >= 3,
        "only {indexed} tiered segments carry a transaction index"
    );
    let remote_end = manifests.last().map_or(0, |m| m.end_offset);
    ensure!(
        remote_end >= actives[0],
        "remote end {remote_end} below the local start {}",
        actives[0]
    );

    let all: Vec<String> = (0..=TRANSACTIONS)
        .flat_map(|t| (0..records_in(t)).map(move |r| value(t, r)))
        .collect();
    let expected_committed: Vec<String> = (0..=TRANSACTIONS)
        .filter(|t| committed(*t))
        .flat_map(|t| (0..PER_TXN).map(move |r| value(t, r)))
        .collect();

    let committed_read = read_values(&bootstrap, "read_committed").await?;
    compare(
        "read_committed",
        &only_values(&committed_read),
        &expected_committed,
    )?;
    let uncommitted_read = read_values(&bootstrap, "read_uncommitted").await?;
    compare("read_uncommitted", &only_values(&uncommitted_read), &all)?;

    // Restore the topic from the bucket alone into B's empty data directory.
    let status = broker.sigterm_and_wait()?;
    ensure!(
        status.code() == Some(0),
        "A's shutdown exited with {status}"
    );
    let bucket = broker.data_dir().join("remote");
    let store_url = format!("file://{}", bucket.display());
    let mut b = Broker::prepare(
        &[&BROKER_ARGS[..], &["--object-store", store_url.as_str()]].concat(),
        &env,
    )?;
    let data_b = b.data_dir().display().to_string();
    let out = strata_cli_env(
        &[
            "tier",
            "restore",
            "--topic",
            TOPIC,
            "--data-dir",
            &data_b,
            "--object-store",
            &store_url,
        ],
        &env,
    )?;
    out.ensure_success("strata tier restore")?;
    let stdout = out.stdout_str();
    ensure!(
        stdout.contains("producer state of tier-txn-0 from the producer snapshot"),
        "restore output {stdout:?}"
    );
    b.restart()
        .context("starting B on the restored data directory")?;
    let bootstrap_b = b.bootstrap();

    // Transaction t's records, by offset (from A's read_uncommitted), and its marker right
    // after its last record (one producer, one transaction at a time).
    let offsets_of = |t: usize| -> Vec<i64> {
        uncommitted_read
            .iter()
            .filter(|(_, v)| v.starts_with(&format!("t{t:03}-")))
            .map(|(o, _)| *o)
            .collect()
    };
    let mut expected_b_committed = Vec::new();
    let mut expected_b_all = Vec::new();
    for t in 0..=TRANSACTIONS {
        let offsets = offsets_of(t);
        let marker = offsets.last().copied().unwrap_or(i64::MAX) + 1;
        for (r, o) in offsets.iter().enumerate() {
            if *o < remote_end {
                expected_b_all.push(value(t, r));
                if committed(t) && marker < remote_end {
                    expected_b_committed.push(value(t, r));
                }
            }
        }
    }
    // A transaction begun below the remote end whose marker is not below it was open there:
    // the restore says it aborted it.
    let open_at_end = (0..=TRANSACTIONS).any(|t| {
        let offsets = offsets_of(t);
        offsets.first().is_some_and(|o| *o < remote_end)
            && offsets.last().is_some_and(|o| o + 1 >= remote_end)
    });
    ensure!(
        stdout.contains("aborted the transaction of producer") == open_at_end,
        "open at the remote end {remote_end}: {open_at_end}; restore output {stdout:?}"
    );
    eprintln!("remote end {remote_end}, a transaction open there: {open_at_end}");
    let restored_committed = read_values(&bootstrap_b, "read_committed").await?;
    compare(
        "restored read_committed",
        &only_values(&restored_committed),
        &expected_b_committed,
    )?;
    let restored_all = read_values(&bootstrap_b, "read_uncommitted").await?;
    compare(
        "restored read_uncommitted",
        &only_values(&restored_all),
        &expected_b_all,
    )?;
    Ok(())
}

/// Fails with the first difference (values are long: only their heads are shown).
fn compare(what: &str, got: &[String], want: &[String]) -> Result<()> {
    let head = |v: &String| v.chars().take(12).collect::<String>();
    if let Some(i) = (0..got.len().min(want.len())).find(|i| got[*i] != want[*i]) {
        anyhow::bail!(
            "{what}: record {i} is {} where {} was expected ({} read, {} expected)",
            head(&got[i]),
            head(&want[i]),
            got.len(),
            want.len()
        );
    }
    ensure!(
        got.len() == want.len(),
        "{what}: {} records read, {} expected",
        got.len(),
        want.len()
    );
    Ok(())
}
