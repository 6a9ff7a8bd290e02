//! CreateAcls: stores access-control bindings in cluster metadata. Needs ALTER on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED for every entry otherwise); without an authorizer every entry
//! gets SECURITY_DISABLED, as in Kafka. Each entry succeeds or fails alone; creating a binding
//! that exists succeeds and changes nothing.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use strata_meta::acl::AclOperation;
use strata_meta::Operation;

use super::acl_wire::{self, INVALID_REQUEST};
use super::{blocking, sb};
use crate::authz::Authz;
use crate::broker::Broker;

pub(crate) fn handle(broker: &Arc<Broker>, req: CreateAclsRequest) -> CreateAclsResponse {
    let authz = Authz::new(broker);
    let results = if let Err((code, msg)) = acl_wire::gate(&authz, AclOperation::Alter) {
        req.creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(sb(msg)))
            })
            .collect()
    } else {
        req.creations
            .iter()
            .map(|c| {
                let binding = acl_wire::binding(
                    c.resource_type,
                    &c.resource_name,
                    c.resource_pattern_type,
                    &c.principal,
                    &c.host,
                    c.operation,
                    c.permission_type,
                );
                let outcome = binding.map_err(|m| (INVALID_REQUEST, m)).and_then(|b| {
                    let op = Operation::CreateAcl(b.clone());
                    blocking(|| crate::metadata_quorum::execute(broker.quorum(), op))
                        .map_err(|e| (e.kafka_error_code(), e.message))?;
                    tracing::info!(principal = authz.principal(), acl = ?b, "ACL created");
                    Ok(())
                });
                match outcome {
                    Ok(()) => AclCreationResult::default(),
                    Err((code, msg)) => AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(sb(&msg))),
                }
            })
            .collect()
    };
    CreateAclsResponse::default().with_results(results)
}
