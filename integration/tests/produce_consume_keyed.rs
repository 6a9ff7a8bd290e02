//! Keyed records with headers through a 4-partition topic: librdkafka's partitioner places each
//! key on one partition, the broker assigns contiguous offsets from 0 per partition, and a
//! consumer reads back every key, value and header (order and duplicates preserved).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{ensure, Result};
use strata_integration::client::{by_partition, partition_count};
use strata_integration::{create_topic, producer, read_topic, run, send_all, Broker, Outgoing};

const TOPIC: &str = "keyed";
const PARTITIONS: i32 = 4;
const RECORDS: usize = 1000;
const KEYS: usize = 37;

fn key_of(i: usize) -> Vec<u8> {
    format!("key-{}", i % KEYS).into_bytes()
}

fn value_of(i: usize) -> Vec<u8> {
    // Varying lengths, with non-UTF-8 bytes in it.
    let mut v = format!("value-{i:04}-").into_bytes();
    v.extend((0..(i % 50)).map(|j| (i * 7 + j) as u8));
    v
}

fn headers_of(i: usize) -> Vec<(String, Option<Vec<u8>>)> {
    vec![
        ("h".to_string(), Some(format!("first-{i}").into_bytes())),
        ("trace".to_string(), Some(vec![0, 1, 2, (i % 256) as u8])),
        ("h".to_string(), Some(format!("second-{i}").into_bytes())),
        ("empty".to_string(), Some(Vec::new())),
        ("null".to_string(), None),
    ]
}

/// Recovers `i` from a value written by [`value_of`].
fn index_of(value: &[u8]) -> Option<usize> {
    let digits = value.get(6..10)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[test]
fn keyed_records_with_headers_round_trip() {
    run(Duration::from_secs(120), scenario());
}

async fn scenario() -> Result<()> {
    let broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]).await?;
    ensure!(partition_count(&bootstrap, TOPIC)? == Some(PARTITIONS as usize));

    let records: Vec<Outgoing> = (0..RECORDS)
        .map(|i| Outgoing {
            key: Some(key_of(i)),
            value: value_of(i),
            headers: headers_of(i),
            ..Outgoing::default()
        })
        .collect();
    let producer = producer(&bootstrap, &[])?;
    let delivered = send_all(&producer, TOPIC, &records).await?;

    // Each key went to exactly one partition.
    let mut partition_of_key: HashMap<Vec<u8>, i32> = HashMap::new();
    for (i, d) in delivered.iter().enumerate() {
        let p = *partition_of_key.entry(key_of(i)).or_insert(d.partition);
        ensure!(
            p == d.partition,
            "key {:?} delivered to partitions {p} and {}",
            String::from_utf8_lossy(&key_of(i)),
            d.partition
        );
    }
    // Acknowledged offsets are contiguous from 0 in each partition, in send order.
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = delivered
            .iter()
            .filter(|d| d.partition == p)
            .map(|d| d.offset)
            .collect();
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        ensure!(
            offsets == expected,
            "partition {p}: acked offsets {offsets:?} are not 0..{} in send order",
            offsets.len()
        );
    }

    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() == RECORDS,
        "read {} records, expected {RECORDS}",
        read.len()
    );

    let mut seen = vec![false; RECORDS];
    for r in &read {
        let value = r.value.as_deref().unwrap_or_default();
        let i = index_of(value)
            .filter(|i| *i < RECORDS)
            .ok_or_else(|| anyhow::anyhow!("unrecognised value {value:?} at {r:?}"))?;
        ensure!(!seen[i], "record {i} read twice");
        seen[i] = true;
        ensure!(
            r.value.as_deref() == Some(value_of(i).as_slice()),
            "record {i}: value differs"
        );
        ensure!(r.key == Some(key_of(i)), "record {i}: key {:?}", r.key);
        ensure!(
            r.headers == headers_of(i),
            "record {i}: headers {:?}, expected {:?}",
            r.headers,
            headers_of(i)
        );
        ensure!(
            (r.partition, r.offset) == (delivered[i].partition, delivered[i].offset),
            "record {i}: read at {}/{}, acked at {:?}",
            r.partition,
            r.offset,
            delivered[i]
        );
    }

    // Offsets contiguous from 0 per partition, and per-key order preserved.
    for (p, group) in by_partition(&read, PARTITIONS).iter().enumerate() {
        let offsets: Vec<i64> = group.iter().map(|r| r.offset).collect();
        let expected: Vec<i64> = (0..group.len() as i64).collect();
        ensure!(
            offsets == expected,
            "partition {p}: read offsets {offsets:?}"
        );
        let mut last_index_of_key: HashMap<&[u8], usize> = HashMap::new();
        for r in group {
            let i = index_of(r.value.as_deref().unwrap_or_default()).unwrap_or(usize::MAX);
            let key = r.key.as_deref().unwrap_or_default();
            if let Some(prev) = last_index_of_key.insert(key, i) {
                ensure!(
                    prev < i,
                    "partition {p}: key order broken: {prev} before {i}"
                );
            }
        }
    }
    Ok(())
}
