//! ListTransactions (v0–v1): the transactional ids this broker coordinates, filtered by state
//! names and producer ids (v1: by minimum running time); unknown state names are echoed in
//! `unknown_state_filters`, as Kafka does.
//! Lists only the transactional ids the principal may DESCRIBE, as Kafka.

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::sb;
use crate::broker::Broker;

const STATES: &[&str] = &[
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let (known, unknown): (Vec<String>, Vec<String>) = req
        .state_filters
        .iter()
        .map(|s| s.to_string())
        .partition(|s| STATES.contains(&s.as_str()));
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let now = crate::broker::now_ms();
    let authz = crate::authz::Authz::new(broker);
    let min_running = if version >= 1 {
        req.duration_filter
    } else {
        -1
    };
    let states = if !unknown.is_empty() && known.is_empty() {
        Vec::new()
    } else {
        broker
            .txn
            .list(&known, &pids)
            .into_iter()
            .filter(|m| min_running < 0 || (m.start_ms >= 0 && now - m.start_ms >= min_running))
            // Only the ids the principal may describe, as Kafka.
            .filter(|m| {
                authz.visible(
                    strata_meta::acl::AclOperation::Describe,
                    strata_meta::acl::ResourceType::TransactionalId,
                    &m.transactional_id,
                )
            })
            .map(|m| {
                TransactionState::default()
                    .with_transactional_id(TransactionalId(sb(&m.transactional_id)))
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_transaction_state(sb(m.state.name()))
            })
            .collect()
    };
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.iter().map(|s| sb(s)).collect())
        .with_transaction_states(states)
}
