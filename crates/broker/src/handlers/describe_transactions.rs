//! DescribeTransactions (v0): state, producer, timeout, start time and partitions of each
//! transactional id this broker coordinates; NOT_COORDINATOR for others,
//! TRANSACTIONAL_ID_NOT_FOUND for unknown ids.
//! Each id needs DESCRIBE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::sb;
use crate::broker::Broker;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let authz = crate::authz::Authz::new(broker);
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let base = TransactionState::default().with_transactional_id(id.clone());
            if !authz.txn(strata_meta::acl::AclOperation::Describe, &id) {
                return base
                    .with_error_code(crate::authz::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                    .with_transaction_state(sb(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
            }
            match broker.txn.describe(&id) {
                Ok(m) => base
                    .with_transaction_state(sb(m.state.name()))
                    .with_transaction_timeout_ms(m.timeout_ms)
                    .with_transaction_start_time_ms(m.start_ms)
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_producer_epoch(m.producer_epoch)
                    .with_topics(
                        m.topics()
                            .into_iter()
                            .map(|(t, ps)| {
                                TopicData::default()
                                    .with_topic(TopicName(sb(&t)))
                                    .with_partitions(ps)
                            })
                            .collect(),
                    ),
                Err(code) => base
                    .with_error_code(code)
                    .with_transaction_state(sb(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
