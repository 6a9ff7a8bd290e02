//! DescribeGroups: delegated to the group coordinator.

use std::sync::Arc;

use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    broker.group.describe_groups(req, version).await
}
