//! LeaveGroup (single and batch forms): delegated to the group coordinator.

use std::sync::Arc;

use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    broker.group.leave_group(req, version).await
}
