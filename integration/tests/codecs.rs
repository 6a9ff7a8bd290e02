//! Every compression codec, end to end.
//!
//! - librdkafka 2.12 (the `rdkafka` crate) produces with `compression.type` = none, gzip,
//!   snappy, lz4 and zstd; a consumer reads back exact payloads at offsets 0..N.
//! - Debian's `kcat` (librdkafka 2.0.2) produces with `-z gzip|snappy|lz4|zstd`; `kcat -C`
//!   prints `offset key value` lines that must match the input exactly. librdkafka 2.0.2
//!   compresses with gzip/snappy/lz4 only if the broker's Produce range starts at 0, and
//!   otherwise logs "not compressing batch"; its zstd needs Produce v7 and Fetch v10 to lie in
//!   the advertised ranges. Its stderr must not say it fell back to no compression.

use std::time::Duration;

use anyhow::{ensure, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_integration::client::producer_with_log;
use strata_integration::{create_topic, kcat, read_topic, run, send_all, Broker, Outgoing};

const RECORDS: usize = 500;

/// Half compressible text, half random bytes; lengths 0..3000.
fn payloads(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..RECORDS)
        .map(|i| {
            let len = rng.random_range(0..3000usize);
            if i % 2 == 0 {
                format!("record {i} ")
                    .into_bytes()
                    .into_iter()
                    .cycle()
                    .take(len)
                    .collect()
            } else {
                (0..len).map(|_| rng.random::<u8>()).collect()
            }
        })
        .collect()
}

async fn round_trip(codec: &str) -> Result<()> {
    let broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    let topic = format!("codec-{codec}");
    create_topic(&bootstrap, &topic, 1, &[]).await?;

    let values = payloads(codec.len() as u64);
    let records: Vec<Outgoing> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Outgoing {
            partition: Some(0),
            key: (i % 3 != 0).then(|| format!("k{i}").into_bytes()),
            value: v.clone(),
            ..Outgoing::default()
        })
        .collect();
    // A long linger puts many records in each batch, so the codec compresses real batches.
    let (producer, log) = producer_with_log(
        &bootstrap,
        &[("compression.type", codec), ("linger.ms", "50")],
    )?;
    let delivered = send_all(&producer, &topic, &records).await?;
    ensure!(
        !log.contains("not compressing"),
        "librdkafka fell back to no compression for {codec}: {:?}",
        log.lines()
    );
    let acked: Vec<i64> = delivered.iter().map(|d| d.offset).collect();
    ensure!(
        acked == (0..RECORDS as i64).collect::<Vec<_>>(),
        "{codec}: acked offsets are not 0..{RECORDS}: {acked:?}"
    );

    let read = read_topic(&bootstrap, &topic, 1).await?;
    ensure!(
        read.len() == RECORDS,
        "{codec}: read {} records, expected {RECORDS}",
        read.len()
    );
    for (i, r) in read.iter().enumerate() {
        ensure!(
            r.offset == i as i64,
            "{codec}: record {i} at offset {}",
            r.offset
        );
        ensure!(
            r.value.as_deref() == Some(values[i].as_slice()),
            "{codec}: record {i}: payload differs (len {:?} vs {})",
            r.value.as_ref().map(Vec::len),
            values[i].len()
        );
        ensure!(
            r.key == records[i].key,
            "{codec}: record {i}: key {:?}",
            r.key
        );
    }
    Ok(())
}

#[test]
fn rdkafka_none() {
    run(Duration::from_secs(90), round_trip("none"));
}

#[test]
fn rdkafka_gzip() {
    run(Duration::from_secs(90), round_trip("gzip"));
}

#[test]
fn rdkafka_snappy() {
    run(Duration::from_secs(90), round_trip("snappy"));
}

#[test]
fn rdkafka_lz4() {
    run(Duration::from_secs(90), round_trip("lz4"));
}

#[test]
fn rdkafka_zstd() {
    run(Duration::from_secs(90), round_trip("zstd"));
}

const KCAT_LINES: usize = 200;

async fn kcat_round_trip(codec: &str) -> Result<()> {
    let broker = Broker::start(&[])?;
    let bootstrap = broker.bootstrap();
    let topic = format!("kcat-{codec}");
    create_topic(&bootstrap, &topic, 1, &[]).await?;

    let mut input = String::new();
    let mut expected = String::new();
    for i in 0..KCAT_LINES {
        let value = format!("value {i} {}", "compressible ".repeat(i % 20));
        input.push_str(&format!("key{i}:{value}\n"));
        expected.push_str(&format!("{i} key{i} {value}\n"));
    }
    let produced = kcat(
        &[
            "-b",
            &bootstrap,
            "-P",
            "-t",
            &topic,
            "-z",
            codec,
            "-K",
            ":",
            "-X",
            "linger.ms=50",
            "-X",
            "broker.address.family=v4",
        ],
        input.as_bytes(),
    )?;
    produced.ensure_success(&format!("kcat -P -z {codec}"))?;
    ensure!(
        !produced.stderr.contains("not compressing"),
        "kcat (librdkafka 2.0.2) fell back to no compression for {codec}:\n{}",
        produced.stderr
    );

    let consumed = kcat(
        &[
            "-b",
            &bootstrap,
            "-C",
            "-e",
            "-t",
            &topic,
            "-o",
            "beginning",
            "-f",
            "%o %k %s\n",
            "-X",
            "broker.address.family=v4",
        ],
        &[],
    )?;
    consumed.ensure_success("kcat -C")?;
    let got = consumed.stdout_str();
    ensure!(
        got == expected,
        "kcat -C output differs for {codec}.\nexpected (first lines):\n{}\ngot (first lines):\n{}\n\
         stderr:\n{}",
        first_lines(&expected),
        first_lines(&got),
        consumed.stderr
    );
    Ok(())
}

fn first_lines(s: &str) -> String {
    s.lines().take(5).collect::<Vec<_>>().join("\n")
}

#[test]
fn kcat_gzip() {
    run(Duration::from_secs(90), kcat_round_trip("gzip"));
}

#[test]
fn kcat_snappy() {
    run(Duration::from_secs(90), kcat_round_trip("snappy"));
}

#[test]
fn kcat_lz4() {
    run(Duration::from_secs(90), kcat_round_trip("lz4"));
}

/// librdkafka 2.0.2 enables zstd only when Produce v7 and Fetch v10 are both advertised; a
/// broker advertising Produce 0-11 and Fetch 4-12 satisfies that.
#[test]
fn kcat_zstd() {
    run(Duration::from_secs(90), kcat_round_trip("zstd"));
}

#[test]
fn kcat_uncompressed() {
    run(Duration::from_secs(90), kcat_round_trip("none"));
}
