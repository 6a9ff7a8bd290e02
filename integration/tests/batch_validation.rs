//! Record-level batch validation (issue 7 item 5) against the real binary, over raw frames
//! built with `kafka-protocol` types.
//!
//! Each hostile batch has a correct CRC, so only the record walk can catch it. Checked:
//! - a batch whose header declares more records than it holds → INVALID_RECORD (87) for that
//!   partition, nothing appended (ListOffsets latest unchanged);
//! - the same lie inside a zstd batch, and a record whose offset delta is out of order → 87;
//! - a record stamped two hours ahead (Kafka 4 default `message.timestamp.after.max.ms` is one
//!   hour) → INVALID_TIMESTAMP (32) with Kafka's error message and one `record_errors` entry
//!   (batch index 1), nothing appended;
//! - a zstd bomb (80 MiB of zeros in a few KiB) → 87, decompression stopped at the 64 MiB cap;
//! - with the topic's `message.timestamp.after.max.ms` raised, the same batch is accepted;
//! - good batches afterwards land at the expected offsets, and a batch whose header max
//!   timestamp disagrees with its records is accepted with the header corrected (read back).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use strata_integration::{create_topic, run, Broker};
use strata_records::testing::{build_batch, build_compressed_batch};
use strata_records::{compute_crc, BatchHeader, Compression};

const PRODUCE_VERSION: i16 = 9;
const HOUR: i64 = 3_600_000;

struct Conn {
    stream: TcpStream,
    correlation: i32,
}

impl Conn {
    fn open(broker: &Broker) -> Result<Conn> {
        let stream = TcpStream::connect_timeout(&broker.addr(), Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            stream,
            correlation: 0,
        })
    }

    fn call<Req, Resp>(&mut self, key: ApiKey, version: i16, req: &Req) -> Result<Resp>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("batch-validation-it")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, Req::header_version(version))?;
        req.encode(&mut buf, version)?;
        let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        self.stream.write_all(&frame)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        ensure!((0..=64 << 20).contains(&size), "response size {size}");
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, Resp::header_version(version))?;
        ensure!(
            rh.correlation_id == self.correlation,
            "correlation mismatch"
        );
        Resp::decode(&mut body, version)
    }

    fn produce(&mut self, topic: &str, batch: Vec<u8>) -> Result<PartitionProduceResponse> {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(batch)))])]);
        let resp: ProduceResponse = self.call(ApiKey::Produce, PRODUCE_VERSION, &req)?;
        resp.responses
            .into_iter()
            .next()
            .and_then(|t| t.partition_responses.into_iter().next())
            .context("no partition in the produce response")
    }

    fn latest_offset(&mut self, topic: &str) -> Result<i64> {
        let req = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let resp: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 5, &req)?;
        let p = &resp.topics[0].partitions[0];
        ensure!(p.error_code == 0, "ListOffsets error {}", p.error_code);
        Ok(p.offset)
    }

    /// The raw record bytes of partition 0 from `offset`.
    fn fetch(&mut self, topic: &str, offset: i64) -> Result<Bytes> {
        let req = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let resp: FetchResponse = self.call(ApiKey::Fetch, 4, &req)?;
        let p = &resp.responses[0].partitions[0];
        ensure!(p.error_code == 0, "Fetch error {}", p.error_code);
        p.records.clone().context("no records")
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Rewrites header bytes `at..` and recomputes the CRC, so only record-level checks can fail.
fn edit(mut batch: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    batch[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// Claims three records (count and last offset delta) in a batch that holds two.
fn overcounted(batch: Vec<u8>) -> Vec<u8> {
    let batch = edit(batch, 23, &2i32.to_be_bytes());
    edit(batch, 57, &3i32.to_be_bytes())
}

fn two_records(ts: i64) -> Vec<u8> {
    build_batch(
        ts,
        &[(Some(b"k0"), Some(b"v0"), 0), (Some(b"k1"), Some(b"v1"), 1)],
        -1,
        -1,
        -1,
    )
}

fn refused(resp: &PartitionProduceResponse, code: i16) -> Result<String> {
    ensure!(
        resp.error_code == code,
        "expected error {code}, got {} ({:?})",
        resp.error_code,
        resp.error_message
    );
    ensure!(resp.base_offset == -1, "base offset {}", resp.base_offset);
    Ok(resp
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default())
}

#[test]
fn hostile_batches_are_refused_and_leave_the_log_unchanged() {
    run(Duration::from_secs(60), scenario());
}

async fn scenario() -> Result<()> {
    let broker = Broker::start(&[])?;
    let topic = "validated";
    create_topic(&broker.bootstrap(), topic, 1, &[]).await?;
    let lax = "validated-lax";
    create_topic(
        &broker.bootstrap(),
        lax,
        1,
        &[("message.timestamp.after.max.ms", "86400000")],
    )
    .await?;
    let mut conn = Conn::open(&broker)?;
    let now = now_ms();

    // Header says 3 records, the batch holds 2 (CRC recomputed).
    let msg = refused(&conn.produce(topic, overcounted(two_records(now)))?, 87)?;
    ensure!(msg.contains("fewer records"), "message: {msg}");
    ensure!(
        conn.latest_offset(topic)? == 0,
        "an invalid batch was appended"
    );

    // The same lie inside a zstd batch, caught while decompressing.
    let zstd = build_compressed_batch(
        Compression::Zstd,
        now,
        &[(None, Some(b"a"), 0), (None, Some(b"b"), 0)],
        -1,
        -1,
        -1,
    );
    let msg = refused(&conn.produce(topic, overcounted(zstd))?, 87)?;
    ensure!(msg.contains("fewer records"), "message: {msg}");

    // Record 1 says offset delta 5: patch the uncompressed record in place.
    let mut bad_delta = two_records(now);
    let second = 61 + 1 + usize::from(bad_delta[61] >> 1); // length varint of record 0 is 1 byte
                                                           // record 1: length varint (1 byte), attributes, timestamp delta (1 byte), offset delta.
    ensure!(bad_delta[second + 3] == 2, "offset delta 1 is zig-zag 2");
    bad_delta[second + 3] = 10; // zig-zag 5
    let bad_delta = edit(bad_delta, 0, &[0]);
    let msg = refused(&conn.produce(topic, bad_delta)?, 87)?;
    ensure!(msg.contains("offset delta"), "message: {msg}");
    ensure!(
        conn.latest_offset(topic)? == 0,
        "an invalid batch was appended"
    );

    // Record 1 two hours ahead: INVALID_TIMESTAMP with one record error.
    let future = build_batch(
        now,
        &[(None, Some(b"ok"), 0), (None, Some(b"late"), 2 * HOUR)],
        -1,
        -1,
        -1,
    );
    let resp = conn.produce(topic, future.clone())?;
    let msg = refused(&resp, 32)?;
    ensure!(
        msg == "One or more records have been rejected due to invalid timestamp",
        "message: {msg}"
    );
    ensure!(resp.record_errors.len() == 1, "{:?}", resp.record_errors);
    ensure!(resp.record_errors[0].batch_index == 1);
    let text = resp.record_errors[0]
        .batch_index_error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    ensure!(
        text.starts_with(&format!(
            "Timestamp {} of message with offset 1 is out of range.",
            now + 2 * HOUR
        )),
        "record error: {text}"
    );
    ensure!(
        conn.latest_offset(topic)? == 0,
        "an invalid batch was appended"
    );

    // A compression bomb: one 80 MiB record of zeros is a few KiB of zstd, far under
    // max.message.bytes; decompression stops at the 64 MiB cap and the batch is refused.
    let zeros = vec![0u8; 80 << 20];
    let bomb = build_compressed_batch(
        Compression::Zstd,
        now,
        &[(None, Some(&zeros), 0)],
        -1,
        -1,
        -1,
    );
    drop(zeros);
    ensure!(bomb.len() < 64 << 10, "bomb is {} bytes", bomb.len());
    let msg = refused(&conn.produce(topic, bomb)?, 87)?;
    ensure!(msg.contains("exceed"), "message: {msg}");
    ensure!(
        conn.latest_offset(topic)? == 0,
        "an invalid batch was appended"
    );

    // A topic that allows a day ahead takes the same batch.
    let resp = conn.produce(lax, future)?;
    ensure!(resp.error_code == 0 && resp.base_offset == 0, "{resp:?}");

    // Good batches land at the expected offsets.
    let resp = conn.produce(topic, two_records(now))?;
    ensure!(resp.error_code == 0 && resp.base_offset == 0, "{resp:?}");
    // A header max timestamp far ahead of its records: accepted, header corrected.
    let lying = edit(two_records(now), 35, &(now + 10 * HOUR).to_be_bytes());
    let resp = conn.produce(topic, lying)?;
    ensure!(resp.error_code == 0 && resp.base_offset == 2, "{resp:?}");
    ensure!(conn.latest_offset(topic)? == 4);
    let stored = conn.fetch(topic, 2)?;
    let header = BatchHeader::parse(&stored)?;
    ensure!(header.base_offset == 2);
    ensure!(
        header.max_timestamp == now + 1,
        "stored max timestamp {} (records end at {})",
        header.max_timestamp,
        now + 1
    );
    ensure!(compute_crc(&stored[..header.total_len()]) == header.crc);
    Ok(())
}
