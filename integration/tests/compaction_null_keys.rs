//! Records without a key on a compacted topic (issue 10), with a real client against the
//! `strata` binary.
//!
//! Kafka's `LogValidator` refuses a record without a key in a topic whose `cleanup.policy`
//! contains `compact`: INVALID_RECORD (87) for the partition, the whole batch refused, nothing
//! appended. Checked, with librdkafka producing lz4 batches:
//! - a keyless record to a `compact` topic fails its delivery with `InvalidRecord`; so does a
//!   batch holding a keyed and a keyless record (both deliveries fail), and a keyless record to
//!   a `compact,delete` topic;
//! - a keyed record to the same `compact` topic then lands at offset 0 (nothing was appended
//!   before), and keyless records to a `delete` topic land at offsets 0 and 1;
//! - read back from offset 0, each topic holds exactly the records acknowledged, at their
//!   offsets.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use strata_integration::{create_topic, producer, read_topic, run, Broker, Record};

const COMPACT: &str = "compact-keys";
const COMPACT_DELETE: &str = "compact-delete-keys";
const DELETE: &str = "delete-keys";

fn enqueue(p: &FutureProducer, topic: &str, key: Option<&str>, value: &str) -> DeliveryFuture {
    let mut record: FutureRecord<'_, str, str> = FutureRecord::to(topic).payload(value);
    if let Some(key) = key {
        record = record.key(key);
    }
    match p.send_result(record) {
        Ok(future) => future,
        Err((e, _)) => panic!("enqueueing to {topic}: {e}"),
    }
}

/// The offset the broker acknowledged, or the delivery error.
async fn outcome(future: DeliveryFuture) -> Result<Result<i64, KafkaError>> {
    match future.await {
        Ok(Ok(delivery)) => Ok(Ok(delivery.offset)),
        Ok(Err((e, _))) => Ok(Err(e)),
        Err(_) => bail!("the producer went away"),
    }
}

fn refused(result: &Result<i64, KafkaError>) -> bool {
    matches!(
        result,
        Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::InvalidRecord
        ))
    )
}

fn record(offset: i64, key: Option<&str>, value: &str) -> (i64, Option<Vec<u8>>, Vec<u8>) {
    (
        offset,
        key.map(|k| k.as_bytes().to_vec()),
        value.as_bytes().to_vec(),
    )
}

fn read_back(records: &[Record]) -> Vec<(i64, Option<Vec<u8>>, Vec<u8>)> {
    records
        .iter()
        .map(|r| (r.offset, r.key.clone(), r.value.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn compacted_topics_refuse_records_without_a_key() {
    run(Duration::from_secs(120), scenario());
}

async fn scenario() -> Result<()> {
    let broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, COMPACT, 1, &[("cleanup.policy", "compact")]).await?;
    create_topic(
        &bootstrap,
        COMPACT_DELETE,
        1,
        &[("cleanup.policy", "compact,delete")],
    )
    .await?;
    create_topic(&bootstrap, DELETE, 1, &[("cleanup.policy", "delete")]).await?;
    // No retries: a refused batch is reported as it is, not retried.
    let p = producer(
        &bootstrap,
        &[
            ("compression.type", "lz4"),
            ("linger.ms", "50"),
            ("retries", "0"),
        ],
    )?;

    // One keyless record alone.
    let alone = outcome(enqueue(&p, COMPACT, None, "no-key")).await?;
    ensure!(
        refused(&alone),
        "a keyless record to a compact topic: {alone:?}"
    );
    // A keyed and a keyless record in one batch (enqueued together, within linger.ms): the
    // whole batch is refused.
    let keyed = enqueue(&p, COMPACT, Some("k1"), "with-key-in-bad-batch");
    let keyless = enqueue(&p, COMPACT, None, "no-key-in-bad-batch");
    let (keyed, keyless) = (outcome(keyed).await?, outcome(keyless).await?);
    ensure!(
        refused(&keyed) && refused(&keyless),
        "a batch with a keyless record to a compact topic: {keyed:?}, {keyless:?}"
    );
    let both = outcome(enqueue(&p, COMPACT_DELETE, None, "no-key")).await?;
    ensure!(
        refused(&both),
        "a keyless record to a compact,delete topic: {both:?}"
    );

    // Keyed records to the compacted topic go in, at the first offset: nothing was appended.
    let good = outcome(enqueue(&p, COMPACT, Some("k1"), "v1")).await?;
    ensure!(
        matches!(good, Ok(0)),
        "a keyed record to a compact topic: {good:?}"
    );
    // Keyless records to a delete topic are fine.
    let first = outcome(enqueue(&p, DELETE, None, "plain-1")).await?;
    let second = outcome(enqueue(&p, DELETE, None, "plain-2")).await?;
    ensure!(
        matches!((&first, &second), (Ok(0), Ok(1))),
        "keyless records to a delete topic: {first:?}, {second:?}"
    );

    let compact = read_back(&read_topic(&bootstrap, COMPACT, 1).await?);
    ensure!(
        compact == [record(0, Some("k1"), "v1")],
        "{COMPACT} holds {compact:?}"
    );
    let compact_delete = read_topic(&bootstrap, COMPACT_DELETE, 1).await?;
    ensure!(
        compact_delete.is_empty(),
        "{COMPACT_DELETE} holds {compact_delete:?}"
    );
    let delete = read_back(&read_topic(&bootstrap, DELETE, 1).await?);
    ensure!(
        delete == [record(0, None, "plain-1"), record(1, None, "plain-2")],
        "{DELETE} holds {delete:?}"
    );
    Ok(())
}
