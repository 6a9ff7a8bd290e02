//! `raw-produce`: a minimal pipelined Produce client over a blocking socket, for measuring the
//! broker's ingest path (and its durable acks) without librdkafka's per-record cost.
//!
//! It builds one uncompressed batch of `--batch-bytes` worth of records once, and sends it in
//! every request (the broker assigns offsets; the batch's CRC does not cover them), keeping
//! `--in-flight` requests outstanding on each of `--connections` connections (connection `i`
//! writes partition `--partition + i`). Request and response types are
//! kafka-protocol's. Latency is per request (send to response), in order.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _};
use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::cli::RawProduceArgs;
use crate::report::{cpu_time, us_to_ms, Report};

/// Produce v7: the newest non-flexible version every broker since Kafka 2.1 speaks.
const PRODUCE_VERSION: i16 = 7;

pub(crate) fn run(args: &RawProduceArgs) -> anyhow::Result<()> {
    ensure!(args.acks == -1 || args.acks == 1, "--acks must be -1 or 1");
    let (batch, per_batch) = batch(args)?;
    let connections = args.connections.max(1);
    let requests = args.records.div_ceil(per_batch).max(1);
    let cpu0 = cpu_time();
    let start = Instant::now();
    let outcomes: Vec<anyhow::Result<Histogram<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|i| {
                let share = requests / connections + u64::from(i < requests % connections);
                let partition = args.target.partition + i as i32;
                let frame = request_frame(args, partition, batch.clone());
                scope.spawn(move || send_all(args, frame?, share))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("connection thread panicked"))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    for outcome in outcomes {
        hist.add(outcome?)?;
    }
    let records = requests * per_batch;
    let mut report = Report::new("raw-produce");
    report
        .text("topic", &args.target.topic)
        .text("acks", args.acks.to_string())
        .int("record_size", args.record_size as u64)
        .int("connections", connections)
        .rates(records, records * args.record_size as u64, elapsed)
        .int("requests", requests)
        .float("p50_ms", us_to_ms(hist.value_at_quantile(0.50)), 2)
        .float("p99_ms", us_to_ms(hist.value_at_quantile(0.99)), 2)
        .float("max_ms", us_to_ms(hist.max()), 2)
        .cpu(cpu0, elapsed);
    report.print(args.json);
    Ok(())
}

/// One connection: sends `requests` copies of `frame`, `--in-flight` at a time; returns the
/// per-request latency histogram (microseconds).
fn send_all(
    args: &RawProduceArgs,
    frame: Vec<u8>,
    requests: u64,
) -> anyhow::Result<Histogram<u64>> {
    let mut sock = TcpStream::connect(&args.target.bootstrap_server)
        .with_context(|| format!("connecting to {}", args.target.bootstrap_server))?;
    sock.set_nodelay(true)?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut sent_at = std::collections::VecDeque::new();
    let mut response = Vec::new();
    let (mut sent, mut answered) = (0u64, 0u64);
    while answered < requests {
        while sent < requests && sent - answered < args.in_flight.max(1) {
            sock.write_all(&frame)?;
            sent_at.push_back(Instant::now());
            sent += 1;
        }
        let mut len = [0u8; 4];
        sock.read_exact(&mut len)?;
        response.resize(i32::from_be_bytes(len).max(0) as usize, 0);
        sock.read_exact(&mut response)?;
        let at = sent_at.pop_front().context("a response nobody asked for")?;
        let us = at.elapsed().as_micros().clamp(1, 3_600_000_000) as u64;
        hist.record(us)?;
        check_response(&response)?;
        answered += 1;
    }
    Ok(hist)
}

/// One batch of as many `record_size` records as fit in `batch_bytes`, and its record count.
fn batch(args: &RawProduceArgs) -> anyhow::Result<(Vec<u8>, u64)> {
    let value: Vec<u8> = (0..args.record_size)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    // ~10 bytes of record framing per record beyond the value.
    let per_batch = (args.batch_bytes / (args.record_size + 10)).max(1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64;
    let records: Vec<_> = (0..per_batch)
        .map(|_| (None, Some(value.as_slice()), 0))
        .collect();
    let batch = strata_records::testing::build_batch(now, &records, -1, -1, -1);
    Ok((batch, per_batch as u64))
}

/// The size-prefixed request frame, sent unchanged every time.
fn request_frame(args: &RawProduceArgs, partition: i32, batch: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let request = ProduceRequest::default()
        .with_acks(args.acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(args.target.topic.clone())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(batch)))])]);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(PRODUCE_VERSION)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("strata-loadgen-raw")));
    let mut body = BytesMut::new();
    header.encode(
        &mut body,
        ApiKey::Produce.request_header_version(PRODUCE_VERSION),
    )?;
    request.encode(&mut body, PRODUCE_VERSION)?;
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Fails unless every partition of the response succeeded.
fn check_response(frame: &[u8]) -> anyhow::Result<()> {
    let mut buf = Bytes::copy_from_slice(frame);
    ResponseHeader::decode(
        &mut buf,
        ApiKey::Produce.response_header_version(PRODUCE_VERSION),
    )?;
    let response = ProduceResponse::decode(&mut buf, PRODUCE_VERSION)?;
    for topic in &response.responses {
        for p in &topic.partition_responses {
            if p.error_code != 0 {
                bail!(
                    "produce to {}-{} failed with error code {}",
                    topic.name.0,
                    p.index,
                    p.error_code
                );
            }
        }
    }
    ensure!(!response.responses.is_empty(), "empty produce response");
    Ok(())
}
