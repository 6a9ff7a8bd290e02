//! DeleteGroups: delegated to the group coordinator (empty groups only).

use std::sync::Arc;

use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: DeleteGroupsRequest,
    version: i16,
) -> DeleteGroupsResponse {
    broker.group.delete_groups(req, version).await
}
