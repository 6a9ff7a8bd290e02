//! The ACL authorizer on the request path (Kafka's `authorizer.class.name`): who is asking
//! (the principal of the connection), from where, and whether cluster metadata's ACLs let them
//! (`strata_meta::acl::authorize`).
//!
//! Invariants:
//! - with no authorizer configured every check passes and nothing is looked up;
//! - the principal is `User:<name>` after SASL, the certificate subject on an SSL listener that
//!   verified a client certificate, and `User:ANONYMOUS` otherwise, as Kafka's defaults;
//! - every denial a client is told about is logged at debug level with principal, host,
//!   operation and resource, and counted in `strata_authorization_denied_total`; checks that
//!   only filter a listing (Metadata of all topics, ListGroups) are not, as in Kafka.

pub(crate) mod principal;

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_meta::acl::{self, AclOperation, AuthorizerSettings, ResourceType};
use strata_meta::MetadataState;

use crate::broker::Broker;

pub(crate) use principal::PRINCIPAL;

/// The authorizer's settings from the raw config: `Some` when `authorizer.class.name` is set to
/// any non-empty value (Strata has one authorizer; the class name is not interpreted).
pub(crate) fn settings(
    raw: &BTreeMap<String, String>,
) -> Result<Option<AuthorizerSettings>, String> {
    let on = raw
        .get("authorizer.class.name")
        .is_some_and(|v| !v.trim().is_empty());
    if !on {
        return Ok(None);
    }
    let super_users = raw
        .get("super.users")
        .map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for s in &super_users {
        if !s.contains(':') {
            return Err(format!(
                "super.users: {s:?} is not a principal (expected Type:name, e.g. User:admin; \
                 separate several with ';')"
            ));
        }
    }
    let allow_if_no_acl = match raw.get("allow.everyone.if.no.acl.found").map(|v| v.trim()) {
        None | Some("") => false,
        Some(v) => v
            .parse::<bool>()
            .map_err(|_| format!("allow.everyone.if.no.acl.found: {v:?} is not true or false"))?,
    };
    Ok(Some(AuthorizerSettings {
        super_users,
        allow_if_no_acl,
    }))
}

/// One request's authorization context.
pub(crate) struct Authz {
    settings: Option<AuthorizerSettings>,
    image: Option<Arc<MetadataState>>,
    principal: Arc<str>,
    host: String,
}

impl Authz {
    /// The context of the request being handled (its connection's principal and peer).
    pub(crate) fn new(broker: &Broker) -> Authz {
        let settings = broker.config.authorizer.clone();
        let image = settings.as_ref().map(|_| broker.meta());
        let host = crate::handlers::PEER
            .try_with(|p| p.ip().to_string())
            .unwrap_or_else(|_| "127.0.0.1".to_string());
        Authz {
            settings,
            image,
            principal: principal::current(),
            host,
        }
    }

    /// True when an authorizer is configured.
    pub(crate) fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    /// The request's principal (`User:ANONYMOUS` when nobody authenticated).
    pub(crate) fn principal(&self) -> &str {
        &self.principal
    }

    fn decide(&self, op: AclOperation, rt: ResourceType, name: &str) -> bool {
        let (Some(settings), Some(image)) = (&self.settings, &self.image) else {
            return true;
        };
        acl::authorize(
            settings,
            &image.acls,
            &acl::Access {
                principal: &self.principal,
                host: &self.host,
                operation: op,
                resource_type: rt,
                resource_name: name,
            },
        )
    }

    /// May the principal do `op` on the resource? A denial is logged and counted.
    pub(crate) fn allowed(&self, op: AclOperation, rt: ResourceType, name: &str) -> bool {
        let ok = self.decide(op, rt, name);
        if !ok {
            self.denied(op, rt, name);
        }
        ok
    }

    /// Logs a denial at debug level and counts it.
    fn denied(&self, op: AclOperation, rt: ResourceType, name: &str) {
        tracing::debug!(
            principal = %self.principal,
            host = %self.host,
            operation = ?op,
            resource_type = ?rt,
            resource = name,
            "authorization denied"
        );
        metrics::counter!(
            "strata_authorization_denied_total",
            "operation" => format!("{op:?}"),
            "resource_type" => format!("{rt:?}"),
        )
        .increment(1);
    }

    /// As [`Authz::allowed`], without logging or counting a denial: for filtering listings.
    pub(crate) fn visible(&self, op: AclOperation, rt: ResourceType, name: &str) -> bool {
        self.decide(op, rt, name)
    }

    /// `op` on a topic.
    pub(crate) fn topic(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::Topic, name)
    }

    /// `op` on a group.
    pub(crate) fn group(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::Group, name)
    }

    /// `op` on a transactional id.
    pub(crate) fn txn(&self, op: AclOperation, id: &str) -> bool {
        self.allowed(op, ResourceType::TransactionalId, id)
    }

    /// May the principal do `op` on at least one resource of type `rt` (Kafka's
    /// `authorizeByResourceType`)? A denial is logged and counted.
    pub(crate) fn any_of_type(&self, op: AclOperation, rt: ResourceType) -> bool {
        let (Some(settings), Some(image)) = (&self.settings, &self.image) else {
            return true;
        };
        let ok = acl::authorize_any(settings, &image.acls, &self.principal, &self.host, op, rt);
        if !ok {
            self.denied(op, rt, "(any)");
        }
        ok
    }

    /// `op` on the cluster.
    pub(crate) fn cluster(&self, op: AclOperation) -> bool {
        self.allowed(op, ResourceType::Cluster, acl::CLUSTER_NAME)
    }

    /// `op` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config resource (Kafka's config resource
    /// type codes: 2 topic, 4 broker, 8 broker logger): the error a denial gets, as Kafka's
    /// TOPIC_AUTHORIZATION_FAILED for topics and CLUSTER_AUTHORIZATION_FAILED for the rest.
    pub(crate) fn config_resource(
        &self,
        op: AclOperation,
        resource_type: i8,
        name: &str,
    ) -> Option<(i16, String)> {
        if resource_type == 2 {
            (!self.topic(op, name)).then(|| {
                (
                    TOPIC_AUTHORIZATION_FAILED,
                    format!("Topic authorization failed for {name}."),
                )
            })
        } else {
            (!self.cluster(op)).then(|| {
                (
                    CLUSTER_AUTHORIZATION_FAILED,
                    "Cluster authorization failed.".to_string(),
                )
            })
        }
    }

    /// Kafka's authorized-operations bit field (KIP-430) of a resource: bit `code` set for each
    /// operation the principal may do. Without an authorizer Kafka answers every operation the
    /// type supports.
    pub(crate) fn operations(&self, rt: ResourceType) -> impl Fn(&str) -> i32 + '_ {
        move |name: &str| {
            let mut bits = 0i32;
            for code in 3..=12i8 {
                let Some(op) = AclOperation::from_code(code) else {
                    continue;
                };
                if op.supported_on(rt) && self.decide(op, rt, name) {
                    bits |= 1 << code;
                }
            }
            bits
        }
    }
}

/// TOPIC_AUTHORIZATION_FAILED.
pub(crate) const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// GROUP_AUTHORIZATION_FAILED.
pub(crate) const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// CLUSTER_AUTHORIZATION_FAILED.
pub(crate) const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
pub(crate) const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

#[cfg(test)]
mod tests;
