//! TxnOffsetCommit: delegated to the group coordinator, which stores the offsets as a
//! transactional batch; they apply when the transaction's COMMIT marker reaches the group's
//! `__consumer_offsets` partition.
//!
//! Authorization, as Kafka: WRITE on the transactional id
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition), READ on the group
//! (GROUP_AUTHORIZATION_FAILED for every partition), then READ on each topic (its partitions
//! TOPIC_AUTHORIZATION_FAILED, the rest committed).

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use strata_meta::acl::AclOperation;

use crate::authz::{
    Authz, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    mut req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let authz = Authz::new(broker);
    let whole = if !authz.txn(AclOperation::Write, &req.transactional_id) {
        Some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !authz.group(AclOperation::Read, &req.group_id) {
        Some(GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| whole.is_none() && authz.topic(AclOperation::Read, &t.name));
    let code = whole.unwrap_or(TOPIC_AUTHORIZATION_FAILED);
    let refused: Vec<_> = denied
        .into_iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    if whole.is_some() {
        return TxnOffsetCommitResponse::default().with_topics(refused);
    }
    req.topics = allowed;
    let mut resp = broker.group.txn_offset_commit(req, version).await;
    resp.topics.extend(refused);
    resp
}
