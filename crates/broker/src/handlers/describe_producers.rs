//! DescribeProducers (API 61, v0): the active producers of partitions led here — epoch, last
//! sequence, last timestamp, coordinator epoch and the start of the open transaction (-1 if
//! none), from the partition log's producer state (`PartitionLog::producers`).
//!
//! A partition not led here answers NOT_LEADER_OR_FOLLOWER, an unknown one
//! UNKNOWN_TOPIC_OR_PARTITION, as Kafka's `ReplicaManager.activeProducerState`. Each topic
//! needs READ (TOPIC_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::broker::Broker;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let authz = crate::authz::Authz::new(broker);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let allowed = authz.topic(strata_meta::acl::AclOperation::Read, &name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    if allowed {
                        describe(broker, &name, index)
                    } else {
                        PartitionResponse::default()
                            .with_partition_index(index)
                            .with_error_code(crate::authz::TOPIC_AUTHORIZATION_FAILED)
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

fn describe(broker: &Arc<Broker>, topic: &str, index: i32) -> PartitionResponse {
    let resp = PartitionResponse::default().with_partition_index(index);
    let part = match broker.serving_partition(topic, index) {
        Ok(part) => part,
        Err(code) => return resp.with_error_code(code),
    };
    let producers = part.log().producers();
    resp.with_active_producers(
        producers
            .into_iter()
            .map(|p| {
                ProducerState::default()
                    .with_producer_id(ProducerId(p.producer_id))
                    .with_producer_epoch(i32::from(p.producer_epoch))
                    .with_last_sequence(p.last_sequence)
                    .with_last_timestamp(p.last_timestamp)
                    .with_coordinator_epoch(p.coordinator_epoch)
                    .with_current_txn_start_offset(p.current_txn_start_offset)
            })
            .collect(),
    )
}
