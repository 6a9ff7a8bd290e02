//! Heartbeat: delegated to the group coordinator; REBALANCE_IN_PROGRESS tells a member to rejoin.
//!
//! Needs READ on the group (GROUP_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
    if !crate::authz::Authz::new(broker).group(strata_meta::acl::AclOperation::Read, &req.group_id)
    {
        return HeartbeatResponse::default()
            .with_error_code(crate::authz::GROUP_AUTHORIZATION_FAILED);
    }
    broker.group.heartbeat(req, version).await
}
