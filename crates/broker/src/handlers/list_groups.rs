//! ListGroups: delegated to the group coordinator. As in Kafka, DESCRIBE on the cluster lists
//! every group; otherwise only the groups the principal may DESCRIBE are listed (the others
//! are left out, not refused).

use std::sync::Arc;

use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};
use strata_meta::acl::{AclOperation, ResourceType, CLUSTER_NAME};

use crate::authz::Authz;
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let authz = Authz::new(broker);
    let mut resp = broker.group.list_groups(req, version).await;
    if authz.enabled()
        && !authz.visible(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME)
    {
        resp.groups
            .retain(|g| authz.visible(AclOperation::Describe, ResourceType::Group, &g.group_id));
    }
    resp
}
