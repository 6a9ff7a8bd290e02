use super::*;

fn binding(
    t: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    op: AclOperation,
    perm: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type: t,
        resource_name: name.into(),
        pattern_type: pattern,
        principal: principal.into(),
        host: "*".into(),
        operation: op,
        permission: perm,
    }
}

fn allow_topic(name: &str, pattern: PatternType, principal: &str, op: AclOperation) -> AclBinding {
    binding(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        op,
        AclPermission::Allow,
    )
}

fn ask<'a>(principal: &'a str, op: AclOperation, name: &'a str) -> Access<'a> {
    Access {
        principal,
        host: "127.0.0.1",
        operation: op,
        resource_type: ResourceType::Topic,
        resource_name: name,
    }
}

#[test]
fn no_binding_on_the_resource_follows_allow_everyone_if_no_acl_found() {
    let strict = AuthorizerSettings::default();
    let open = AuthorizerSettings {
        allow_if_no_acl: true,
        ..Default::default()
    };
    let none: Vec<AclBinding> = Vec::new();
    assert!(!authorize(
        &strict,
        &none,
        &ask("User:a", AclOperation::Read, "t")
    ));
    assert!(authorize(
        &open,
        &none,
        &ask("User:a", AclOperation::Read, "t")
    ));
    // A binding on the resource for someone else: no longer "no ACL found".
    let other = vec![allow_topic(
        "t",
        PatternType::Literal,
        "User:b",
        AclOperation::Read,
    )];
    assert!(!authorize(
        &open,
        &other,
        &ask("User:a", AclOperation::Read, "t")
    ));
    assert!(authorize(
        &open,
        &other,
        &ask("User:a", AclOperation::Read, "u")
    ));
}

#[test]
fn deny_wins_and_implied_operations_follow_kafka() {
    let s = AuthorizerSettings::default();
    let mut acls = vec![allow_topic(
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::Write,
    )];
    assert!(authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Write, "t")
    ));
    assert!(authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Describe, "t")
    ));
    assert!(!authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Read, "t")
    ));
    assert!(!authorize(
        &s,
        &acls,
        &ask("User:b", AclOperation::Write, "t")
    ));
    acls.push(binding(
        ResourceType::Topic,
        "*",
        PatternType::Literal,
        "User:*",
        AclOperation::Write,
        AclPermission::Deny,
    ));
    assert!(!authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Write, "t")
    ));
    // A DENY of WRITE does not deny the DESCRIBE another ALLOW implies.
    acls.push(allow_topic(
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::Read,
    ));
    assert!(authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Describe, "t")
    ));
    // ALL covers everything, and a DENY of ALL denies everything.
    let all = vec![allow_topic(
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::All,
    )];
    assert!(authorize(
        &s,
        &all,
        &ask("User:a", AclOperation::Delete, "t")
    ));
    let mut denied = all.clone();
    denied.push(binding(
        ResourceType::Topic,
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::All,
        AclPermission::Deny,
    ));
    assert!(!authorize(
        &s,
        &denied,
        &ask("User:a", AclOperation::Describe, "t")
    ));
    // ALTER_CONFIGS implies DESCRIBE_CONFIGS, not DESCRIBE.
    let cfg = vec![allow_topic(
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::AlterConfigs,
    )];
    assert!(authorize(
        &s,
        &cfg,
        &ask("User:a", AclOperation::DescribeConfigs, "t")
    ));
    assert!(!authorize(
        &s,
        &cfg,
        &ask("User:a", AclOperation::Describe, "t")
    ));
}

#[test]
fn prefixed_patterns_cover_their_prefix_only_and_super_users_bypass() {
    let s = AuthorizerSettings {
        super_users: vec!["User:admin".into()],
        ..Default::default()
    };
    let acls = vec![allow_topic(
        "orders-",
        PatternType::Prefixed,
        "User:a",
        AclOperation::Read,
    )];
    assert!(authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Read, "orders-eu")
    ));
    assert!(authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Read, "orders-")
    ));
    assert!(!authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Read, "orders")
    ));
    assert!(!authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Read, "xorders-eu")
    ));
    assert!(authorize(
        &s,
        &acls,
        &ask("User:admin", AclOperation::Delete, "any")
    ));
    // Host-specific bindings apply only from that host.
    let mut from_host = allow_topic("h", PatternType::Literal, "User:a", AclOperation::Read);
    from_host.host = "10.0.0.1".into();
    let acls = vec![from_host];
    assert!(!authorize(
        &s,
        &acls,
        &ask("User:a", AclOperation::Read, "h")
    ));
    let mut remote = ask("User:a", AclOperation::Read, "h");
    remote.host = "10.0.0.1";
    assert!(authorize(&s, &acls, &remote));
}

#[test]
fn filters_follow_kafka_any_and_match() {
    let lit = allow_topic("orders", PatternType::Literal, "User:a", AclOperation::Read);
    let star = allow_topic("*", PatternType::Literal, "User:b", AclOperation::Write);
    let pre = allow_topic("ord", PatternType::Prefixed, "User:c", AclOperation::Read);
    let group = binding(
        ResourceType::Group,
        "orders",
        PatternType::Literal,
        "User:a",
        AclOperation::Read,
        AclPermission::Allow,
    );
    let all = [lit.clone(), star.clone(), pre.clone(), group.clone()];
    let filter = |t: Option<ResourceType>, name: Option<&str>, p: PatternFilter| AclFilter {
        resource_type: t,
        resource_name: name.map(String::from),
        pattern: p,
        principal: None,
        host: None,
        operation: None,
        permission: None,
    };
    let hits = |f: &AclFilter| {
        all.iter()
            .filter(|b| f.matches(b))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(hits(&filter(None, None, PatternFilter::Any)).len(), 4);
    assert_eq!(
        hits(&filter(
            Some(ResourceType::Topic),
            Some("orders"),
            PatternFilter::Match
        )),
        vec![lit.clone(), star.clone(), pre.clone()]
    );
    assert_eq!(
        hits(&filter(None, Some("orders"), PatternFilter::Any)),
        vec![lit.clone(), group.clone()]
    );
    assert_eq!(
        hits(&filter(
            None,
            None,
            PatternFilter::Exactly(PatternType::Prefixed)
        )),
        vec![pre.clone()]
    );
    let mut by_principal = filter(None, None, PatternFilter::Any);
    by_principal.principal = Some("User:b".into());
    assert_eq!(hits(&by_principal), vec![star]);
    let mut by_op = filter(None, None, PatternFilter::Any);
    by_op.operation = Some(AclOperation::Read);
    by_op.resource_type = Some(ResourceType::Group);
    assert_eq!(hits(&by_op), vec![group]);
}

#[test]
fn only_valid_bindings_are_accepted_and_codes_round_trip() {
    let ok = allow_topic("t", PatternType::Literal, "User:a", AclOperation::Read);
    validate(&ok).unwrap();
    let mut bad = ok.clone();
    bad.principal = "alice".into();
    assert_eq!(
        validate(&bad).unwrap_err().kind,
        MetaErrorKind::InvalidRequest
    );
    let mut bad = ok.clone();
    bad.resource_name.clear();
    assert!(validate(&bad).is_err());
    let mut bad = ok.clone();
    bad.operation = AclOperation::ClusterAction;
    assert!(validate(&bad).is_err());
    let mut cluster = binding(
        ResourceType::Cluster,
        "kafka-cluster",
        PatternType::Literal,
        "User:a",
        AclOperation::Alter,
        AclPermission::Allow,
    );
    validate(&cluster).unwrap();
    cluster.resource_name = "other".into();
    assert!(validate(&cluster).is_err());
    for code in 0..16i8 {
        if let Some(op) = AclOperation::from_code(code) {
            assert_eq!(op.code(), code);
        }
    }
    assert_eq!(AclOperation::from_code(ANY), None);
    assert_eq!(ResourceType::from_code(2), Some(ResourceType::Topic));
    assert_eq!(PatternFilter::from_code(MATCH), Some(PatternFilter::Match));
    assert_eq!(
        serde_json::to_string(&ok).unwrap(),
        r#"{"resource_type":"TOPIC","resource_name":"t","pattern_type":"LITERAL","principal":"User:a","host":"*","operation":"READ","permission":"ALLOW"}"#
    );
}

#[test]
fn authorize_any_finds_one_allowed_resource_not_denied() {
    let s = AuthorizerSettings::default();
    let write = |name: &str, pattern, perm| {
        binding(
            ResourceType::Topic,
            name,
            pattern,
            "User:a",
            AclOperation::Write,
            perm,
        )
    };
    let any = |acls: &[AclBinding]| {
        authorize_any(
            &s,
            acls,
            "User:a",
            "1.2.3.4",
            AclOperation::Write,
            ResourceType::Topic,
        )
    };
    assert!(!any(&[]));
    assert!(any(&[write(
        "t",
        PatternType::Literal,
        AclPermission::Allow
    )]));
    assert!(!any(&[
        write("t", PatternType::Literal, AclPermission::Allow),
        write("*", PatternType::Literal, AclPermission::Deny),
    ]));
    assert!(!any(&[
        write("orders-eu", PatternType::Prefixed, AclPermission::Allow),
        write("orders-", PatternType::Prefixed, AclPermission::Deny),
    ]));
    assert!(any(&[
        write("orders-eu", PatternType::Prefixed, AclPermission::Allow),
        write("orders-us", PatternType::Literal, AclPermission::Deny),
    ]));
    // READ does not allow WRITE.
    assert!(!any(&[binding(
        ResourceType::Topic,
        "t",
        PatternType::Literal,
        "User:a",
        AclOperation::Read,
        AclPermission::Allow
    )]));
}
