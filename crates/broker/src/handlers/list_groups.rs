//! ListGroups: delegated to the group coordinator.

use std::sync::Arc;

use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    broker.group.list_groups(req, version).await
}
