//! JoinGroup: delegated to the group coordinator, which may park the request until the join
//! phase completes. The client id comes from the request header and the client host (shown by
//! DescribeGroups as Kafka does, `/127.0.0.1`) from the connection's peer address.
//!
//! Needs READ on the group (GROUP_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
) -> JoinGroupResponse {
    if !crate::authz::Authz::new(broker).group(strata_meta::acl::AclOperation::Read, &req.group_id)
    {
        return JoinGroupResponse::default()
            .with_error_code(crate::authz::GROUP_AUTHORIZATION_FAILED)
            .with_generation_id(-1)
            .with_member_id(req.member_id);
    }
    let host = super::PEER
        .try_with(|peer| format!("/{}", peer.ip()))
        .unwrap_or_else(|_| String::from("/unknown"));
    broker
        .group
        .join_group(req, version, client_id, &host)
        .await
}
