//! Decoding of a consumer group member's assignment (Kafka's ConsumerProtocol), shared by
//! the gRPC `DescribeGroup` and `strata group describe`. Bytes that do not decode read as no
//! partitions (another protocol, or a member that has none yet).

use bytes::Buf;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;

use crate::cluster_client::TopicPartition;

/// Topic-partitions in ConsumerProtocol assignment bytes (`int16 version` + struct).
pub fn decode_assignment(bytes: &bytes::Bytes) -> Vec<TopicPartition> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut buf, version) else {
        return Vec::new();
    };
    assignment
        .assigned_partitions
        .iter()
        .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.to_string(), *p)))
        .collect()
}
