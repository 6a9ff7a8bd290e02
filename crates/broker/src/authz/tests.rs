use std::collections::BTreeMap;

use super::*;

fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_authorizer_is_on_for_any_class_name_with_kafka_settings() {
    assert_eq!(settings(&raw(&[])).unwrap(), None);
    assert_eq!(
        settings(&raw(&[("authorizer.class.name", " ")])).unwrap(),
        None
    );
    let s = settings(&raw(&[
        ("authorizer.class.name", "acl"),
        ("super.users", "User:admin; User:CN=ops,O=Strata"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(s.super_users, vec!["User:admin", "User:CN=ops,O=Strata"]);
    assert!(!s.allow_if_no_acl);
    let s = settings(&raw(&[
        (
            "authorizer.class.name",
            "kafka.security.authorizer.AclAuthorizer",
        ),
        ("allow.everyone.if.no.acl.found", "true"),
    ]))
    .unwrap()
    .unwrap();
    assert!(s.allow_if_no_acl);
    assert!(settings(&raw(&[
        ("authorizer.class.name", "acl"),
        ("super.users", "admin")
    ]))
    .is_err());
    assert!(settings(&raw(&[
        ("authorizer.class.name", "acl"),
        ("allow.everyone.if.no.acl.found", "yes")
    ]))
    .is_err());
}
