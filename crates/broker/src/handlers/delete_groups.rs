//! DeleteGroups: delegated to the group coordinator (empty groups only). Each group needs
//! DELETE (GROUP_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use strata_meta::acl::AclOperation;

use crate::authz::{Authz, GROUP_AUTHORIZATION_FAILED};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    mut req: DeleteGroupsRequest,
    version: i16,
) -> DeleteGroupsResponse {
    let authz = Authz::new(broker);
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups_names)
        .into_iter()
        .partition(|g| authz.group(AclOperation::Delete, g));
    req.groups_names = allowed;
    let mut resp = if req.groups_names.is_empty() {
        DeleteGroupsResponse::default()
    } else {
        broker.group.delete_groups(req, version).await
    };
    resp.results.extend(denied.into_iter().map(|g| {
        DeletableGroupResult::default()
            .with_group_id(g)
            .with_error_code(GROUP_AUTHORIZATION_FAILED)
    }));
    resp
}
