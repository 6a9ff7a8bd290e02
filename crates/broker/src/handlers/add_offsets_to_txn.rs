//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction (the
//! transaction coordinator's), so the COMMIT or ABORT marker reaches the offsets that
//! TxnOffsetCommit writes there. Needs WRITE on the transactional id
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and READ on the group (GROUP_AUTHORIZATION_FAILED),
//! as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::blocking;
use crate::broker::Broker;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let authz = crate::authz::Authz::new(broker);
    let denied = if !authz.txn(strata_meta::acl::AclOperation::Write, &req.transactional_id) {
        Some(crate::authz::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !authz.group(strata_meta::acl::AclOperation::Read, &req.group_id) {
        Some(crate::authz::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    if let Some(code) = denied {
        return AddOffsetsToTxnResponse::default().with_error_code(code);
    }
    let fenced = strata_txn::fenced_code(version >= 2);
    let partitions = broker
        .meta()
        .topic(strata_group::OFFSETS_TOPIC)
        .map_or(broker.group.partition_count(), |t| t.partitions);
    let offsets_partition = (
        strata_group::OFFSETS_TOPIC.to_string(),
        strata_coordinator::partition_for(&req.group_id, partitions),
    );
    let txn = broker.txn.clone();
    let code = blocking(|| {
        txn.add_offsets(
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            offsets_partition,
            fenced,
        )
    });
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
