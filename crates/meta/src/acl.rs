//! Access-control lists as Kafka defines them (KIP-11, KIP-290): an [`AclBinding`] grants or
//! denies one principal, from one host, one operation on a resource pattern. Bindings live in
//! cluster metadata; this module validates new ones, matches filters (DescribeAcls,
//! DeleteAcls) and decides whether a request may go ahead ([`authorize`]).
//!
//! Invariants:
//! - only valid bindings are stored: a concrete resource type, LITERAL or PREFIXED pattern, a
//!   concrete operation the resource type supports, ALLOW or DENY, a `Type:name` principal, a
//!   non-empty resource name (`kafka-cluster` for CLUSTER) and a host;
//! - the numeric codes are Kafka's (`AclOperation`, `ResourceType`, `PatternType`,
//!   `AclPermissionType`), so a binding read back is the binding written;
//! - [`authorize`] is Kafka's `StandardAuthorizer`: super users pass; with no binding on the
//!   resource at all the answer is `allow.everyone.if.no.acl.found`; a matching DENY wins over
//!   any ALLOW; DESCRIBE is implied by READ, WRITE, DELETE and ALTER, DESCRIBE_CONFIGS by
//!   ALTER_CONFIGS, and ALL covers every operation.

use serde::{Deserialize, Serialize};

use crate::error::{MetaError, MetaErrorKind};

/// The only name the CLUSTER resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The literal resource name and principal that match any.
pub const WILDCARD: &str = "*";
/// The principal matching any user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

macro_rules! coded {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:expr,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Kafka's code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// From Kafka's code; `None` for UNKNOWN, ANY and codes not listed.
            pub fn from_code(code: i8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

coded!(
    /// A resource type (Kafka's `ResourceType`).
    ResourceType {
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster (`kafka-cluster`).
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
    }
);

coded!(
    /// How a binding's resource name matches (Kafka's `PatternType`).
    PatternType {
        /// The exact name (or `*`, every resource of the type).
        Literal = 3,
        /// Every name that starts with it.
        Prefixed = 4,
    }
);

coded!(
    /// An operation (Kafka's `AclOperation`).
    AclOperation {
        /// Every operation.
        All = 2,
        /// Read.
        Read = 3,
        /// Write.
        Write = 4,
        /// Create.
        Create = 5,
        /// Delete.
        Delete = 6,
        /// Alter.
        Alter = 7,
        /// Describe.
        Describe = 8,
        /// Inter-broker actions.
        ClusterAction = 9,
        /// Describe configs.
        DescribeConfigs = 10,
        /// Alter configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
    }
);

coded!(
    /// ALLOW or DENY (Kafka's `AclPermissionType`).
    AclPermission {
        /// Deny.
        Deny = 2,
        /// Allow.
        Allow = 3,
    }
);

/// Kafka's code for ANY in every filter enum.
pub const ANY: i8 = 1;
/// Kafka's PatternType MATCH (filters only).
pub const MATCH: i8 = 2;

/// One access-control entry on one resource pattern.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    /// Resource type.
    pub resource_type: ResourceType,
    /// Resource name (or prefix, or `*`).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`, or `User:*`.
    pub principal: String,
    /// Client host (IP address), or `*`.
    pub host: String,
    /// Operation.
    pub operation: AclOperation,
    /// ALLOW or DENY.
    pub permission: AclPermission,
}

impl AclOperation {
    /// The operations Kafka accepts on a resource type (ALL is accepted on every type).
    pub fn supported_on(self, t: ResourceType) -> bool {
        use AclOperation::*;
        if self == All {
            return true;
        }
        match t {
            ResourceType::Topic => matches!(
                self,
                Read | Write | Create | Describe | Delete | Alter | DescribeConfigs | AlterConfigs
            ),
            ResourceType::Group => matches!(self, Read | Describe | Delete),
            ResourceType::Cluster => matches!(
                self,
                Create
                    | ClusterAction
                    | DescribeConfigs
                    | AlterConfigs
                    | IdempotentWrite
                    | Alter
                    | Describe
            ),
            ResourceType::TransactionalId => matches!(self, Describe | Write),
        }
    }

    /// True when an ALLOW on `self` allows `wanted` (itself, ALL, or Kafka's implications).
    fn allows(self, wanted: AclOperation) -> bool {
        use AclOperation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }
}

/// Validates a binding before it is stored (see the module docs).
pub fn validate(b: &AclBinding) -> Result<(), MetaError> {
    let invalid = |msg: String| Err(MetaError::new(MetaErrorKind::InvalidRequest, msg));
    if b.resource_name.is_empty() {
        return invalid("the resource name may not be empty".into());
    }
    if b.resource_type == ResourceType::Cluster && b.resource_name != CLUSTER_NAME {
        return invalid(format!(
            "the only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    match b.principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
        _ => return invalid(format!("could not parse principal {:?}", b.principal)),
    }
    if b.host.is_empty() {
        return invalid("the host may not be empty (use * for any host)".into());
    }
    if !b.operation.supported_on(b.resource_type) {
        return invalid(format!(
            "operation {:?} is not valid for resource type {:?}",
            b.operation, b.resource_type
        ));
    }
    Ok(())
}

/// A filter over bindings (DescribeAcls, DeleteAcls), with Kafka's ANY and MATCH semantics.
/// `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// Resource type (`None`: ANY).
    pub resource_type: Option<ResourceType>,
    /// Resource name (`None`: any).
    pub resource_name: Option<String>,
    /// Pattern filter.
    pub pattern: PatternFilter,
    /// Principal (`None`: any).
    pub principal: Option<String>,
    /// Host (`None`: any).
    pub host: Option<String>,
    /// Operation (`None`: ANY).
    pub operation: Option<AclOperation>,
    /// Permission (`None`: ANY).
    pub permission: Option<AclPermission>,
}

/// How a filter's resource name matches bindings' patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Any pattern type whose name equals the filter's.
    Any,
    /// Every binding that would apply to a resource of the filter's name: the LITERAL name,
    /// the LITERAL `*`, and the PREFIXED prefixes of it.
    Match,
    /// Only this pattern type.
    Exactly(PatternType),
}

impl PatternFilter {
    /// From Kafka's PatternType code; `None` for UNKNOWN and codes not listed.
    pub fn from_code(code: i8) -> Option<PatternFilter> {
        match code {
            ANY => Some(PatternFilter::Any),
            MATCH => Some(PatternFilter::Match),
            c => PatternType::from_code(c).map(PatternFilter::Exactly),
        }
    }
}

impl AclFilter {
    /// True when `b` passes the filter.
    pub fn matches(&self, b: &AclBinding) -> bool {
        if self.resource_type.is_some_and(|t| t != b.resource_type) {
            return false;
        }
        let name_ok = match (&self.resource_name, self.pattern) {
            (None, PatternFilter::Exactly(p)) => p == b.pattern_type,
            (None, _) => true,
            (Some(n), PatternFilter::Any) => *n == b.resource_name,
            (Some(n), PatternFilter::Exactly(p)) => p == b.pattern_type && *n == b.resource_name,
            (Some(n), PatternFilter::Match) => pattern_covers(b, n),
        };
        name_ok
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && self.operation.is_none_or(|o| o == b.operation)
            && self.permission.is_none_or(|p| p == b.permission)
    }
}

/// True when the binding's pattern covers the resource named `name`.
fn pattern_covers(b: &AclBinding, name: &str) -> bool {
    match b.pattern_type {
        PatternType::Literal => b.resource_name == name || b.resource_name == WILDCARD,
        PatternType::Prefixed => name.starts_with(&b.resource_name),
    }
}

/// The authorizer's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// `super.users`: principals that bypass every check.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

/// One question to the authorizer.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// `Type:name`.
    pub principal: &'a str,
    /// The client's IP address.
    pub host: &'a str,
    /// What it wants to do.
    pub operation: AclOperation,
    /// To what.
    pub resource_type: ResourceType,
    /// Named what.
    pub resource_name: &'a str,
}

/// Kafka's authorization decision for `access` under `bindings` (see the module docs).
pub fn authorize<'b>(
    settings: &AuthorizerSettings,
    bindings: impl IntoIterator<Item = &'b AclBinding>,
    access: &Access<'_>,
) -> bool {
    if settings.super_users.iter().any(|s| s == access.principal) {
        return true;
    }
    let mut any_on_resource = false;
    let mut allowed = false;
    for b in bindings {
        if b.resource_type != access.resource_type || !pattern_covers(b, access.resource_name) {
            continue;
        }
        any_on_resource = true;
        let who = b.principal == access.principal || b.principal == WILDCARD_PRINCIPAL;
        let from = b.host == access.host || b.host == WILDCARD;
        if !who || !from {
            continue;
        }
        match b.permission {
            AclPermission::Deny => {
                if b.operation == AclOperation::All || b.operation == access.operation {
                    return false;
                }
            }
            AclPermission::Allow => allowed |= b.operation.allows(access.operation),
        }
    }
    if !any_on_resource {
        return settings.allow_if_no_acl;
    }
    allowed
}

/// Kafka's `authorizeByResourceType` (KIP-679): may the principal do `op` on at least one
/// resource of type `rt`? True for super users; with no binding on the type at all, the
/// answer is `allow.everyone.if.no.acl.found`; otherwise there must be an ALLOW for the
/// principal whose pattern no DENY for it covers (a DENY of LITERAL `*` covers every pattern, a
/// DENY PREFIXED `p` every pattern whose name starts with `p`, a LITERAL DENY its own name).
pub fn authorize_any<'b>(
    settings: &AuthorizerSettings,
    bindings: impl IntoIterator<Item = &'b AclBinding> + Clone,
    principal: &str,
    host: &str,
    op: AclOperation,
    rt: ResourceType,
) -> bool {
    if settings.super_users.iter().any(|s| s == principal) {
        return true;
    }
    let applies = |b: &AclBinding| {
        b.resource_type == rt
            && (b.principal == principal || b.principal == WILDCARD_PRINCIPAL)
            && (b.host == host || b.host == WILDCARD)
    };
    if !bindings.clone().into_iter().any(|b| b.resource_type == rt) {
        return settings.allow_if_no_acl;
    }
    let denies: Vec<&AclBinding> = bindings
        .clone()
        .into_iter()
        .filter(|b| {
            applies(b)
                && b.permission == AclPermission::Deny
                && (b.operation == AclOperation::All || b.operation == op)
        })
        .collect();
    let covered = |allow: &AclBinding| {
        denies.iter().any(|d| match d.pattern_type {
            PatternType::Literal => {
                d.resource_name == WILDCARD
                    || (allow.pattern_type == PatternType::Literal
                        && allow.resource_name == d.resource_name)
            }
            PatternType::Prefixed => allow.resource_name.starts_with(&d.resource_name),
        })
    };
    bindings.into_iter().any(|b| {
        applies(b) && b.permission == AclPermission::Allow && b.operation.allows(op) && !covered(b)
    })
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
