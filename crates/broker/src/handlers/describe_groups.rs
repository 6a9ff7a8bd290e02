//! DescribeGroups: delegated to the group coordinator. Each group needs DESCRIBE
//! (GROUP_AUTHORIZATION_FAILED otherwise), as in Kafka; with `include_authorized_operations`
//! each described group carries the principal's operations on it.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use strata_meta::acl::{AclOperation, ResourceType};

use crate::authz::{Authz, GROUP_AUTHORIZATION_FAILED};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    mut req: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let authz = Authz::new(broker);
    let with_ops = req.include_authorized_operations && version >= 3;
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups)
        .into_iter()
        .partition(|g| authz.group(AclOperation::Describe, g));
    req.groups = allowed;
    let mut resp = if req.groups.is_empty() {
        DescribeGroupsResponse::default()
    } else {
        broker.group.describe_groups(req, version).await
    };
    if with_ops && authz.enabled() {
        for g in &mut resp.groups {
            g.authorized_operations = authz.operations(ResourceType::Group)(&g.group_id);
        }
    }
    resp.groups.extend(denied.into_iter().map(|g| {
        DescribedGroup::default()
            .with_group_id(g)
            .with_error_code(GROUP_AUTHORIZATION_FAILED)
            .with_authorized_operations(i32::MIN)
    }));
    resp
}
