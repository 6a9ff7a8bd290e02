//! Tests of the locking and durability contract (`coordinator.rs`), using the writer's test
//! hook to hold a write "in fsync" or to fail it: heartbeats and reads are answered while a
//! write is stuck, records of one partition are written in the order they were applied, and
//! a failed write leaves no state claiming durability.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::storage::WriteHook;
use crate::{codes, GroupConfig, GroupCoordinator, OffsetOracle};
use strata_coordinator::partition_for;

struct Oracle;

impl OffsetOracle for Oracle {
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        (topic == "t" && (0..4).contains(&partition)).then_some(100)
    }
}

/// Bounds every wait of these tests (a deadlock fails instead of hanging).
const BOUND: Duration = Duration::from_secs(20);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn open(dir: &std::path::Path) -> Arc<GroupCoordinator> {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 100,
        ..GroupConfig::default()
    };
    let c = GroupCoordinator::open(dir, config, Arc::new(Oracle)).unwrap();
    c.wait_loaded().await;
    assert!(c.is_ready());
    c
}

/// A group id other than `not` whose partition is (or, with `same = false`, is not) `p`.
fn group_in(p: i32, same: bool, not: &str) -> String {
    (0..)
        .map(|i| format!("g{i}"))
        .find(|g| g != not && (partition_for(g, 50) == p) == same)
        .unwrap()
}

fn join_req(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"\0\0"))])
}

/// One member joins `group` (v5) and is answered generation 1; returns its member id.
async fn join_one(c: &GroupCoordinator, group: &str) -> String {
    let first = c.join_group(join_req(group, ""), 5, "cl", "/h").await;
    assert_eq!(first.error_code, codes::MEMBER_ID_REQUIRED);
    let joined = c
        .join_group(join_req(group, &first.member_id), 5, "cl", "/h")
        .await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    joined.member_id.to_string()
}

async fn sync_leader(c: &GroupCoordinator, group: &str, member: &str) -> SyncGroupResponse {
    c.sync_group(
        SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(member))
            .with_generation_id(1)
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(member))
                .with_assignment(Bytes::from_static(b"A"))]),
        5,
    )
    .await
}

/// A member of a Stable group at generation 1.
async fn stable_member(c: &GroupCoordinator, group: &str) -> String {
    let member = join_one(c, group).await;
    assert_eq!(sync_leader(c, group, &member).await.error_code, 0);
    member
}

async fn heartbeat(c: &GroupCoordinator, group: &str, member: &str) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id(1);
    c.heartbeat(req, 4).await.error_code
}

fn commit_req(group: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("m")))])])
}

async fn commit(c: &GroupCoordinator, group: &str, offset: i64) -> i16 {
    c.offset_commit(commit_req(group, offset), 8).await.topics[0].partitions[0].error_code
}

/// The committed offset of `group` on `t`-0 (-1 if none).
async fn fetched(c: &GroupCoordinator, group: &str) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partition_indexes(vec![0])]));
    let resp = c.offset_fetch(req, 7).await;
    assert_eq!(resp.error_code, 0);
    resp.topics[0].partitions[0].committed_offset
}

/// A hook that holds every write to partition `p` until released; `entered` gets one message
/// per held write.
struct Gate {
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn gate(c: &GroupCoordinator, p: i32) -> Gate {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let release_rx = Mutex::new(release_rx);
    let hook: WriteHook = Arc::new(move |partition| {
        if partition == p {
            let _ = entered_tx.lock().unwrap().send(());
            let _ = release_rx.lock().unwrap().recv_timeout(BOUND);
        }
        Ok(())
    });
    c.set_write_hook(Some(hook));
    Gate { entered, release }
}

impl Gate {
    async fn wait_entered(&self) {
        let got = tokio::task::block_in_place(|| self.entered.recv_timeout(BOUND));
        assert!(got.is_ok(), "the write never started");
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("blocked behind another group's write")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_and_reads_are_answered_while_a_commit_is_stuck_in_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    let near = "hb-near".to_string();
    let p = partition_for(&near, 50);
    let stuck = group_in(p, true, &near);
    let far = group_in(p, false, &near);
    let near_member = stable_member(&c, &near).await;
    let far_member = stable_member(&c, &far).await;

    let gate = gate(&c, p);
    let c2 = c.clone();
    let g = stuck.clone();
    let committing = tokio::spawn(async move { commit(&c2, &g, 42).await });
    gate.wait_entered().await;

    // The commit's write is held "in fsync" for partition `p`: a heartbeat of another group in
    // the same partition, one in another partition, and reads are all answered meanwhile.
    assert_eq!(bounded(heartbeat(&c, &near, &near_member)).await, 0);
    assert_eq!(bounded(heartbeat(&c, &far, &far_member)).await, 0);
    assert_eq!(
        bounded(fetched(&c, &stuck)).await,
        -1,
        "pending, not yet visible"
    );
    let described = bounded(c.describe_groups(
        DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&near))]),
        5,
    ))
    .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    // A change in another partition is not held up either.
    let far_committer = group_in(p, false, &far);
    assert_eq!(bounded(commit(&c, &far_committer, 7)).await, 0);
    assert!(!committing.is_finished(), "the commit waits for its fsync");

    gate.release.send(()).unwrap();
    assert_eq!(bounded(committing).await.unwrap(), 0);
    assert_eq!(fetched(&c, &stuck).await, 42);
    c.set_write_hook(None);
    c.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_of_one_group_reach_the_log_in_the_order_they_were_applied() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    let group = "ordered";
    let gate = gate(&c, partition_for(group, 50));
    let c1 = c.clone();
    let first = tokio::spawn(async move { commit(&c1, group, 1).await });
    gate.wait_entered().await;
    let c2 = c.clone();
    let second = tokio::spawn(async move { commit(&c2, group, 2).await });
    // The second commit queues behind the first write: it cannot have been applied yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished());
    assert_eq!(fetched(&c, group).await, -1);
    gate.release.send(()).unwrap();
    assert_eq!(bounded(first).await.unwrap(), 0);
    gate.wait_entered().await;
    gate.release.send(()).unwrap();
    assert_eq!(bounded(second).await.unwrap(), 0);
    assert_eq!(fetched(&c, group).await, 2);
    c.set_write_hook(None);
    c.close().unwrap();
    let reopened = open(dir.path()).await;
    assert_eq!(
        fetched(&reopened, group).await,
        2,
        "the log replays in apply order"
    );
    reopened.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_leaves_no_state_claiming_durability() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    assert_eq!(commit(&c, "standalone", 5).await, 0);
    let member = join_one(&c, "grp").await;
    let fail: WriteHook = Arc::new(|_| Err(std::io::Error::other("disk on fire")));
    c.set_write_hook(Some(fail));

    // OffsetCommit: refused, the old offset stays, and no group is created for a new id.
    assert_eq!(
        commit(&c, "standalone", 6).await,
        codes::COORDINATOR_NOT_AVAILABLE
    );
    assert_eq!(fetched(&c, "standalone").await, 5);
    assert_eq!(
        commit(&c, "fresh", 1).await,
        codes::COORDINATOR_NOT_AVAILABLE
    );
    assert!(!c.group_states().iter().any(|(g, _)| g == "fresh"));

    // SyncGroup: the assignment was not stored, so the group does not become Stable.
    let synced = sync_leader(&c, "grp", &member).await;
    assert_eq!(synced.error_code, codes::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(
        heartbeat(&c, "grp", &member).await,
        codes::REBALANCE_IN_PROGRESS
    );

    // DeleteGroups: the group stays.
    let deleted = c
        .delete_groups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("standalone"))]),
            2,
        )
        .await;
    assert_eq!(
        deleted.results[0].error_code,
        codes::COORDINATOR_NOT_AVAILABLE
    );
    assert_eq!(fetched(&c, "standalone").await, 5);

    // Once writes work again, so does everything.
    c.set_write_hook(None);
    assert_eq!(commit(&c, "standalone", 6).await, 0);
    assert_eq!(fetched(&c, "standalone").await, 6);
    c.close().unwrap();
    let reopened = open(dir.path()).await;
    assert_eq!(fetched(&reopened, "standalone").await, 6);
    assert_eq!(fetched(&reopened, "fresh").await, -1);
    reopened.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_replacement_that_cannot_be_stored_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    let group = "static";
    let static_join = || join_req(group, "").with_group_instance_id(Some(s("inst")));
    let joined = c.join_group(static_join(), 5, "cl", "/h").await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let old = joined.member_id.to_string();
    assert_eq!(sync_leader(&c, group, &old).await.error_code, 0);
    let static_heartbeat = |member: String| {
        let c = c.clone();
        async move {
            let req = HeartbeatRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_member_id(s(&member))
                .with_group_instance_id(Some(s("inst")))
                .with_generation_id(1);
            c.heartbeat(req, 4).await.error_code
        }
    };

    let fail: WriteHook = Arc::new(|_| Err(std::io::Error::other("disk on fire")));
    c.set_write_hook(Some(fail));
    let refused = c.join_group(static_join(), 5, "cl", "/h").await;
    assert_eq!(refused.error_code, codes::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(
        static_heartbeat(old.clone()).await,
        0,
        "the old id is still the member"
    );

    c.set_write_hook(None);
    let replaced = c.join_group(static_join(), 5, "cl", "/h").await;
    assert_eq!((replaced.error_code, replaced.generation_id), (0, 1));
    let new = replaced.member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(static_heartbeat(old).await, codes::FENCED_INSTANCE_ID);
    assert_eq!(static_heartbeat(new).await, 0);
    c.close().unwrap();
}
