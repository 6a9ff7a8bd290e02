//! Shared by the durability scenarios (power loss, full disk): numbered records whose value
//! proves their integrity, a producer loop that keeps every delivery future, and a reader that
//! checks the log is contiguous, intact and free of duplicates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::producer::{DeliveryFuture, FutureProducer};

use crate::client::{by_partition, enqueue, read_topic, Record};
use crate::{Broker, Outgoing};

/// Power-loss trials per scenario: `STRATA_POWER_LOSS_TRIALS`, default 4.
pub fn power_loss_trials() -> usize {
    match std::env::var("STRATA_POWER_LOSS_TRIALS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("STRATA_POWER_LOSS_TRIALS={v} is not a number")),
        Err(_) => 4,
    }
}

/// A broker whose data dir is a lazy FUSE mount (`strata_lazyfs`) over a fresh backing dir;
/// not started yet. Keep the backing dir and the mount alive as long as the broker runs.
pub fn broker_on_lazyfs(
    args: &[&str],
) -> Result<(tempfile::TempDir, strata_lazyfs::LazyFs, Broker)> {
    let broker = Broker::prepare(args, &[])?;
    let backing = tempfile::Builder::new()
        .prefix("strata-lazyfs-")
        .tempdir()
        .context("creating the backing directory")?;
    let lazy = strata_lazyfs::LazyFs::mount(backing.path(), broker.data_dir())?;
    Ok((backing, lazy, broker))
}

/// The value of record `n`: its number, then `n % 200` bytes derived from it.
pub fn value_of(n: u64) -> Vec<u8> {
    let mut v = format!("rec-{n:010}-").into_bytes();
    v.extend((0..(n % 200)).map(|j| (n.wrapping_mul(31).wrapping_add(j)) as u8));
    v
}

/// The record number in a value written by [`value_of`].
pub fn seq_of(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value.get(4..14)?).ok()?.parse().ok()
}

/// Produces records `first, first+1, ...` to partition 0 of `topic` in bursts of 20 until
/// `stop` is set; returns every delivery future with its record number, and the next number.
pub async fn produce_until_stopped(
    producer: Arc<FutureProducer>,
    topic: String,
    first: u64,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<(u64, DeliveryFuture)>, u64)> {
    produce_to_until_stopped(producer, topic, 0, first, stop).await
}

/// [`produce_until_stopped`] to one chosen partition.
pub async fn produce_to_until_stopped(
    producer: Arc<FutureProducer>,
    topic: String,
    partition: i32,
    first: u64,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<(u64, DeliveryFuture)>, u64)> {
    let mut pending = Vec::new();
    let mut seq = first;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..20 {
            let record = Outgoing {
                partition: Some(partition),
                value: value_of(seq),
                ..Outgoing::default()
            };
            pending.push((seq, enqueue(&producer, &topic, &record).await?));
            seq += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((pending, seq))
}

/// Waits for every delivery report; returns `(record number, offset)` of the acknowledged ones
/// and how many failed. The producer's queue must have been purged or be draining.
pub async fn acknowledged(pending: Vec<(u64, DeliveryFuture)>) -> Result<(Vec<(u64, i64)>, usize)> {
    acknowledged_on(pending, 0).await
}

/// [`acknowledged`] for records sent to `partition`.
pub async fn acknowledged_on(
    pending: Vec<(u64, DeliveryFuture)>,
    partition: i32,
) -> Result<(Vec<(u64, i64)>, usize)> {
    let mut acked = Vec::new();
    let mut failed = 0;
    for (seq, future) in pending {
        let outcome = tokio::time::timeout(Duration::from_secs(60), future)
            .await
            .with_context(|| format!("no delivery report for record {seq}"))?;
        match outcome {
            Ok(Ok(delivery)) => {
                ensure!(
                    delivery.partition == partition,
                    "acked on partition {}, sent to {partition}",
                    delivery.partition
                );
                acked.push((seq, delivery.offset));
            }
            _ => failed += 1,
        }
    }
    Ok((acked, failed))
}

/// Reads partition 0 of `topic` from the start and returns the record number at each offset,
/// after checking that offsets are contiguous from 0, every record is intact, and record
/// numbers strictly increase (nothing duplicated or reordered).
pub async fn read_log(bootstrap: &str, topic: &str) -> Result<Vec<u64>> {
    let read = read_topic(bootstrap, topic, 1).await?;
    check_log(&read)
}

/// [`read_log`] for every partition `0..partitions` of `topic`, each checked on its own.
pub async fn read_logs(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<Vec<u64>>> {
    let read = read_topic(bootstrap, topic, partitions).await?;
    by_partition(&read, partitions)
        .iter()
        .enumerate()
        .map(|(p, records)| check_log(records).with_context(|| format!("partition {p}")))
        .collect()
}

/// The checks of [`read_log`] over one partition's records, in offset order.
fn check_log(read: &[Record]) -> Result<Vec<u64>> {
    let mut seqs: Vec<u64> = Vec::with_capacity(read.len());
    for (i, r) in read.iter().enumerate() {
        ensure!(
            r.offset == i as i64,
            "the log is not contiguous: position {i} holds offset {}",
            r.offset
        );
        let value = r.value.as_deref().unwrap_or_default();
        let Some(seq) = seq_of(value) else {
            bail!("offset {i}: unrecognised value {value:?}");
        };
        ensure!(
            value == value_of(seq).as_slice(),
            "offset {i}: record {seq} is corrupt"
        );
        if let Some(&p) = seqs.last() {
            ensure!(
                seq > p,
                "offset {i}: record {seq} follows {p} (duplicate or reordered)"
            );
        }
        seqs.push(seq);
    }
    Ok(seqs)
}

/// Checks that every acknowledged record is in `log` (record numbers by offset) at exactly
/// its acknowledged offset.
pub fn check_acked(log: &[u64], acked: &[(u64, i64)]) -> Result<()> {
    for &(seq, offset) in acked {
        let at = usize::try_from(offset)?;
        ensure!(
            log.get(at) == Some(&seq),
            "record {seq} was acknowledged at offset {offset}, but the log holds {:?} there \
             ({} records in the log)",
            log.get(at),
            log.len()
        );
    }
    Ok(())
}
