//! AddPartitionsToTxn: v0–v3 from producers (one transaction), v4 batched between brokers
//! (several transactions; `verify_only` checks that partitions are already in the
//! transaction, KIP-890). Delegated to the transaction coordinator; per-partition errors as
//! Kafka: a partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION and the others of the
//! request OPERATION_NOT_ATTEMPTED.
//!
//! Authorization, as Kafka: from producers (v0–v3) WRITE on the transactional id (every
//! partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on each topic (its partitions
//! TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED, nothing added); between
//! brokers (v4) CLUSTER_ACTION on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId,
};

use super::{blocking, sb};
use crate::broker::Broker;

/// `(topic, partition)` pairs of a request's topics.
fn partitions(
    topics: &[kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic],
) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), *p)))
        .collect()
}

/// Per-topic results in request order.
fn results(parts: &[(String, i32)], codes: &[i16]) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, p), code) in parts.iter().zip(codes) {
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(*p)
            .with_partition_error_code(*code);
        match out.last_mut() {
            Some(t) if t.name.as_str() == topic => t.results_by_partition.push(r),
            _ => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(sb(topic)))
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    out
}

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let fenced = strata_txn::fenced_code(version >= 2);
    let txn = broker.txn.clone();
    let authz = crate::authz::Authz::new(broker);
    if version <= 3 {
        let parts = partitions(&req.v3_and_below_topics);
        if let Some(codes) = refused(&authz, &req.v3_and_below_transactional_id, &parts) {
            return AddPartitionsToTxnResponse::default()
                .with_results_by_topic_v3_and_below(results(&parts, &codes));
        }
        let codes = blocking(|| {
            txn.add_partitions(
                &req.v3_and_below_transactional_id,
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
                &parts,
                fenced,
            )
        });
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(results(&parts, &codes));
    }
    if !authz.cluster(strata_meta::acl::AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(crate::authz::CLUSTER_AUTHORIZATION_FAILED);
    }
    let transactions = req
        .transactions
        .iter()
        .map(|t| {
            let parts = partitions(&t.topics);
            let codes = if t.verify_only {
                verify(
                    broker,
                    &t.transactional_id,
                    t.producer_id.0,
                    t.producer_epoch,
                    &parts,
                )
            } else {
                blocking(|| {
                    txn.add_partitions(
                        &t.transactional_id,
                        t.producer_id.0,
                        t.producer_epoch,
                        &parts,
                        fenced,
                    )
                })
            };
            AddPartitionsToTxnResult::default()
                .with_transactional_id(TransactionalId(sb(&t.transactional_id)))
                .with_topic_results(results(&parts, &codes))
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(transactions)
}

/// The per-partition codes of a producer's request that is not authorized, `None` if it is.
fn refused(authz: &crate::authz::Authz, id: &str, parts: &[(String, i32)]) -> Option<Vec<i16>> {
    use strata_meta::acl::AclOperation;
    if !authz.txn(AclOperation::Write, id) {
        return Some(vec![
            crate::authz::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            parts.len()
        ]);
    }
    let mut denied = std::collections::HashMap::new();
    for (topic, _) in parts {
        if !denied.contains_key(topic) {
            denied.insert(topic.clone(), !authz.topic(AclOperation::Write, topic));
        }
    }
    if !denied.values().any(|d| *d) {
        return None;
    }
    Some(
        parts
            .iter()
            .map(|(t, _)| {
                if denied[t] {
                    crate::authz::TOPIC_AUTHORIZATION_FAILED
                } else {
                    strata_txn::codes::OPERATION_NOT_ATTEMPTED
                }
            })
            .collect(),
    )
}

/// `verify_only`: NONE for partitions already in the producer's open transaction,
/// INVALID_TXN_STATE otherwise (or the coordinator's error for all).
fn verify(
    broker: &Arc<Broker>,
    id: &str,
    producer_id: i64,
    epoch: i16,
    parts: &[(String, i32)],
) -> Vec<i16> {
    match broker.txn.describe(id) {
        Ok(m) if m.producer_id == producer_id && m.producer_epoch == epoch => parts
            .iter()
            .map(|tp| {
                if m.state == strata_txn::TxnState::Ongoing && m.partitions.contains(tp) {
                    0
                } else {
                    strata_txn::codes::INVALID_TXN_STATE
                }
            })
            .collect(),
        Ok(_) => vec![strata_txn::codes::INVALID_PRODUCER_ID_MAPPING; parts.len()],
        Err(code) => vec![code; parts.len()],
    }
}
