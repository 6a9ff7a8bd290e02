//! AlterPartitionReassignments (KIP-455): moves partitions to new replica sets through the
//! quorum, one `Operation::ReassignPartition` per partition (planned by
//! `strata_meta::reassign`). A list of replicas starts (or replaces) a reassignment; null
//! cancels one. Results per partition as Kafka gives them: 0 (accepted — the move goes on in
//! the background and completes once every target replica is in the ISR),
//! UNKNOWN_TOPIC_OR_PARTITION (3), INVALID_REPLICA_ASSIGNMENT (39: an empty list, a broker
//! named twice, an unregistered broker, or a cancel that would need an unclean election),
//! NO_REASSIGNMENT_IN_PROGRESS (85: cancelling nothing), REQUEST_TIMED_OUT (7: no quorum).
//!
//! v1 (KIP-860): with `allow_replication_factor_change` false, a target whose size differs from
//! the partition's replication factor (the ongoing reassignment's target size, if one is in
//! progress) is INVALID_REPLICATION_FACTOR (38) and nothing changes; the flag is echoed.
//!
//! A target that would give a broker more than `max.broker.partitions` replicas of user topics
//! (counting the partitions this request has already added to it) is POLICY_VIOLATION (44),
//! as CreateTopics and CreatePartitions are; the setting is taken as the cluster's (every
//! broker is expected to run with the same value).

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
    let allow_rf_change = req.allow_replication_factor_change;
    // Replicas this request has added to each broker so far.
    let mut added: std::collections::BTreeMap<i32, i64> = Default::default();
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = t.name.0.to_string();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let replicas: Option<Vec<i32>> =
                p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
            let cancel = replicas.is_none();
            let result =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            if let (false, Some(target)) = (allow_rf_change, &replicas) {
                if let Some(current) = replication_factor(broker, &topic, p.partition_index) {
                    if current != target.len() {
                        partitions.push(
                            result
                                .with_error_code(INVALID_REPLICATION_FACTOR)
                                .with_error_message(Some(sb(&format!(
                                    "The replication factor is changed from {current} to {} but \
                                     allowReplicationFactorChange is false",
                                    target.len()
                                )))),
                        );
                        continue;
                    }
                }
            }
            if let Some(target) = &replicas {
                if let Err(msg) =
                    within_partition_limit(broker, &topic, p.partition_index, target, &added)
                {
                    partitions.push(
                        result
                            .with_error_code(POLICY_VIOLATION)
                            .with_error_message(Some(sb(&msg))),
                    );
                    continue;
                }
            }
            let op = Operation::ReassignPartition {
                topic: topic.clone(),
                partition: p.partition_index,
                replicas: replicas.clone(),
            };
            partitions.push(match broker.quorum().execute(op).await {
                Ok(_) => {
                    if let Some(target) = &replicas {
                        for b in new_replicas(broker, &topic, p.partition_index, target) {
                            *added.entry(b).or_default() += 1;
                        }
                    }
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
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses)
}

/// POLICY_VIOLATION.
const POLICY_VIOLATION: i16 = 44;

/// The brokers of `target` that do not hold a replica of the partition now.
fn new_replicas(broker: &Broker, topic: &str, partition: i32, target: &[i32]) -> Vec<i32> {
    let image = broker.meta();
    let Some(t) = image.topic(topic) else {
        return Vec::new();
    };
    if strata_meta::is_internal_topic(topic) || !(0..t.partitions).contains(&partition) {
        return Vec::new();
    }
    let now = image.replicas(t, partition);
    target
        .iter()
        .copied()
        .filter(|b| !now.contains(b))
        .collect()
}

/// Refuses a target that would take a broker past `max.broker.partitions`.
fn within_partition_limit(
    broker: &Broker,
    topic: &str,
    partition: i32,
    target: &[i32],
    added: &std::collections::BTreeMap<i32, i64>,
) -> Result<(), String> {
    let limit = broker.config.max_broker_partitions;
    let image = broker.meta();
    for b in new_replicas(broker, topic, partition, target) {
        let hosted = image.partitions_on(b) + added.get(&b).copied().unwrap_or(0);
        if hosted + 1 > limit {
            return Err(format!(
                "adding a replica to broker {b} would exceed max.broker.partitions={limit} (it \
                 hosts {hosted})"
            ));
        }
    }
    Ok(())
}

/// INVALID_REPLICATION_FACTOR.
const INVALID_REPLICATION_FACTOR: i16 = 38;

/// The replication factor a reassignment of the partition is compared with: the ongoing
/// reassignment's target size, else the replica count; `None` for an unknown partition (the
/// quorum then answers UNKNOWN_TOPIC_OR_PARTITION).
fn replication_factor(broker: &Broker, topic: &str, partition: i32) -> Option<usize> {
    let image = broker.meta();
    let t = image.topic(topic)?;
    if !(0..t.partitions).contains(&partition) {
        return None;
    }
    Some(match image.reassignment(t, partition) {
        Some(r) => r.target.len(),
        None => image.replicas(t, partition).len(),
    })
}
