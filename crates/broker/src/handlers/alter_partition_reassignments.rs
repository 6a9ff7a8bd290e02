//! AlterPartitionReassignments (KIP-455): moves partitions to new replica sets through the
//! quorum, one `Operation::ReassignPartition` per partition (planned by
//! `strata_meta::reassign`). A list of replicas starts (or replaces) a reassignment; null
//! cancels one. Results per partition as Kafka gives them: 0 (accepted — the move goes on in
//! the background and completes once every target replica is in the ISR),
//! UNKNOWN_TOPIC_OR_PARTITION (3), INVALID_REPLICA_ASSIGNMENT (39: an empty list, a broker
//! named twice, an unregistered broker, or a cancel that would need an unclean election),
//! NO_REASSIGNMENT_IN_PROGRESS (85: cancelling nothing), REQUEST_TIMED_OUT (7: no quorum).

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use strata_meta::Operation;

use super::sb;
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = t.name.0.to_string();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let replicas: Option<Vec<i32>> =
                p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
            let cancel = replicas.is_none();
            let op = Operation::ReassignPartition {
                topic: topic.clone(),
                partition: p.partition_index,
                replicas: replicas.clone(),
            };
            let result =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            partitions.push(match broker.quorum().execute(op).await {
                Ok(_) => {
                    tracing::info!(
                        topic,
                        partition = p.partition_index,
                        ?replicas,
                        cancel,
                        "partition reassignment accepted"
                    );
                    result
                }
                Err(e) => result
                    .with_error_code(e.kafka_error_code())
                    .with_error_message(Some(sb(&e.message))),
            });
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}
