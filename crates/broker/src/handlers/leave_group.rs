//! LeaveGroup (single and batch forms): delegated to the group coordinator.
//!
//! Needs READ on the group (GROUP_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if !crate::authz::Authz::new(broker).group(strata_meta::acl::AclOperation::Read, &req.group_id)
    {
        return LeaveGroupResponse::default()
            .with_error_code(crate::authz::GROUP_AUTHORIZATION_FAILED);
    }
    broker.group.leave_group(req, version).await
}
