//! One partition that cannot open at startup goes offline; the broker and every other partition
//! serve. Partition 1 of a two-partition topic gets a `partition.metadata` of an unknown version
//! while the broker is stopped. After the restart:
//! - Metadata lists partition 1 with KAFKA_STORAGE_ERROR (56), partition 0 without error;
//! - Produce to partition 1 answers KAFKA_STORAGE_ERROR, ListOffsets too; partition 0 takes
//!   records and reads back whole;
//! - the damaged directory is left exactly as it was (never removed as an orphan).
//!
//! Once the file is repaired, a restart brings partition 1 back with all its records.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use strata_integration::client::enqueue;
use strata_integration::{
    consumer, create_topic, producer, read_partitions, run, send_all, Broker, Outgoing,
};

const TOPIC: &str = "halves";

fn record(partition: i32, value: &str) -> Outgoing {
    Outgoing {
        partition: Some(partition),
        value: value.as_bytes().to_vec(),
        ..Outgoing::default()
    }
}

/// Metadata error codes of the topic's partitions, by partition index.
fn partition_errors(bootstrap: &str) -> Result<Vec<i32>> {
    let consumer = consumer(bootstrap, &[])?;
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
        .context("Metadata")?;
    let topic = metadata.topics().first().context("no topic")?;
    let mut errors = vec![0; topic.partitions().len()];
    for p in topic.partitions() {
        errors[p.id() as usize] = p.error().map_or(0, |e| e as i32);
    }
    Ok(errors)
}

async fn values(bootstrap: &str, partition: i32) -> Result<Vec<String>> {
    let read = read_partitions(
        bootstrap,
        TOPIC,
        &[(partition, rdkafka::Offset::Beginning)],
        &[],
    )
    .await?;
    Ok(read
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect())
}

#[test]
fn a_partition_that_cannot_open_goes_offline_and_the_rest_serves() {
    run(Duration::from_secs(120), scenario());
}

async fn scenario() -> Result<()> {
    let mut broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 2, &[]).await?;
    let p = producer(&bootstrap, &[])?;
    send_all(
        &p,
        TOPIC,
        &[record(0, "a0"), record(1, "b0"), record(1, "b1")],
    )
    .await?;
    drop(p);
    ensure!(broker.sigterm_and_wait()?.success());

    let damaged = broker.data_dir().join(format!("{TOPIC}-1"));
    let metadata_file = damaged.join("partition.metadata");
    let original = std::fs::read(&metadata_file)?;
    std::fs::write(&metadata_file, b"version: 9\n")?;
    broker.restart()?;

    ensure!(
        partition_errors(&bootstrap)? == [0, 56],
        "Metadata errors: {:?}",
        partition_errors(&bootstrap)?
    );
    let strict = producer(
        &bootstrap,
        &[("retries", "0"), ("message.timeout.ms", "10000")],
    )?;
    let refused = enqueue(&strict, TOPIC, &record(1, "b2")).await?.await;
    match refused {
        Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError), _))) => {}
        other => {
            bail!("produce to the offline partition: expected KAFKA_STORAGE_ERROR, got {other:?}")
        }
    }
    let served = send_all(&strict, TOPIC, &[record(0, "a1")]).await?;
    ensure!(
        served[0].offset == 1,
        "partition 0 appended at {}",
        served[0].offset
    );
    ensure!(values(&bootstrap, 0).await? == ["a0", "a1"]);
    let watermarks = {
        let c = consumer(&bootstrap, &[])?;
        tokio::task::spawn_blocking(move || c.fetch_watermarks(TOPIC, 1, Duration::from_secs(5)))
            .await?
    };
    match &watermarks {
        Err(e) if e.to_string().contains("KafkaStorageError") => {}
        other => {
            bail!("offsets of the offline partition: expected KAFKA_STORAGE_ERROR, got {other:?}")
        }
    }
    drop(strict);
    ensure!(
        std::fs::read(&metadata_file)? == b"version: 9\n",
        "the damaged partition directory was touched"
    );

    // Repaired: the partition comes back with its records.
    ensure!(broker.sigterm_and_wait()?.success());
    std::fs::write(&metadata_file, original)?;
    broker.restart()?;
    ensure!(partition_errors(&bootstrap)? == [0, 0]);
    ensure!(values(&bootstrap, 1).await? == ["b0", "b1"]);
    Ok(())
}
