//! Keyed histories for compaction scenarios: records with keys, tombstones, headers and
//! timestamps sent in order with acks, the log the acknowledgements describe, what a consumer
//! reads once a prefix is compacted, and exact comparison.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::client::{Delivered, Record};
use crate::tools::strata_cli;

/// One record of a history: `None` value for a tombstone.
#[derive(Clone, Debug)]
pub struct Keyed {
    /// Partition it is sent to.
    pub partition: i32,
    /// Key.
    pub key: Vec<u8>,
    /// Value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp (CreateTime).
    pub timestamp: i64,
}

/// Sets one config of `topic` (IncrementalAlterConfigs, through `strata topic alter`).
pub fn alter_topic(bootstrap: &str, topic: &str, setting: &str) -> Result<()> {
    strata_cli(&[
        "topic",
        "alter",
        topic,
        "--config",
        setting,
        "--bootstrap-server",
        bootstrap,
    ])?
    .ensure_success(&format!("strata topic alter {topic} --config {setting}"))
}

/// Enqueues every record in order (null payload for tombstones), then waits for every
/// delivery report.
pub async fn send_keyed(
    producer: &FutureProducer,
    topic: &str,
    records: &[Keyed],
) -> Result<Vec<Delivered>> {
    let mut pending = Vec::with_capacity(records.len());
    for r in records {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut headers = OwnedHeaders::new();
            for (key, value) in &r.headers {
                headers = headers.insert(Header {
                    key: key.as_str(),
                    value: value.as_deref(),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .key(r.key.as_slice())
                .partition(r.partition)
                .timestamp(r.timestamp)
                .headers(headers);
            if let Some(v) = &r.value {
                record = record.payload(v.as_slice());
            }
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => bail!("enqueueing a record: {e}"),
            }
        }
    }
    let mut delivered = Vec::with_capacity(pending.len());
    for (i, f) in pending.into_iter().enumerate() {
        match f.await {
            Ok(Ok(d)) => delivered.push(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => bail!("delivery of record {i} failed: {e}"),
            Err(_) => bail!("delivery of record {i}: the producer went away"),
        }
    }
    Ok(delivered)
}

/// Each partition's log as the acknowledgements describe it, as a consumer should read it:
/// offsets `0, 1, ...` in send order.
pub fn logs_from_acks(
    sent: &[Keyed],
    acked: &[Delivered],
    partitions: usize,
) -> Result<Vec<Vec<Record>>> {
    ensure!(
        sent.len() == acked.len(),
        "{} sent, {} acked",
        sent.len(),
        acked.len()
    );
    let mut logs = vec![Vec::new(); partitions];
    for (i, (r, d)) in sent.iter().zip(acked).enumerate() {
        ensure!(
            d.partition == r.partition,
            "record {i} acked on partition {}",
            d.partition
        );
        let log: &mut Vec<Record> = &mut logs[r.partition as usize];
        ensure!(
            d.offset == log.len() as i64,
            "record {i} acked at {}/{}, expected offset {}",
            d.partition,
            d.offset,
            log.len()
        );
        log.push(Record {
            partition: r.partition,
            offset: d.offset,
            timestamp: Some(r.timestamp),
            key: Some(r.key.clone()),
            value: r.value.clone(),
            headers: r.headers.clone(),
        });
    }
    Ok(logs)
}

/// What a consumer reads after the remote range `[0, remote_end)` is compacted: below it, the
/// last record of each key among the offsets below it; from it on, everything.
pub fn compacted(log: &[Record], remote_end: i64) -> Vec<Record> {
    let mut last: HashMap<&[u8], i64> = HashMap::new();
    for r in log.iter().filter(|r| r.offset < remote_end) {
        last.insert(r.key.as_deref().unwrap_or_default(), r.offset);
    }
    log.iter()
        .filter(|r| {
            r.offset >= remote_end
                || last.get(r.key.as_deref().unwrap_or_default()) == Some(&r.offset)
        })
        .cloned()
        .collect()
}

/// Fails unless the records read from `partition` are exactly `expected`, in order.
pub fn compare(what: &str, partition: i32, read: &[Record], expected: &[Record]) -> Result<()> {
    let got: Vec<&Record> = read.iter().filter(|r| r.partition == partition).collect();
    for (j, (g, e)) in got.iter().zip(expected).enumerate() {
        ensure!(
            *g == e,
            "{what}: partition {partition}, record {j}: read offset {} key {:?} value {:?} \
             headers {:?} ts {:?}; expected offset {} key {:?} value {:?} headers {:?} ts {:?}",
            g.offset,
            g.key.as_deref().map(String::from_utf8_lossy),
            g.value
                .as_deref()
                .map(|v| String::from_utf8_lossy(&v[..v.len().min(24)])),
            g.headers,
            g.timestamp,
            e.offset,
            e.key.as_deref().map(String::from_utf8_lossy),
            e.value
                .as_deref()
                .map(|v| String::from_utf8_lossy(&v[..v.len().min(24)])),
            e.headers,
            e.timestamp,
        );
    }
    ensure!(
        got.len() == expected.len(),
        "{what}: partition {partition}: read {} records, expected {} (last read offset {:?}, \
         last expected {:?})",
        got.len(),
        expected.len(),
        got.last().map(|r| r.offset),
        expected.last().map(|r| r.offset)
    );
    Ok(())
}
