//! SyncGroup: delegated to the group coordinator (`strata_group`); followers park until the leader's assignment is stored.
//!
//! Needs READ on the group (GROUP_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    if !crate::authz::Authz::new(broker).group(strata_meta::acl::AclOperation::Read, &req.group_id)
    {
        return SyncGroupResponse::default()
            .with_error_code(crate::authz::GROUP_AUTHORIZATION_FAILED);
    }
    broker.group.sync_group(req, version).await
}
