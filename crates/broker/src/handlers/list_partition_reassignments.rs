//! ListPartitionReassignments (KIP-455): the ongoing reassignments — each partition's current
//! replicas (target first, then those leaving), the replicas being added and those being
//! removed. Null topics lists every one; named partitions that are not moving (or do not exist)
//! are left out, as Kafka's controller does. The answer is read after a quorum barrier, so it
//! includes every reassignment committed before the request arrived, wherever it was made.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use strata_meta::Operation;

use super::sb;
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if let Err(e) = broker.quorum().execute(Operation::Barrier).await {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(e.kafka_error_code())
            .with_error_message(Some(sb(&e.message)));
    }
    let image = broker.meta();
    let wanted = |topic: &str, p: i32| {
        req.topics.as_ref().is_none_or(|ts| {
            ts.iter()
                .any(|t| t.name.0.as_str() == topic && t.partition_indexes.contains(&p))
        })
    };
    let ids = |v: Vec<i32>| v.into_iter().map(BrokerId).collect::<Vec<_>>();
    let mut topics: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
    for o in strata_meta::reassign::ongoing(&image) {
        if !wanted(&o.topic, o.partition) {
            continue;
        }
        topics.entry(o.topic).or_default().push(
            OngoingPartitionReassignment::default()
                .with_partition_index(o.partition)
                .with_replicas(ids(o.replicas))
                .with_adding_replicas(ids(o.adding))
                .with_removing_replicas(ids(o.removing)),
        );
    }
    ListPartitionReassignmentsResponse::default().with_topics(
        topics
            .into_iter()
            .map(|(t, partitions)| {
                OngoingTopicReassignment::default()
                    .with_name(TopicName(sb(&t)))
                    .with_partitions(partitions)
            })
            .collect(),
    )
}
