//! TxnOffsetCommit: delegated to the group coordinator, which stores the offsets as a
//! transactional batch; they apply when the transaction's COMMIT marker reaches the group's
//! `__consumer_offsets` partition.

use std::sync::Arc;

use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    broker.group.txn_offset_commit(req, version).await
}
