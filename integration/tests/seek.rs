//! Positioning a consumer: by offset (assign and seek), from the tail, by timestamp
//! (ListOffsets with a timestamp), past the end, and the watermarks.
//!
//! Record `i` (offset `i`) carries create time `1000 * i`, except record 0: librdkafka reads a
//! timestamp of 0 as "now", so record 0 carries 1 ms instead.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Message, Offset, TopicPartitionList};
use strata_integration::client::{
    consumer_with_log, poll_until_eof, LogCapture, OP_TIMEOUT, READ_TIMEOUT,
};
use strata_integration::{create_topic, producer, run, send_all, Broker, Outgoing, Record};

const TOPIC: &str = "seek";
const RECORDS: i64 = 100;

fn timestamp_of(i: i64) -> i64 {
    if i == 0 {
        1
    } else {
        1000 * i
    }
}

fn value_of(i: i64) -> Vec<u8> {
    format!("record-{i}").into_bytes()
}

/// Fails unless `records` are exactly records `from..RECORDS` with their timestamps.
fn ensure_range(what: &str, records: &[Record], from: i64) -> Result<()> {
    let got: Vec<(i64, Option<i64>, Option<Vec<u8>>)> = records
        .iter()
        .map(|r| (r.offset, r.timestamp, r.value.clone()))
        .collect();
    let expected: Vec<(i64, Option<i64>, Option<Vec<u8>>)> = (from..RECORDS)
        .map(|i| (i, Some(timestamp_of(i)), Some(value_of(i))))
        .collect();
    ensure!(
        got == expected,
        "{what}: expected offsets {from}..{RECORDS}, got {:?}",
        got.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>()
    );
    Ok(())
}

fn assign(consumer: &rdkafka::consumer::BaseConsumer<LogCapture>, offset: Offset) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, offset)?;
    consumer
        .assign(&tpl)
        .with_context(|| format!("assign at {offset:?}"))
}

/// Starts a broker with the topic filled with records `0..RECORDS`, then runs `check` on a
/// blocking thread with the bootstrap address.
async fn with_filled_topic(check: fn(&str) -> Result<()>) -> Result<()> {
    let broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, &[]).await?;
    let records: Vec<Outgoing> = (0..RECORDS)
        .map(|i| Outgoing {
            partition: Some(0),
            value: value_of(i),
            timestamp: Some(timestamp_of(i)),
            ..Outgoing::default()
        })
        .collect();
    let producer = producer(&bootstrap, &[])?;
    let delivered = send_all(&producer, TOPIC, &records).await?;
    let acked: Vec<i64> = delivered.iter().map(|d| d.offset).collect();
    ensure!(
        acked == (0..RECORDS).collect::<Vec<_>>(),
        "acked offsets are not 0..{RECORDS}: {acked:?}"
    );

    tokio::task::spawn_blocking(move || check(&bootstrap))
        .await
        .context("the consumer thread panicked")?
}

#[test]
fn seek_by_offset_time_and_watermarks() {
    run(Duration::from_secs(120), with_filled_topic(check_positions));
}

#[test]
fn position_past_the_end_is_out_of_range() {
    run(
        Duration::from_secs(60),
        with_filled_topic(check_past_the_end),
    );
}

fn check_positions(bootstrap: &str) -> Result<()> {
    let (consumer, _log) = consumer_with_log(bootstrap, &[])?;

    let watermarks = consumer
        .fetch_watermarks(TOPIC, 0, OP_TIMEOUT)
        .context("fetch_watermarks")?;
    ensure!(watermarks == (0, RECORDS), "watermarks {watermarks:?}");

    // Timestamp lookups: the first offset whose timestamp is >= the target, else the end (-1).
    let lookups = [
        (0, Offset::Offset(0)),
        (1, Offset::Offset(0)),
        (2, Offset::Offset(1)),
        (42_500, Offset::Offset(43)),
        (43_000, Offset::Offset(43)),
        (99_000, Offset::Offset(99)),
        (99_001, Offset::End),
        (1_000_000, Offset::End),
    ];
    for (timestamp, expected) in lookups {
        let mut query = TopicPartitionList::new();
        query.add_partition_offset(TOPIC, 0, Offset::Offset(timestamp))?;
        let answer = consumer
            .offsets_for_times(query, OP_TIMEOUT)
            .with_context(|| format!("offsets_for_times({timestamp})"))?;
        let elem = answer
            .find_partition(TOPIC, 0)
            .context("offsets_for_times: partition 0 missing from the answer")?;
        elem.error()
            .with_context(|| format!("offsets_for_times({timestamp}): partition error"))?;
        ensure!(
            elem.offset() == expected,
            "offsets_for_times({timestamp}) = {:?}, expected {expected:?}",
            elem.offset()
        );
    }

    // Assign at offset 37: the first record is 37, then everything to the end.
    assign(&consumer, Offset::Offset(37))?;
    let read = poll_until_eof(&consumer, TOPIC, &[0], READ_TIMEOUT)?;
    ensure_range("assign at 37", &read, 37)?;

    // Seek back on the live assignment.
    consumer
        .seek(TOPIC, 0, Offset::Offset(10), OP_TIMEOUT)
        .context("seek to 10")?;
    let read = poll_until_eof(&consumer, TOPIC, &[0], READ_TIMEOUT)?;
    ensure_range("seek to 10", &read, 10)?;

    // From the tail: the last 5 records.
    assign(&consumer, Offset::OffsetTail(5))?;
    let read = poll_until_eof(&consumer, TOPIC, &[0], READ_TIMEOUT)?;
    ensure_range("tail 5", &read, RECORDS - 5)?;

    // From the beginning, everything.
    assign(&consumer, Offset::Beginning)?;
    let read = poll_until_eof(&consumer, TOPIC, &[0], READ_TIMEOUT)?;
    ensure_range("beginning", &read, 0)
}

fn check_past_the_end(bootstrap: &str) -> Result<()> {
    let (consumer, log) = consumer_with_log(bootstrap, &[])?;
    // Past the end: with auto.offset.reset=error, librdkafka reports the broker's
    // OFFSET_OUT_OF_RANGE as an AutoOffsetReset consumer error instead of jumping.
    assign(&consumer, Offset::Offset(RECORDS + 50))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        ensure!(
            Instant::now() < deadline,
            "no error within 10 s for a position past the end; librdkafka warnings and \
             errors:\n{}",
            log.lines()
                .iter()
                .filter(|l| l.starts_with("Error") || l.starts_with("Warning"))
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))) => {
                return Ok(())
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                bail!(
                    "position {} (past the end) reported end-of-partition",
                    RECORDS + 50
                )
            }
            Some(Err(e)) => bail!("expected AutoOffsetReset, got {e:?}"),
            Some(Ok(m)) => bail!("read a record at offset {} past the end", m.offset()),
        }
    }
}
