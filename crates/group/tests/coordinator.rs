//! The coordinator's state machine driven through its public API, as the broker drives it:
//! join/sync/heartbeat/leave, generations, MEMBER_ID_REQUIRED, static membership, session
//! expiry, commits with generation checks, persistence across reopen, deletion and retention.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use strata_group::{codes, GroupConfig, GroupCoordinator, GroupState, OffsetOracle};

struct Oracle;

impl OffsetOracle for Oracle {
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        (topic == "t" && (0..4).contains(&partition)).then_some(100)
    }
}

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 100,
        ..GroupConfig::default()
    }
}

async fn open(dir: &std::path::Path, config: GroupConfig) -> Arc<GroupCoordinator> {
    let c = GroupCoordinator::open(dir, config, Arc::new(Oracle)).unwrap();
    c.wait_loaded().await;
    assert!(c.is_ready());
    c
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn subscription(topics: &[&str]) -> Bytes {
    let sub =
        ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| s(t)).collect());
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    sub.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

fn join_req(
    group: &str,
    member: &str,
    instance: Option<&str>,
    session_ms: i32,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(5_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(&["t"])),
            JoinGroupRequestProtocol::default()
                .with_name(s("roundrobin"))
                .with_metadata(subscription(&["t"])),
        ])
}

/// Joins as a new dynamic member at v5 (MEMBER_ID_REQUIRED round trip included).
async fn join_new(c: &Arc<GroupCoordinator>, group: &str) -> JoinGroupResponse {
    let first = c
        .join_group(join_req(group, "", None, 10_000), 5, "client", "/127.0.0.1")
        .await;
    assert_eq!(first.error_code, codes::MEMBER_ID_REQUIRED);
    assert!(first.member_id.starts_with("client-"));
    c.join_group(
        join_req(group, &first.member_id, None, 10_000),
        5,
        "client",
        "/127.0.0.1",
    )
    .await
}

fn spawn_join(
    c: &Arc<GroupCoordinator>,
    req: JoinGroupRequest,
) -> tokio::task::JoinHandle<JoinGroupResponse> {
    let c = c.clone();
    tokio::spawn(async move { c.join_group(req, 5, "client", "/127.0.0.1").await })
}

async fn sync(
    c: &GroupCoordinator,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
) -> SyncGroupResponse {
    c.sync_group(
        SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(member))
            .with_generation_id(generation)
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::copy_from_slice(a))
                    })
                    .collect(),
            ),
        5,
    )
    .await
}

async fn heartbeat(c: &GroupCoordinator, group: &str, member: &str, generation: i32) -> i16 {
    c.heartbeat(
        HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(member))
            .with_generation_id(generation),
        4,
    )
    .await
    .error_code
}

async fn commit(
    c: &GroupCoordinator,
    group: &str,
    member: &str,
    generation: i32,
    offsets: &[(i32, i64, &str)],
) -> Vec<i16> {
    let resp = c
        .offset_commit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_member_id(s(member))
                .with_generation_id_or_member_epoch(generation)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(
                        offsets
                            .iter()
                            .map(|(p, o, m)| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(*o)
                                    .with_committed_metadata(Some(s(m)))
                            })
                            .collect(),
                    )]),
            8,
        )
        .await;
    resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

async fn fetch(c: &GroupCoordinator, group: &str, partitions: &[i32]) -> Vec<(i32, i64, String)> {
    let resp = c
        .offset_fetch(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(partitions.to_vec())])),
            7,
        )
        .await;
    assert_eq!(resp.error_code, 0);
    resp.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0);
            (
                p.partition_index,
                p.committed_offset,
                p.metadata.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Two members form generation 1; returns (leader id, follower id).
async fn two_member_group(c: &Arc<GroupCoordinator>, group: &str) -> (String, String) {
    let a = join_new(c, group).await;
    assert_eq!((a.error_code, a.generation_id), (0, 1));
    assert_eq!(a.leader, a.member_id, "the first member leads");
    assert_eq!(a.members.len(), 1);
    let leader = a.member_id.to_string();
    let s1 = sync(c, group, &leader, 1, &[(&leader, b"A")]).await;
    assert_eq!((s1.error_code, &s1.assignment[..]), (0, &b"A"[..]));
    // A second member joins: the group rebalances; the leader learns it from its heartbeat.
    let first = c
        .join_group(join_req(group, "", None, 10_000), 5, "client", "/127.0.0.1")
        .await;
    let second = spawn_join(c, join_req(group, &first.member_id, None, 10_000));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        heartbeat(c, group, &leader, 1).await,
        codes::REBALANCE_IN_PROGRESS
    );
    let rejoin = c
        .join_group(
            join_req(group, &leader, None, 10_000),
            5,
            "client",
            "/127.0.0.1",
        )
        .await;
    let b = second.await.unwrap();
    assert_eq!((rejoin.error_code, rejoin.generation_id), (0, 2));
    assert_eq!((b.error_code, b.generation_id), (0, 2));
    assert_eq!(rejoin.leader.as_str(), leader);
    assert_eq!(rejoin.members.len(), 2, "the leader sees every member");
    assert!(b.members.is_empty(), "followers see none");
    assert_eq!(rejoin.protocol_name.as_deref(), Some("range"));
    let follower = b.member_id.to_string();
    let c2 = c.clone();
    let (g, f) = (group.to_string(), follower.clone());
    let parked = tokio::spawn(async move { sync(&c2, &g, &f, 2, &[]).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !parked.is_finished(),
        "a follower's SyncGroup waits for the leader"
    );
    let ls = sync(c, group, &leader, 2, &[(&leader, b"L"), (&follower, b"F")]).await;
    assert_eq!(&ls.assignment[..], b"L");
    assert_eq!(&parked.await.unwrap().assignment[..], b"F");
    assert_eq!(heartbeat(c, group, &follower, 2).await, 0);
    assert_eq!(
        heartbeat(c, group, &follower, 1).await,
        codes::ILLEGAL_GENERATION
    );
    (leader, follower)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_generations_commits_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), config()).await;
    let (leader, follower) = two_member_group(&c, "g").await;
    assert_eq!(
        c.group_states(),
        vec![("g".to_string(), GroupState::Stable)]
    );

    // Commits: generation and membership are checked; metadata round-trips exactly.
    assert_eq!(
        commit(&c, "g", &follower, 2, &[(0, 5, "m0"), (1, 7, "")]).await,
        vec![0, 0]
    );
    assert_eq!(
        commit(&c, "g", &follower, 1, &[(0, 6, "")]).await,
        vec![codes::ILLEGAL_GENERATION]
    );
    assert_eq!(
        commit(&c, "g", "nobody", 2, &[(0, 6, "")]).await,
        vec![codes::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        commit(&c, "g", "", -1, &[(0, 6, "")]).await,
        vec![codes::UNKNOWN_MEMBER_ID],
        "admin commits need an empty group"
    );
    let big = "x".repeat(4097);
    assert_eq!(
        commit(
            &c,
            "g",
            &leader,
            2,
            &[(2, 1, &big), (9, 1, ""), (3, 3, "ok")]
        )
        .await,
        vec![
            codes::OFFSET_METADATA_TOO_LARGE,
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            0
        ]
    );
    assert_eq!(
        fetch(&c, "g", &[0, 1, 2, 3]).await,
        vec![
            (0, 5, "m0".into()),
            (1, 7, "".into()),
            (2, -1, "".into()),
            (3, 3, "ok".into())
        ]
    );

    // A standalone (generation -1) commit to an unknown group creates it.
    assert_eq!(commit(&c, "solo", "", -1, &[(0, 42, "s")]).await, vec![0]);
    assert_eq!(
        commit(&c, "nope", "m", 3, &[(0, 1, "")]).await,
        vec![codes::ILLEGAL_GENERATION]
    );

    // Reopen: offsets and the stable group (generation, members, assignments) survive.
    c.close().unwrap();
    assert_eq!(heartbeat(&c, "g", &leader, 2).await, codes::NOT_COORDINATOR);
    let c = open(dir.path(), config()).await;
    assert_eq!(fetch(&c, "solo", &[0]).await, vec![(0, 42, "s".into())]);
    assert_eq!(
        fetch(&c, "g", &[0, 3]).await,
        vec![(0, 5, "m0".into()), (3, 3, "ok".into())]
    );
    assert_eq!(heartbeat(&c, "g", &follower, 2).await, 0);
    assert_eq!(commit(&c, "g", &follower, 2, &[(0, 9, "")]).await, vec![0]);
    let follower_sync = sync(&c, "g", &follower, 2, &[]).await;
    assert_eq!(
        &follower_sync.assignment[..],
        b"F",
        "assignments are restored"
    );

    // Both leave (one by batch LeaveGroup v3+): the group becomes Empty at generation 3.
    let leave = c
        .leave_group(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(s(&leader)),
                    MemberIdentity::default().with_member_id(s("ghost")),
                ]),
            5,
        )
        .await;
    let codes_out: Vec<i16> = leave.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes_out, vec![0, codes::UNKNOWN_MEMBER_ID]);
    // The remaining member must rejoin; it does, alone, and then leaves (v1 single form).
    assert_eq!(
        heartbeat(&c, "g", &follower, 2).await,
        codes::REBALANCE_IN_PROGRESS
    );
    let rejoin = c
        .join_group(
            join_req("g", &follower, None, 10_000),
            5,
            "client",
            "/127.0.0.1",
        )
        .await;
    assert_eq!(
        (rejoin.generation_id, rejoin.leader.as_str()),
        (3, follower.as_str())
    );
    let leave = c
        .leave_group(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s(&follower)),
            1,
        )
        .await;
    assert_eq!(leave.error_code, 0);
    assert_eq!(c.group_states()[0], ("g".to_string(), GroupState::Empty));
    // Empty: admin commits are accepted now.
    assert_eq!(commit(&c, "g", "", -1, &[(1, 50, "reset")]).await, vec![0]);

    // DeleteGroups: unknown → 69; deleted groups stay deleted after reopen.
    let del = c
        .delete_groups(
            DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(s("g")), GroupId(s("missing"))]),
            2,
        )
        .await;
    let codes_out: Vec<i16> = del.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes_out, vec![0, codes::GROUP_ID_NOT_FOUND]);
    c.close().unwrap();
    let c = open(dir.path(), config()).await;
    assert_eq!(
        fetch(&c, "g", &[0, 1]).await,
        vec![(0, -1, "".into()), (1, -1, "".into())]
    );
    assert_eq!(
        c.group_states(),
        vec![("solo".to_string(), GroupState::Empty)]
    );
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_removes_a_silent_member_and_rebalances() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), config()).await;
    let first = c
        .join_group(join_req("g", "", None, 400), 5, "client", "/127.0.0.1")
        .await;
    let a = c
        .join_group(
            join_req("g", &first.member_id, None, 400),
            5,
            "client",
            "/127.0.0.1",
        )
        .await;
    let a_id = a.member_id.to_string();
    sync(&c, "g", &a_id, 1, &[(&a_id, b"x")]).await;
    // Keep `a` alive while nothing else happens, then stop: it expires within ~400 ms + a tick.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(heartbeat(&c, "g", &a_id, 1).await, 0);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(heartbeat(&c, "g", &a_id, 1).await, codes::UNKNOWN_MEMBER_ID);
    assert_eq!(c.group_states()[0].1, GroupState::Empty);

    // Session timeouts outside the configured bounds are refused.
    let bad = c
        .join_group(join_req("g", "", None, 50), 5, "client", "/127.0.0.1")
        .await;
    assert_eq!(bad.error_code, codes::INVALID_SESSION_TIMEOUT);
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_rejoin_keeps_generation_and_fences_the_old_id() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), config()).await;
    let a = c
        .join_group(
            join_req("g", "", Some("inst-a"), 10_000),
            5,
            "client",
            "/127.0.0.1",
        )
        .await;
    assert_eq!(
        (a.error_code, a.generation_id),
        (0, 1),
        "static members skip MEMBER_ID_REQUIRED"
    );
    let old = a.member_id.to_string();
    assert!(old.starts_with("inst-a-"));
    sync(&c, "g", &old, 1, &[(&old, b"P0")]).await;
    // The instance restarts: unknown member id, same instance id → same generation, no rebalance.
    let again = c
        .join_group(
            join_req("g", "", Some("inst-a"), 10_000),
            5,
            "client",
            "/127.0.0.1",
        )
        .await;
    assert_eq!((again.error_code, again.generation_id), (0, 1));
    let new = again.member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(again.leader.as_str(), new);
    assert_eq!(c.group_states()[0].1, GroupState::Stable);
    let s2 = sync(&c, "g", &new, 1, &[]).await;
    assert_eq!(&s2.assignment[..], b"P0", "the old assignment is kept");
    // The old incarnation is fenced.
    let hb = c
        .heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s(&old))
                .with_group_instance_id(Some(s("inst-a")))
                .with_generation_id(1),
            4,
        )
        .await;
    assert_eq!(hb.error_code, codes::FENCED_INSTANCE_ID);
    // The mapping survives a reopen.
    c.close().unwrap();
    let c = open(dir.path(), config()).await;
    let third = c
        .join_group(
            join_req("g", "", Some("inst-a"), 10_000),
            5,
            "client",
            "/127.0.0.1",
        )
        .await;
    assert_eq!((third.error_code, third.generation_id), (0, 1));
    // LeaveGroup by instance id alone removes it.
    let leave = c
        .leave_group(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![MemberIdentity::default()
                    .with_member_id(s(""))
                    .with_group_instance_id(Some(s("inst-a")))]),
            4,
        )
        .await;
    assert_eq!(leave.members[0].error_code, 0);
    assert_eq!(c.group_states()[0].1, GroupState::Empty);
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_delay_gathers_members_into_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(
        dir.path(),
        GroupConfig {
            initial_rebalance_delay_ms: 300,
            ..config()
        },
    )
    .await;
    let started = std::time::Instant::now();
    let j1 = spawn_join(&c, join_req("g", "", Some("i1"), 10_000));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let j2 = spawn_join(&c, join_req("g", "", Some("i2"), 10_000));
    let (r1, r2) = (j1.await.unwrap(), j2.await.unwrap());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((r1.generation_id, r2.generation_id), (1, 1));
    assert_eq!(
        r1.members.len() + r2.members.len(),
        2,
        "one leader sees both"
    );
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_offset_delete_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(
        dir.path(),
        GroupConfig {
            offsets_retention_ms: 300,
            offsets_retention_check_interval_ms: 100,
            ..config()
        },
    )
    .await;
    let a = join_new(&c, "live").await;
    let id = a.member_id.to_string();
    sync(&c, "live", &id, 1, &[(&id, b"")]).await;
    assert_eq!(
        commit(&c, "live", &id, 1, &[(0, 1, ""), (1, 1, "")]).await,
        vec![0, 0]
    );
    assert_eq!(commit(&c, "solo", "", -1, &[(0, 1, "")]).await, vec![0]);
    // OffsetDelete: a topic a member subscribes to is protected.
    let del = c
        .offset_delete(
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("live")))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0)
                    ])]),
            0,
        )
        .await;
    assert_eq!(
        del.topics[0].partitions[0].error_code,
        codes::GROUP_SUBSCRIBED_TO_TOPIC
    );
    let list = c.list_groups(ListGroupsRequest::default(), 4).await;
    let listed: Vec<(String, String, String)> = list
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("live".into(), "consumer".into(), "Stable".into()),
            ("solo".into(), "".into(), "Empty".into())
        ]
    );
    let described = c
        .describe_groups(
            DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("live")), GroupId(s("zzz"))]),
            5,
        )
        .await;
    assert_eq!(described.groups[0].protocol_data.as_str(), "range");
    assert_eq!(
        described.groups[0].members[0].client_host.as_str(),
        "/127.0.0.1"
    );
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");
    // The standalone group's offsets expire 300 ms after the commit; the live group's don't
    // while it has members.
    for _ in 0..20 {
        heartbeat(&c, "live", &id, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fetch(&c, "solo", &[0]).await, vec![(0, -1, "".into())]);
    assert_eq!(fetch(&c, "live", &[0]).await, vec![(0, 1, "".into())]);
    assert!(
        !c.group_states().iter().any(|(g, _)| g == "solo"),
        "the empty group is gone"
    );
    c.close().unwrap();
}

/// OffsetFetch's top-level error code for `group`.
async fn fetch_code(c: &GroupCoordinator, group: &str) -> i16 {
    c.offset_fetch(
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0])])),
        7,
    )
    .await
    .error_code
}

/// The coordinator serves exactly the partitions it was elected for: others answer
/// NOT_COORDINATOR; resigning drops a partition's groups at once; a new election (a later
/// leader epoch) replays the partition's log, so what was committed comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_follow_partition_leadership() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GroupConfig {
        offsets_topic_num_partitions: 4,
        ..config()
    };
    let p = strata_group::partition_for("led", 4);
    let other = (0..)
        .map(|i| format!("o{i}"))
        .find(|g| strata_group::partition_for(g, 4) != p)
        .unwrap();
    let log: Arc<dyn strata_group::OffsetsLog> =
        Arc::new(strata_group::open_local_log(dir.path(), p, 0).unwrap());
    let c = GroupCoordinator::new(cfg, Arc::new(Oracle));
    // Nothing elected yet: every group is elsewhere.
    assert_eq!(fetch_code(&c, "led").await, codes::NOT_COORDINATOR);
    c.elect(p, 3, log.clone());
    c.wait_loaded().await;
    assert!(c.is_ready());
    assert_eq!(c.leads(p), Some(3));
    assert_eq!(commit(&c, "led", "", -1, &[(0, 17, "m")]).await, vec![0]);
    assert_eq!(fetch(&c, "led", &[0]).await, vec![(0, 17, "m".to_string())]);
    assert_eq!(
        commit(&c, &other, "", -1, &[(0, 1, "")]).await,
        vec![codes::NOT_COORDINATOR]
    );
    // Electing again in the same epoch changes nothing.
    c.elect(p, 3, log.clone());
    c.wait_loaded().await;
    assert_eq!(fetch(&c, "led", &[0]).await, vec![(0, 17, "m".to_string())]);

    c.resign(p);
    assert_eq!(fetch_code(&c, "led").await, codes::NOT_COORDINATOR);
    c.wait_loaded().await;
    assert_eq!(c.leads(p), None);
    assert!(c.group_states().is_empty());

    c.elect(p, 5, log.clone());
    c.wait_loaded().await;
    assert_eq!(c.leads(p), Some(5));
    assert_eq!(fetch(&c, "led", &[0]).await, vec![(0, 17, "m".to_string())]);
    c.close().unwrap();
    assert_eq!(fetch_code(&c, "led").await, codes::NOT_COORDINATOR);
}
