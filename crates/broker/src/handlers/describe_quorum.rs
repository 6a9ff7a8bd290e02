//! DescribeQuorum (KIP-595): the metadata quorum as this node sees it — leader, epoch (the Raft
//! term), high watermark (the last applied index), and the voters with their log ends. On the
//! quorum leader every voter's matched index is known; elsewhere only this node's own, and the
//! others answer -1 (ask the controller, which DescribeCluster names, for the full picture).

use std::sync::Arc;

use kafka_protocol::messages::describe_quorum_response::{
    PartitionData, ReplicaState as VoterState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumResponse, TopicName};

use super::sb;
use crate::broker::Broker;

/// The name Kafka gives the metadata log.
const METADATA_TOPIC: &str = "__cluster_metadata";

pub(crate) fn handle(broker: &Arc<Broker>) -> DescribeQuorumResponse {
    let status = broker.quorum().status();
    let node = status.node_id;
    let voters = status
        .voters
        .keys()
        .map(|&id| {
            let end = if id == node {
                Some(status.last_log_index)
            } else {
                status.matched.get(&id).copied()
            };
            VoterState::default()
                .with_replica_id(BrokerId(i32::try_from(id).unwrap_or(-1)))
                .with_log_end_offset(end.map_or(-1, |e| e as i64))
                .with_last_fetch_timestamp(-1)
                .with_last_caught_up_timestamp(-1)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(
            status
                .leader
                .and_then(|l| i32::try_from(l).ok())
                .unwrap_or(-1),
        ))
        .with_leader_epoch(i32::try_from(status.term).unwrap_or(i32::MAX))
        .with_high_watermark(status.applied as i64)
        .with_current_voters(voters);
    DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(sb(METADATA_TOPIC)))
        .with_partitions(vec![partition])])
}
