//! OffsetFetch (single group, and batched on v8+): delegated to the group coordinator.

use std::sync::Arc;

use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    broker.group.offset_fetch(req, version).await
}
