//! The authorizer through the real dispatcher: CreateAcls, DescribeAcls and DeleteAcls, and the
//! checks of Produce, Fetch, Metadata, JoinGroup and cluster APIs for one principal at a time.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::test_support::{call, name, open_broker, open_broker_with};
use crate::broker::Broker;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Runs `f` as `principal`.
async fn as_user<T>(principal: &str, f: impl std::future::Future<Output = T>) -> T {
    crate::authz::PRINCIPAL.scope(Arc::from(principal), f).await
}

fn creation(rt: i8, name: &str, pattern: i8, principal: &str, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

async fn create_acls(b: &Arc<Broker>, creations: Vec<AclCreation>) -> Vec<i16> {
    let r: CreateAclsResponse = call(
        b,
        ApiKey::CreateAcls,
        3,
        RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(creations)),
    )
    .await;
    r.results.iter().map(|r| r.error_code).collect()
}

async fn produce(b: &Arc<Broker>, topic: &str) -> i16 {
    let batch = bytes::Bytes::from(strata_records::testing::build_batch(
        crate::broker::now_ms(),
        &[(Some(b"k"), Some(b"v"), 0)],
        -1,
        -1,
        -1,
    ));
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let r: ProduceResponse = call(b, ApiKey::Produce, 9, RequestKind::Produce(req)).await;
    r.responses[0].partition_responses[0].error_code
}

async fn fetch(b: &Arc<Broker>, topic: &str) -> i16 {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let r: FetchResponse = call(b, ApiKey::Fetch, 12, RequestKind::Fetch(req)).await;
    r.responses[0].partitions[0].error_code
}

async fn listed_topics(b: &Arc<Broker>) -> Vec<String> {
    let r: MetadataResponse = call(
        b,
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    )
    .await;
    let mut names: Vec<String> = r
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    names.sort();
    names
}

async fn join(b: &Arc<Broker>, group: &str) -> i16 {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"));
    let r: JoinGroupResponse = call(b, ApiKey::JoinGroup, 9, RequestKind::JoinGroup(req)).await;
    r.error_code
}

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

#[tokio::test(flavor = "multi_thread")]
async fn grants_denials_and_super_users_follow_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_broker_with(
        dir.path(),
        &[
            ("authorizer.class.name", "acl"),
            ("super.users", "User:admin"),
            ("auto.create.topics.enable", "false"),
        ],
    );
    for t in ["orders", "orders-eu", "payments"] {
        b.create_topic(t, 1, 1, Default::default(), false).unwrap();
    }
    // Anonymous: nothing, not even a listing or ACL changes.
    assert_eq!(
        as_user("User:ANONYMOUS", listed_topics(&b)).await,
        Vec::<String>::new()
    );
    assert_eq!(as_user("User:ANONYMOUS", produce(&b, "orders")).await, 29);
    assert_eq!(
        as_user(
            "User:ANONYMOUS",
            create_acls(
                &b,
                vec![creation(
                    TOPIC,
                    "orders",
                    LITERAL,
                    "User:ANONYMOUS",
                    WRITE,
                    ALLOW
                )]
            )
        )
        .await,
        vec![31]
    );
    // The super user sees and does everything.
    assert_eq!(
        as_user("User:admin", listed_topics(&b)).await,
        vec!["orders", "orders-eu", "payments"]
    );
    assert_eq!(as_user("User:admin", produce(&b, "payments")).await, 0);
    // alice: WRITE on orders, READ on the prefix orders-, READ on group g.
    let codes = as_user(
        "User:admin",
        create_acls(
            &b,
            vec![
                creation(TOPIC, "orders", LITERAL, "User:alice", WRITE, ALLOW),
                creation(TOPIC, "orders-", PREFIXED, "User:alice", READ, ALLOW),
                creation(GROUP, "g", LITERAL, "User:alice", READ, ALLOW),
                creation(TOPIC, "orders", 1, "User:alice", READ, ALLOW),
            ],
        ),
    )
    .await;
    assert_eq!(
        codes,
        vec![0, 0, 0, 42],
        "ANY is not a pattern type to store"
    );
    assert_eq!(as_user("User:alice", produce(&b, "orders")).await, 0);
    assert_eq!(as_user("User:alice", fetch(&b, "orders")).await, 29);
    assert_eq!(as_user("User:alice", fetch(&b, "orders-eu")).await, 0);
    assert_eq!(as_user("User:alice", produce(&b, "orders-eu")).await, 29);
    assert_eq!(as_user("User:alice", fetch(&b, "payments")).await, 29);
    assert_eq!(
        as_user("User:alice", listed_topics(&b)).await,
        vec!["orders", "orders-eu"],
        "WRITE and READ imply DESCRIBE; payments stays hidden"
    );
    assert_ne!(as_user("User:alice", join(&b, "g")).await, 30);
    assert_eq!(as_user("User:alice", join(&b, "other")).await, 30);
    // A DENY beats the ALLOW.
    let codes = as_user(
        "User:admin",
        create_acls(
            &b,
            vec![creation(TOPIC, "orders", LITERAL, "User:*", WRITE, DENY)],
        ),
    )
    .await;
    assert_eq!(codes, vec![0]);
    assert_eq!(as_user("User:alice", produce(&b, "orders")).await, 29);
    // DescribeAcls lists what is stored; DeleteAcls removes what matches.
    let described: DescribeAclsResponse = as_user(
        "User:admin",
        call(
            &b,
            ApiKey::DescribeAcls,
            3,
            RequestKind::DescribeAcls(
                DescribeAclsRequest::default()
                    .with_resource_type_filter(TOPIC)
                    .with_resource_name_filter(Some(s("orders")))
                    .with_pattern_type_filter(2) // MATCH
                    .with_principal_filter(None)
                    .with_host_filter(None)
                    .with_operation(1)
                    .with_permission_type(1),
            ),
        ),
    )
    .await;
    assert_eq!(described.error_code, 0);
    let mut seen: Vec<(String, i8, String, i8, i8)> = described
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| {
                (
                    r.resource_name.to_string(),
                    r.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("orders".into(), LITERAL, "User:*".into(), WRITE, DENY),
            ("orders".into(), LITERAL, "User:alice".into(), WRITE, ALLOW),
        ],
        "MATCH of orders: its LITERAL bindings; the PREFIXED orders- does not cover it"
    );
    let deleted: DeleteAclsResponse = as_user(
        "User:admin",
        call(
            &b,
            ApiKey::DeleteAcls,
            3,
            RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![
                DeleteAclsFilter::default()
                    .with_resource_type_filter(TOPIC)
                    .with_resource_name_filter(Some(s("orders")))
                    .with_pattern_type_filter(LITERAL)
                    .with_principal_filter(None)
                    .with_host_filter(None)
                    .with_operation(1)
                    .with_permission_type(1),
            ])),
        ),
    )
    .await;
    assert_eq!(deleted.filter_results[0].error_code, 0);
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 2);
    assert_eq!(as_user("User:alice", produce(&b, "orders")).await, 29);
    assert_eq!(b.meta().acls.len(), 2);
    // Cluster APIs need the cluster operation.
    let quorum: DescribeQuorumResponse = as_user(
        "User:alice",
        call(
            &b,
            ApiKey::DescribeQuorum,
            1,
            RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
        ),
    )
    .await;
    assert_eq!(quorum.error_code, 31);
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_apis_say_security_disabled_without_an_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_broker(dir.path());
    assert_eq!(
        create_acls(
            &b,
            vec![creation(TOPIC, "t", LITERAL, "User:a", READ, ALLOW)]
        )
        .await,
        vec![54]
    );
    b.create_topic("t", 1, 1, Default::default(), false)
        .unwrap();
    assert_eq!(produce(&b, "t").await, 0);
    assert_eq!(listed_topics(&b).await, vec!["t"]);
}
