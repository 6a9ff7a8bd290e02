//! OffsetDelete: delegated to the group coordinator (topics no member subscribes to).

use std::sync::Arc;

use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: OffsetDeleteRequest,
    version: i16,
) -> OffsetDeleteResponse {
    broker.group.offset_delete(req, version).await
}
