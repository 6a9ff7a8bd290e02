//! DescribeAcls: the bindings in cluster metadata that pass the request's filter, grouped by
//! resource pattern. Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise);
//! without an authorizer the answer is SECURITY_DISABLED, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use strata_meta::acl::AclOperation;

use super::acl_wire::{self, WireFilter, INVALID_REQUEST};
use super::sb;
use crate::authz::Authz;
use crate::broker::Broker;

pub(crate) fn handle(broker: &Arc<Broker>, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let authz = Authz::new(broker);
    let fail = |code: i16, msg: &str| {
        DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(sb(msg)))
    };
    if let Err((code, msg)) = acl_wire::gate(&authz, AclOperation::Describe) {
        return fail(code, msg);
    }
    let filter = match acl_wire::filter(&WireFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.as_deref(),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.as_deref(),
        host: req.host_filter.as_deref(),
        operation: req.operation,
        permission: req.permission_type,
    }) {
        Ok(f) => f,
        Err(msg) => return fail(INVALID_REQUEST, &msg),
    };
    let image = broker.meta();
    let mut by_pattern: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in image.acls.iter().filter(|b| filter.matches(b)) {
        by_pattern
            .entry((
                b.resource_type.code(),
                b.resource_name.clone(),
                b.pattern_type.code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(sb(&b.principal))
                    .with_host(sb(&b.host))
                    .with_operation(b.operation.code())
                    .with_permission_type(b.permission.code()),
            );
    }
    let resources = by_pattern
        .into_iter()
        .map(|((t, name, p), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(t)
                .with_resource_name(sb(&name))
                .with_pattern_type(p)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}
