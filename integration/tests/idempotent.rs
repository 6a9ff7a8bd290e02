//! Idempotent producer: retries must not duplicate.
//!
//! - Kills: a producer with `enable.idempotence=true` sends 2000 records (value = a unique
//!   sequence number; partition = i % 2). Twice, right after a third of them is enqueued, the
//!   broker is killed with SIGKILL and restarted on the same port and data directory. librdkafka
//!   retries the batches that were in flight with their original producer id, epoch and
//!   sequence numbers; the broker (which rebuilds producer state from its log) must append each
//!   batch once.
//! - Freeze: the broker is frozen with SIGSTOP while a produce request sits in its socket
//!   buffer. The request times out on the client (librdkafka logs "Timed out ProduceRequest in
//!   flight ... actions Retry,MsgPossiblyPersisted"), which disconnects and, once the broker
//!   resumes (SIGCONT), resends the batch with the same producer id, epoch and base sequence.
//!   The broker finds the original request buffered on the old connection as well as the retry
//!   on the new one; whichever it appends first, the other is a duplicate and must not be
//!   appended again.
//!
//! In both, every delivery must succeed, and the topic must hold every record exactly once, in
//! order per partition, at its acknowledged offset.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use rdkafka::producer::{DeliveryFuture, FutureProducer, Producer};
use strata_integration::client::{by_partition, enqueue};
use strata_integration::{create_topic, producer, read_topic, run, Broker, Delivered, Outgoing};

fn value_of(i: usize) -> Vec<u8> {
    format!("seq-{i:06}").into_bytes()
}

fn index_of(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value.strip_prefix(b"seq-")?)
        .ok()?
        .parse()
        .ok()
}

fn record(i: usize, partitions: i32) -> Outgoing {
    Outgoing {
        partition: Some((i % partitions as usize) as i32),
        value: value_of(i),
        ..Outgoing::default()
    }
}

/// Waits for every delivery report; all must be successes.
async fn delivered(pending: Vec<DeliveryFuture>) -> Result<Vec<Delivered>> {
    let mut out = Vec::with_capacity(pending.len());
    for (i, future) in pending.into_iter().enumerate() {
        match future.await {
            Ok(Ok(d)) => out.push(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => bail!("record {i} was not delivered: {e}"),
            Err(_) => bail!("record {i}: delivery report lost"),
        }
    }
    Ok(out)
}

/// Records `0..count` (record i on partition i % partitions) must each be in `topic` exactly
/// once, in order, at offsets contiguous from 0, and where they were acknowledged.
async fn verify_exactly_once(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    acked: &[Delivered],
) -> Result<()> {
    let read = read_topic(bootstrap, topic, partitions).await?;
    let mut seen = vec![0u32; count];
    for r in &read {
        let value = r.value.as_deref().unwrap_or_default();
        match index_of(value).filter(|i| *i < count) {
            Some(i) => seen[i] += 1,
            None => bail!("unexpected value {value:?} at {}/{}", r.partition, r.offset),
        }
    }
    let duplicated: Vec<usize> = (0..count).filter(|i| seen[*i] > 1).collect();
    let missing: Vec<usize> = (0..count).filter(|i| seen[*i] == 0).collect();
    ensure!(
        duplicated.is_empty() && missing.is_empty() && read.len() == count,
        "read {} records, expected {count}; duplicated: {duplicated:?}; missing: {missing:?}",
        read.len()
    );

    let n = partitions as usize;
    for (p, group) in by_partition(&read, partitions).iter().enumerate() {
        let order: Vec<usize> = group
            .iter()
            .filter_map(|r| index_of(r.value.as_deref().unwrap_or_default()))
            .collect();
        let expected: Vec<usize> = (0..count).filter(|i| i % n == p).collect();
        ensure!(order == expected, "partition {p}: records out of order");
        let offsets: Vec<i64> = group.iter().map(|r| r.offset).collect();
        ensure!(
            offsets == (0..group.len() as i64).collect::<Vec<_>>(),
            "partition {p}: offsets are not contiguous from 0"
        );
    }
    for (i, d) in acked.iter().enumerate() {
        let stored = ((i % n) as i32, (i / n) as i64);
        ensure!(
            (d.partition, d.offset) == stored,
            "record {i} acked at {}/{}, but it is stored at {}/{}",
            d.partition,
            d.offset,
            stored.0,
            stored.1
        );
    }
    Ok(())
}

fn idempotent_producer(bootstrap: &str, extra: &[(&str, &str)]) -> Result<FutureProducer> {
    let mut settings = vec![
        ("enable.idempotence", "true"),
        ("message.timeout.ms", "120000"),
        ("linger.ms", "2"),
    ];
    settings.extend_from_slice(extra);
    producer(bootstrap, &settings)
}

const KILL_TOPIC: &str = "idempotent";
const KILL_PARTITIONS: i32 = 2;
const KILL_RECORDS: usize = 2000;
const KILL_PHASES: usize = 3;

#[test]
fn idempotent_producer_survives_broker_kills_without_duplicates() {
    run(Duration::from_secs(240), kills());
}

async fn kills() -> Result<()> {
    let mut broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, KILL_TOPIC, KILL_PARTITIONS, &[]).await?;
    let producer = idempotent_producer(&bootstrap, &[])?;

    let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(KILL_RECORDS);
    let per_phase = KILL_RECORDS / KILL_PHASES + 1;
    for phase in 0..KILL_PHASES {
        let range = (phase * per_phase)..((phase + 1) * per_phase).min(KILL_RECORDS);
        for i in range {
            pending.push(enqueue(&producer, KILL_TOPIC, &record(i, KILL_PARTITIONS)).await?);
            // Pace the stream so requests are in flight when the broker dies.
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if phase + 1 < KILL_PHASES {
            println!(
                "kill {}: {} records enqueued, {} not yet acknowledged",
                phase + 1,
                pending.len(),
                producer.in_flight_count()
            );
            broker.sigkill()?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            broker.restart()?;
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let acked = delivered(pending).await?;
    verify_exactly_once(
        &bootstrap,
        KILL_TOPIC,
        KILL_PARTITIONS,
        KILL_RECORDS,
        &acked,
    )
    .await
}

const FREEZE_TOPIC: &str = "idempotent-freeze";
const FREEZE_WARMUP: usize = 10;
const FREEZE_RECORDS: usize = 110;

#[test]
fn retry_of_a_request_the_broker_already_appended_is_deduplicated() {
    run(Duration::from_secs(120), freeze());
}

async fn freeze() -> Result<()> {
    let broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, FREEZE_TOPIC, 1, &[]).await?;
    // A short socket timeout makes the client give up on the frozen broker, disconnect and
    // retry (librdkafka caps a Produce request's timeout at socket.timeout.ms).
    let producer = idempotent_producer(&bootstrap, &[("socket.timeout.ms", "1000")])?;

    // Warm up: producer id assigned, connection established.
    let mut pending = Vec::new();
    for i in 0..FREEZE_WARMUP {
        pending.push(enqueue(&producer, FREEZE_TOPIC, &record(i, 1)).await?);
    }
    let mut acked = delivered(pending).await?;

    broker.pause()?;
    let mut pending = Vec::new();
    for i in FREEZE_WARMUP..FREEZE_RECORDS {
        pending.push(enqueue(&producer, FREEZE_TOPIC, &record(i, 1)).await?);
    }
    // Past the request timeout (checked once a second): the client has dropped the
    // connection and queued a retry.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    broker.resume()?;
    producer.flush(Duration::from_secs(60))?;
    acked.extend(delivered(pending).await?);
    verify_exactly_once(&bootstrap, FREEZE_TOPIC, 1, FREEZE_RECORDS, &acked).await
}
