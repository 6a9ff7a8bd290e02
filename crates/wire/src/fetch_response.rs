//! Fetch response encoding in pieces, so record payloads can be sent from segment files with
//! sendfile(2) instead of being copied through user space.
//!
//! `kafka-protocol` can only encode a Fetch response into one contiguous buffer, so this module
//! writes the Fetch v4–v12 framing itself (the message *types* still come from the crate: the
//! tests decode every version with `kafka_protocol::messages::FetchResponse`).
//!
//! Invariants:
//! - the output is a sequence of owned byte chunks and opaque file ranges whose lengths add up
//!   to the size prefix in the first chunk;
//! - versions above 12 (topic ids) are never produced: the broker does not advertise them.

use bytes::{BufMut, Bytes, BytesMut};

/// Record bytes of one partition: absent (null), in memory, or a file range of `len` bytes.
#[derive(Debug)]
pub enum Payload<F> {
    /// Null records (error responses).
    None,
    /// Record bytes held in memory.
    Bytes(Bytes),
    /// Record bytes to be sent from a file range; `F` is the broker's handle.
    File {
        /// The broker's handle for the range (file, position).
        handle: F,
        /// Number of bytes in the range.
        len: usize,
    },
}

impl<F> Payload<F> {
    /// Number of record bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::None => 0,
            Payload::Bytes(b) => b.len(),
            Payload::File { len, .. } => *len,
        }
    }

    /// True when there are no record bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One partition of a Fetch response.
#[derive(Debug)]
pub struct FetchPartitionData<F> {
    /// Partition index.
    pub partition_index: i32,
    /// Kafka error code.
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset.
    pub last_stable_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// `(producer_id, first_offset)` of aborted transactions; `None` encodes as null.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// Preferred read replica (-1: none).
    pub preferred_read_replica: i32,
    /// The record bytes.
    pub records: Payload<F>,
}

/// One topic of a Fetch response.
#[derive(Debug)]
pub struct FetchTopicData<F> {
    /// Topic name.
    pub name: String,
    /// Partitions, in request order.
    pub partitions: Vec<FetchPartitionData<F>>,
}

/// A whole Fetch response body.
#[derive(Debug)]
pub struct FetchResponseBody<F> {
    /// Throttle time (always 0 in Strata).
    pub throttle_time_ms: i32,
    /// Top-level error code (v7+).
    pub error_code: i16,
    /// Fetch session id (v7+); Strata always answers 0.
    pub session_id: i32,
    /// Topics, in request order.
    pub topics: Vec<FetchTopicData<F>>,
}

/// In-memory record bytes at least this long are a chunk of their own in the encoded frame
/// (written as they are) rather than copied into the header buffer.
pub(crate) const SEPARATE_CHUNK_BYTES: usize = 16 * 1024;

/// An encoded response frame: byte chunks interleaved with file ranges.
#[derive(Debug)]
pub enum ResponseChunks<F> {
    /// Bytes to write as they are.
    Bytes(Bytes),
    /// A file range to send with sendfile (or copy).
    File(F, usize),
}

impl<F> FetchResponseBody<F> {
    /// Encodes the response frame (size prefix and header included) for `version` (4..=12).
    pub fn encode(self, correlation_id: i32, version: i16) -> Vec<ResponseChunks<F>> {
        let flexible = version >= 12;
        let mut out = Vec::new();
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0); // size, patched below
        buf.put_i32(correlation_id);
        if flexible {
            buf.put_u8(0); // response header v1: no tagged fields
        }
        buf.put_i32(self.throttle_time_ms);
        if version >= 7 {
            buf.put_i16(self.error_code);
            buf.put_i32(self.session_id);
        }
        put_array_len(&mut buf, self.topics.len(), flexible);
        for topic in self.topics {
            put_string(&mut buf, &topic.name, flexible);
            put_array_len(&mut buf, topic.partitions.len(), flexible);
            for p in topic.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i16(p.error_code);
                buf.put_i64(p.high_watermark);
                buf.put_i64(p.last_stable_offset);
                if version >= 5 {
                    buf.put_i64(p.log_start_offset);
                }
                match &p.aborted_transactions {
                    None => put_null_array(&mut buf, flexible),
                    Some(list) => {
                        put_array_len(&mut buf, list.len(), flexible);
                        for (producer_id, first_offset) in list {
                            buf.put_i64(*producer_id);
                            buf.put_i64(*first_offset);
                            if flexible {
                                buf.put_u8(0);
                            }
                        }
                    }
                }
                if version >= 11 {
                    buf.put_i32(p.preferred_read_replica);
                }
                match p.records {
                    Payload::None => put_null_bytes(&mut buf, flexible),
                    Payload::Bytes(bytes) => {
                        put_bytes_len(&mut buf, bytes.len(), flexible);
                        if bytes.len() < SEPARATE_CHUNK_BYTES {
                            buf.put_slice(&bytes);
                        } else {
                            // Large record bytes (cold reads) go out as their own chunk,
                            // never copied into the frame.
                            out.push(ResponseChunks::Bytes(buf.split().freeze()));
                            out.push(ResponseChunks::Bytes(bytes));
                        }
                    }
                    Payload::File { handle, len } => {
                        put_bytes_len(&mut buf, len, flexible);
                        out.push(ResponseChunks::Bytes(buf.split().freeze()));
                        out.push(ResponseChunks::File(handle, len));
                    }
                }
                if flexible {
                    buf.put_u8(0);
                }
            }
            if flexible {
                buf.put_u8(0);
            }
        }
        if flexible {
            buf.put_u8(0);
        }
        out.push(ResponseChunks::Bytes(buf.freeze()));
        let total: usize = out
            .iter()
            .map(|c| match c {
                ResponseChunks::Bytes(b) => b.len(),
                ResponseChunks::File(_, len) => *len,
            })
            .sum();
        let size = (total - 4) as i32;
        if let Some(ResponseChunks::Bytes(first)) = out.first_mut() {
            let mut patched = BytesMut::from(&first[..]);
            patched[0..4].copy_from_slice(&size.to_be_bytes());
            *first = patched.freeze();
        }
        out
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn put_array_len(buf: &mut BytesMut, len: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, len as u64 + 1);
    } else {
        buf.put_i32(len as i32);
    }
}

fn put_null_array(buf: &mut BytesMut, flexible: bool) {
    if flexible {
        buf.put_u8(0);
    } else {
        buf.put_i32(-1);
    }
}

fn put_string(buf: &mut BytesMut, s: &str, flexible: bool) {
    if flexible {
        put_uvarint(buf, s.len() as u64 + 1);
    } else {
        buf.put_i16(s.len() as i16);
    }
    buf.put_slice(s.as_bytes());
}

fn put_bytes_len(buf: &mut BytesMut, len: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, len as u64 + 1);
    } else {
        buf.put_i32(len as i32);
    }
}

fn put_null_bytes(buf: &mut BytesMut, flexible: bool) {
    if flexible {
        buf.put_u8(0);
    } else {
        buf.put_i32(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;

    fn sample(records: Vec<u8>) -> FetchResponseBody<Vec<u8>> {
        FetchResponseBody {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            topics: vec![
                FetchTopicData {
                    name: "orders".into(),
                    partitions: vec![
                        FetchPartitionData {
                            partition_index: 3,
                            error_code: 0,
                            high_watermark: 100,
                            last_stable_offset: 99,
                            log_start_offset: 7,
                            aborted_transactions: Some(vec![(1000, 42)]),
                            preferred_read_replica: -1,
                            records: Payload::File {
                                len: records.len(),
                                handle: records,
                            },
                        },
                        FetchPartitionData {
                            partition_index: 4,
                            error_code: 1,
                            high_watermark: -1,
                            last_stable_offset: -1,
                            log_start_offset: -1,
                            aborted_transactions: None,
                            preferred_read_replica: -1,
                            records: Payload::None,
                        },
                    ],
                },
                FetchTopicData {
                    name: "t2".into(),
                    partitions: vec![FetchPartitionData {
                        partition_index: 0,
                        error_code: 0,
                        high_watermark: 5,
                        last_stable_offset: 5,
                        log_start_offset: 0,
                        aborted_transactions: Some(vec![]),
                        preferred_read_replica: -1,
                        records: Payload::Bytes(Bytes::from_static(b"xyz")),
                    }],
                },
            ],
        }
    }

    fn flatten(chunks: Vec<ResponseChunks<Vec<u8>>>) -> Bytes {
        let mut all = Vec::new();
        for c in chunks {
            match c {
                ResponseChunks::Bytes(b) => all.extend_from_slice(&b),
                ResponseChunks::File(f, len) => {
                    assert_eq!(f.len(), len);
                    all.extend_from_slice(&f)
                }
            }
        }
        Bytes::from(all)
    }

    #[test]
    fn every_version_decodes_with_kafka_protocol() {
        let records: Vec<u8> = (0..200u8).collect();
        for version in 4..=12i16 {
            let mut frame = flatten(sample(records.clone()).encode(9, version));
            assert_eq!(frame.get_i32() as usize, frame.len(), "v{version}");
            let header =
                ResponseHeader::decode(&mut frame, ApiKey::Fetch.response_header_version(version))
                    .unwrap();
            assert_eq!(header.correlation_id, 9);
            let resp = FetchResponse::decode(&mut frame, version).unwrap();
            assert!(!frame.has_remaining(), "v{version} trailing bytes");
            assert_eq!(resp.responses.len(), 2);
            let t = &resp.responses[0];
            assert_eq!(t.topic.0.as_str(), "orders");
            let p = &t.partitions[0];
            assert_eq!(p.partition_index, 3);
            assert_eq!(p.high_watermark, 100);
            assert_eq!(p.last_stable_offset, 99);
            if version >= 5 {
                assert_eq!(p.log_start_offset, 7);
            }
            let aborted = p.aborted_transactions.as_ref().unwrap();
            assert_eq!(
                (aborted[0].producer_id.0, aborted[0].first_offset),
                (1000, 42)
            );
            assert_eq!(p.records.as_deref(), Some(&records[..]));
            let q = &t.partitions[1];
            assert_eq!(q.error_code, 1);
            assert!(q.records.is_none());
            assert!(q.aborted_transactions.is_none());
            let r = &resp.responses[1].partitions[0];
            assert_eq!(r.records.as_deref(), Some(&b"xyz"[..]));
        }
    }

    #[test]
    fn large_in_memory_records_are_separate_chunks_and_decode() {
        let records = Bytes::from(vec![7u8; SEPARATE_CHUNK_BYTES + 1]);
        let body: FetchResponseBody<Vec<u8>> = FetchResponseBody {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            topics: vec![FetchTopicData {
                name: "t".into(),
                partitions: vec![FetchPartitionData {
                    partition_index: 0,
                    error_code: 0,
                    high_watermark: 1,
                    last_stable_offset: 1,
                    log_start_offset: 0,
                    aborted_transactions: None,
                    preferred_read_replica: -1,
                    records: Payload::Bytes(records.clone()),
                }],
            }],
        };
        let chunks = body.encode(9, 12);
        assert_eq!(chunks.len(), 3, "header, records, trailer");
        match &chunks[1] {
            // The same allocation, not a copy.
            ResponseChunks::Bytes(b) => assert_eq!(b.as_ptr(), records.as_ptr()),
            ResponseChunks::File(..) => panic!("expected bytes"),
        }
        let mut frame = flatten(chunks);
        assert_eq!(frame.get_i32() as usize, frame.len());
        let header =
            ResponseHeader::decode(&mut frame, ApiKey::Fetch.response_header_version(12)).unwrap();
        assert_eq!(header.correlation_id, 9);
        let resp = FetchResponse::decode(&mut frame, 12).unwrap();
        assert!(!frame.has_remaining());
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.records.as_deref(), Some(&records[..]));
    }

    #[test]
    fn file_ranges_are_separate_chunks() {
        let chunks = sample(vec![1; 10]).encode(1, 11);
        let files = chunks
            .iter()
            .filter(|c| matches!(c, ResponseChunks::File(..)))
            .count();
        assert_eq!(files, 1);
        assert_eq!(chunks.len(), 3);
    }
}
