//! Kafka's wire form of ACL bindings and filters (CreateAcls, DescribeAcls, DeleteAcls), to
//! and from `strata_meta::acl`.
//!
//! Invariant: a filter or binding with an UNKNOWN (or otherwise invalid) code is refused with
//! INVALID_REQUEST and a message naming the field, never read as "any".

use strata_meta::acl::{
    self, AclBinding, AclFilter, AclOperation, AclPermission, PatternFilter, PatternType,
    ResourceType,
};

/// INVALID_REQUEST.
pub(crate) const INVALID_REQUEST: i16 = 42;
/// SECURITY_DISABLED: no authorizer is configured.
pub(crate) const SECURITY_DISABLED: i16 = 54;
/// The message SECURITY_DISABLED carries.
pub(crate) const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

/// Whether the ACL APIs may be used: SECURITY_DISABLED without an authorizer, else
/// CLUSTER_AUTHORIZATION_FAILED unless the principal may do `op` on the cluster.
pub(crate) fn gate(
    authz: &crate::authz::Authz,
    op: strata_meta::acl::AclOperation,
) -> Result<(), (i16, &'static str)> {
    if !authz.enabled() {
        Err((SECURITY_DISABLED, NO_AUTHORIZER))
    } else if !authz.cluster(op) {
        Err((
            crate::authz::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        ))
    } else {
        Ok(())
    }
}

/// The codes of a filter as sent.
pub(crate) struct WireFilter<'a> {
    pub(crate) resource_type: i8,
    pub(crate) resource_name: Option<&'a str>,
    pub(crate) pattern_type: i8,
    pub(crate) principal: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) operation: i8,
    pub(crate) permission: i8,
}

fn any_or<T>(code: i8, what: &str, from: impl Fn(i8) -> Option<T>) -> Result<Option<T>, String> {
    if code == acl::ANY {
        return Ok(None);
    }
    from(code)
        .map(Some)
        .ok_or_else(|| format!("invalid {what} {code} in the ACL filter"))
}

/// The filter a request describes, or why it is invalid.
pub(crate) fn filter(w: &WireFilter<'_>) -> Result<AclFilter, String> {
    Ok(AclFilter {
        resource_type: any_or(w.resource_type, "resource type", ResourceType::from_code)?,
        resource_name: w.resource_name.map(String::from),
        pattern: PatternFilter::from_code(w.pattern_type)
            .ok_or_else(|| format!("invalid pattern type {} in the ACL filter", w.pattern_type))?,
        principal: w.principal.map(String::from),
        host: w.host.map(String::from),
        operation: any_or(w.operation, "operation", AclOperation::from_code)?,
        permission: any_or(w.permission, "permission type", AclPermission::from_code)?,
    })
}

/// The binding a CreateAcls entry describes, or why it is invalid.
#[allow(clippy::too_many_arguments)]
pub(crate) fn binding(
    resource_type: i8,
    resource_name: &str,
    pattern_type: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission: i8,
) -> Result<AclBinding, String> {
    let code = |what: &str, c: i8| format!("invalid {what} {c} in the ACL binding");
    let b = AclBinding {
        resource_type: ResourceType::from_code(resource_type)
            .ok_or_else(|| code("resource type", resource_type))?,
        resource_name: resource_name.to_string(),
        pattern_type: PatternType::from_code(pattern_type)
            .ok_or_else(|| code("pattern type", pattern_type))?,
        principal: principal.to_string(),
        host: host.to_string(),
        operation: AclOperation::from_code(operation)
            .ok_or_else(|| code("operation", operation))?,
        permission: AclPermission::from_code(permission)
            .ok_or_else(|| code("permission type", permission))?,
    };
    acl::validate(&b).map_err(|e| e.message)?;
    Ok(b)
}
