//! OffsetCommit: delegated to the group coordinator, which answers after the offsets are fsynced to `__consumer_offsets`.

use std::sync::Arc;

use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    broker.group.offset_commit(req, version).await
}
