//! EndTxn: the transaction coordinator stores the decision (PrepareCommit or PrepareAbort)
//! and answers; the markers follow in the background. Needs WRITE on the transactional id
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::blocking;
use crate::broker::Broker;

pub(crate) fn handle(broker: &Arc<Broker>, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    if !crate::authz::Authz::new(broker)
        .txn(strata_meta::acl::AclOperation::Write, &req.transactional_id)
    {
        return EndTxnResponse::default()
            .with_error_code(crate::authz::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    let fenced = strata_txn::fenced_code(version >= 2);
    let txn = broker.txn.clone();
    let code = blocking(|| {
        txn.end_txn(
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
            fenced,
        )
    });
    EndTxnResponse::default().with_error_code(code)
}
