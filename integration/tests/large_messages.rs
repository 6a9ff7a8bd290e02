//! Message size limits.
//!
//! - A 1,000,000-byte value fits the default `message.max.bytes` (1048588: the limit applies to
//!   the whole record batch) and round trips.
//! - A 5 MiB value round trips on a topic created with `max.message.bytes=6291456`, with the
//!   producer's and consumer's client-side limits raised.
//! - A 2 MiB value to a default topic is rejected by the broker with MESSAGE_TOO_LARGE (10),
//!   which librdkafka reports as `MessageSizeTooLarge`, and nothing is appended.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use strata_integration::{
    create_topic, producer, read_partitions, run, send_all, Broker, Outgoing,
};

/// Client-side limits well above anything sent here, so only the broker decides.
const BIG_CLIENT_LIMITS: &[(&str, &str)] = &[("message.max.bytes", "20000000")];
const BIG_FETCH: &[(&str, &str)] = &[
    ("fetch.max.bytes", "20000000"),
    ("max.partition.fetch.bytes", "20000000"),
    ("receive.message.max.bytes", "40000000"),
];

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random::<u8>()).collect()
}

/// Produces `value` as the only record of `topic` and reads it back at offset 0.
async fn round_trip(bootstrap: &str, topic: &str, value: Vec<u8>) -> Result<()> {
    let producer = producer(bootstrap, BIG_CLIENT_LIMITS)?;
    let record = Outgoing {
        partition: Some(0),
        key: Some(b"big".to_vec()),
        value,
        ..Outgoing::default()
    };
    let delivered = send_all(&producer, topic, std::slice::from_ref(&record)).await?;
    ensure!(
        delivered[0].offset == 0,
        "acked at offset {}",
        delivered[0].offset
    );
    let read = read_partitions(
        bootstrap,
        topic,
        &[(0, rdkafka::Offset::Beginning)],
        BIG_FETCH,
    )
    .await?;
    ensure!(read.len() == 1, "read {} records, expected 1", read.len());
    ensure!(read[0].offset == 0, "read at offset {}", read[0].offset);
    ensure!(read[0].key.as_deref() == Some(&b"big"[..]), "key differs");
    let got = read[0].value.as_deref().unwrap_or_default();
    ensure!(
        got == record.value.as_slice(),
        "value differs: {} bytes read, {} sent",
        got.len(),
        record.value.len()
    );
    Ok(())
}

#[test]
fn one_megabyte_fits_the_default_limit() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        create_topic(&broker.bootstrap(), "big-default", 1, &[]).await?;
        round_trip(
            &broker.bootstrap(),
            "big-default",
            random_bytes(1_000_000, 1),
        )
        .await
    });
}

#[test]
fn five_mebibytes_with_raised_topic_limit() {
    run(Duration::from_secs(120), async {
        let broker = Broker::start(&[])?;
        create_topic(
            &broker.bootstrap(),
            "big-raised",
            1,
            &[("max.message.bytes", "6291456")],
        )
        .await?;
        round_trip(
            &broker.bootstrap(),
            "big-raised",
            random_bytes(5 * 1024 * 1024, 5),
        )
        .await
    });
}

#[test]
fn two_mebibytes_to_default_topic_is_rejected() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        create_topic(&bootstrap, "big-rejected", 1, &[]).await?;
        let producer = producer(&bootstrap, BIG_CLIENT_LIMITS)?;
        let value = random_bytes(2 * 1024 * 1024, 2);
        let result = producer
            .send(
                FutureRecord::<[u8], [u8]>::to("big-rejected")
                    .partition(0)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await;
        match result {
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
            Err((e, _)) => bail!("expected MessageSizeTooLarge, got {e:?}"),
            Ok(d) => bail!("a 2 MiB record was accepted: {d:?}"),
        }

        // Nothing was appended: the next record gets offset 0 and is the only one.
        let small = Outgoing {
            partition: Some(0),
            value: b"small".to_vec(),
            ..Outgoing::default()
        };
        let delivered = send_all(&producer, "big-rejected", &[small]).await?;
        ensure!(
            delivered[0].offset == 0,
            "after the rejected record, the next one was acked at offset {}",
            delivered[0].offset
        );
        let read = read_partitions(
            &bootstrap,
            "big-rejected",
            &[(0, rdkafka::Offset::Beginning)],
            &[],
        )
        .await?;
        let values: Vec<_> = read.iter().map(|r| (r.offset, r.value.clone())).collect();
        ensure!(
            values == vec![(0, Some(b"small".to_vec()))],
            "partition holds {values:?}"
        );
        Ok(())
    });
}
