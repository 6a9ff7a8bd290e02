//! DeleteAcls: removes from cluster metadata every binding that passes each filter, and says
//! which. Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED for every filter otherwise);
//! without an authorizer every filter gets SECURITY_DISABLED, as in Kafka. A binding matched by
//! several filters is deleted once and reported under each.

use std::sync::Arc;

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use strata_meta::acl::AclOperation;
use strata_meta::Operation;

use super::acl_wire::{self, WireFilter, INVALID_REQUEST};
use super::{blocking, sb};
use crate::authz::Authz;
use crate::broker::Broker;

pub(crate) fn handle(broker: &Arc<Broker>, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let authz = Authz::new(broker);
    let results = if let Err((code, msg)) = acl_wire::gate(&authz, AclOperation::Alter) {
        req.filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(sb(msg)))
            })
            .collect()
    } else {
        let image = broker.meta();
        req.filters
            .iter()
            .map(|f| {
                let filter = match acl_wire::filter(&WireFilter {
                    resource_type: f.resource_type_filter,
                    resource_name: f.resource_name_filter.as_deref(),
                    pattern_type: f.pattern_type_filter,
                    principal: f.principal_filter.as_deref(),
                    host: f.host_filter.as_deref(),
                    operation: f.operation,
                    permission: f.permission_type,
                }) {
                    Ok(filter) => filter,
                    Err(msg) => {
                        return DeleteAclsFilterResult::default()
                            .with_error_code(INVALID_REQUEST)
                            .with_error_message(Some(sb(&msg)))
                    }
                };
                let matching = image
                    .acls
                    .iter()
                    .filter(|b| filter.matches(b))
                    .map(|b| {
                        let op = Operation::DeleteAcl(b.clone());
                        let done = blocking(|| crate::metadata_quorum::execute(broker.quorum(), op));
                        let m = DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(sb(&b.resource_name))
                            .with_pattern_type(b.pattern_type.code())
                            .with_principal(sb(&b.principal))
                            .with_host(sb(&b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code());
                        match done {
                            Ok(_) => {
                                tracing::info!(principal = authz.principal(), acl = ?b, "ACL deleted");
                                m
                            }
                            Err(e) => m
                                .with_error_code(e.kafka_error_code())
                                .with_error_message(Some(sb(&e.message))),
                        }
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_matching_acls(matching)
            })
            .collect()
    };
    DeleteAclsResponse::default().with_filter_results(results)
}
