//! Input limits (src/limits.rs): ids and names that do not fit `__consumer_offsets`' int16
//! strings are refused with Kafka's codes, never cut; the largest that fit round-trip exactly,
//! across a restart.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strata_group::format::MAX_STRING_BYTES;
use strata_group::{codes, GroupConfig, GroupCoordinator, OffsetOracle};

struct Oracle;

impl OffsetOracle for Oracle {
    fn log_end_offset(&self, _topic: &str, partition: i32) -> Option<i64> {
        (partition == 0).then_some(100)
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// 32768 bytes of two-byte characters: one byte more than a stored string holds.
fn too_long() -> String {
    "é".repeat(16_384)
}

/// Exactly 32767 bytes, ending in a two-byte character.
fn longest() -> String {
    let v = "x".to_string() + &"é".repeat(16_383);
    assert_eq!(v.len(), MAX_STRING_BYTES);
    v
}

async fn open(dir: &std::path::Path) -> Arc<GroupCoordinator> {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 100,
        offset_metadata_max_bytes: 100_000,
        ..GroupConfig::default()
    };
    let c = GroupCoordinator::open(dir, config, Arc::new(Oracle)).unwrap();
    c.wait_loaded().await;
    c
}

fn join_req(group: &str, member: &str, instance: Option<&str>, protocol: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s(protocol))
            .with_metadata(Bytes::from_static(b"\0\0"))])
}

async fn join(c: &GroupCoordinator, req: JoinGroupRequest, client_id: &str) -> JoinGroupResponse {
    c.join_group(req, 9, client_id, "/127.0.0.1").await
}

fn commit_req(group: &str, topic: &str, metadata: &str) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(9)
                .with_committed_metadata(Some(s(metadata)))])])
}

async fn commit(c: &GroupCoordinator, group: &str, topic: &str, metadata: &str) -> i16 {
    let resp = c.offset_commit(commit_req(group, topic, metadata), 9).await;
    resp.topics[0].partitions[0].error_code
}

async fn fetch(c: &GroupCoordinator, group: &str, topic: &str) -> (i64, String) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![0])]));
    let resp = c.offset_fetch(req, 7).await;
    let p = &resp.topics[0].partitions[0];
    (
        p.committed_offset,
        p.metadata.as_deref().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_group_refuses_what_cannot_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    let long = too_long();
    let cases: [(JoinGroupRequest, &str, i16); 6] = [
        (
            join_req("", "", None, "range"),
            "cl",
            codes::INVALID_GROUP_ID,
        ),
        (
            join_req(&long, "", None, "range"),
            "cl",
            codes::INVALID_GROUP_ID,
        ),
        (
            join_req("g", &long, None, "range"),
            "cl",
            codes::INVALID_REQUEST,
        ),
        (
            join_req("g", "", Some(&long), "range"),
            "cl",
            codes::INVALID_REQUEST,
        ),
        (join_req("g", "", None, &long), "cl", codes::INVALID_REQUEST),
        (
            join_req("g", "", None, "range"),
            &long,
            codes::INVALID_REQUEST,
        ),
    ];
    for (req, client_id, code) in cases {
        let resp = join(&c, req, client_id).await;
        assert_eq!(resp.error_code, code);
        assert_eq!(resp.member_id.as_str(), "", "nothing long is echoed back");
    }
    let long_type = join_req("g", "", None, "range").with_protocol_type(s(&long));
    assert_eq!(
        join(&c, long_type, "cl").await.error_code,
        codes::INVALID_REQUEST
    );
    assert!(c.group_states().is_empty(), "no group was created");

    // The other group APIs refuse an id no group can have.
    let hb = c
        .heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(s(&long)))
                .with_member_id(s("m")),
            4,
        )
        .await;
    assert_eq!(hb.error_code, codes::INVALID_GROUP_ID);
    let sync = c
        .sync_group(SyncGroupRequest::default().with_group_id(GroupId(s(""))), 5)
        .await;
    assert_eq!(sync.error_code, codes::INVALID_GROUP_ID);
    let leave = c
        .leave_group(
            LeaveGroupRequest::default().with_group_id(GroupId(s(&long))),
            5,
        )
        .await;
    assert_eq!(leave.error_code, codes::INVALID_GROUP_ID);
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_ids_that_fit_are_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    let group = longest();
    let instance = longest();
    // A static member with a 32767-byte instance id and client id: its generated member id
    // `<instance>-<uuid>` is cut (at a character boundary) so it fits.
    let joined = join(
        &c,
        join_req(&group, "", Some(&instance), "range"),
        &longest(),
    )
    .await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let member = joined.member_id.to_string();
    assert!(member.len() <= MAX_STRING_BYTES && member.len() > MAX_STRING_BYTES - 3);
    assert!(member.starts_with("xé"));
    let synced = c
        .sync_group(
            SyncGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_member_id(s(&member))
                .with_generation_id(1)
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(Bytes::from_static(b"A"))]),
            5,
        )
        .await;
    assert_eq!(synced.error_code, 0, "the group record was stored");
    c.close().unwrap();

    let c = open(dir.path()).await;
    let described = c
        .describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
            5,
        )
        .await;
    let g = &described.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.members[0].member_id.as_str(), member);
    assert_eq!(
        g.members[0].group_instance_id.as_deref(),
        Some(instance.as_str())
    );
    assert_eq!(g.members[0].client_id.as_str(), longest());
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_commit_refuses_what_cannot_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    // offset.metadata.max.bytes is 100000 here, but a stored string holds 32767 bytes.
    assert_eq!(
        commit(&c, "g", "t", &too_long()).await,
        codes::OFFSET_METADATA_TOO_LARGE
    );
    assert_eq!(
        commit(&c, &too_long(), "t", "").await,
        codes::INVALID_GROUP_ID
    );
    assert_eq!(
        commit(&c, "g", &"t".repeat(250), "").await,
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(fetch(&c, "g", "t").await, (-1, String::new()));
    let topic = "ü".repeat(249);
    assert_eq!(commit(&c, "g", &topic, &longest()).await, 0);
    c.close().unwrap();
    let c = open(dir.path()).await;
    assert_eq!(fetch(&c, "g", &topic).await, (9, longest()));
    c.close().unwrap();
}
