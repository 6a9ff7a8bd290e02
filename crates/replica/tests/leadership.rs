//! The replica layer over a real log: a partition that becomes leader of three replicas counts
//! every follower in sync until `replica.lag.time.max.ms` passes without a fetch (the creating
//! broker's first state once shrank the ISR at once), its high watermark is the minimum over
//! the ISR, and a follower role leaves the high watermark to the leader.

use std::sync::Arc;

use strata_log::{Durability, LogConfig, PartitionLog};
use strata_replica::{Partition, ReplicaState, TopicSettings};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn partition(dir: &std::path::Path) -> Partition {
    let log = PartitionLog::open(dir, "t-id", LogConfig::default(), now()).unwrap();
    let settings = Arc::new(TopicSettings {
        log: LogConfig::default(),
        min_insync_replicas: 2,
        remote_storage_enable: false,
        retention_ms: -1,
        retention_bytes: -1,
        deletes_by_retention: true,
        acks_all_fsync: false,
        parquet_enable: false,
        parquet_max_lag_segments: 10,
    });
    Partition::new(
        "t".into(),
        "t-id".into(),
        0,
        log,
        settings,
        ReplicaState::single_node(1),
    )
}

fn append(p: &Partition, n: i64) {
    let batch =
        strata_records::testing::build_batch(now(), &[(Some(b"k"), Some(b"v"), 0)], -1, -1, -1);
    for _ in 0..n {
        p.log()
            .append_deferred(&batch, p.leader_epoch(), now(), Durability::PageCache)
            .unwrap();
    }
}

#[test]
fn a_new_leader_counts_its_followers_in_sync_and_the_isr_bounds_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path());
    p.set_replica_state(ReplicaState::from_metadata(
        1,
        vec![1, 2, 3],
        1,
        0,
        vec![1, 2, 3],
        0,
    ));
    let state = p.replica_state();
    assert!(
        state.lagging_in_sync(now(), 30_000, 1).is_empty(),
        "no follower is out of sync before a lag period has passed: {:?}",
        state.followers
    );
    assert_eq!(
        state.lagging_in_sync(now() + 31_000, 30_000, 1),
        vec![2, 3],
        "after it, the silent ones are"
    );

    append(&p, 5);
    assert!(!p.refresh_high_watermark(), "no follower has fetched yet");
    assert_eq!(p.log().high_watermark(), 0);
    assert_eq!(
        p.record_follower_fetch(2, 5, now()),
        0,
        "node 3 still lacks everything"
    );
    assert_eq!(p.record_follower_fetch(3, 3, now()), 3);
    assert_eq!(p.record_follower_fetch(3, 5, now()), 5);

    // Leaving the ISR: the high watermark then follows the rest.
    p.set_replica_state(ReplicaState::from_metadata(
        1,
        vec![1, 2, 3],
        1,
        0,
        vec![1, 2],
        1,
    ));
    append(&p, 2);
    assert_eq!(p.record_follower_fetch(2, 7, now()), 7);

    // As a follower the replica layer leaves the high watermark alone.
    p.set_replica_state(ReplicaState::from_metadata(
        1,
        vec![1, 2, 3],
        2,
        1,
        vec![2, 3],
        2,
    ));
    assert_eq!(p.following(), Some(2));
    assert!(!p.refresh_high_watermark());
}

/// A new leader records where its epoch starts even before anything is appended in it (Kafka's
/// `maybeAssignEpochStartOffset`): a consumer that learned epoch 0 at offset 0 from the first
/// leader and asks the next one (OffsetForLeaderEpoch) gets epoch 0 ending at 0, not "unknown"
/// (which librdkafka reports as log truncation and, with `auto.offset.reset=error`, stops on).
#[test]
fn a_new_leader_answers_for_epochs_before_its_first_append() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path());
    assert_eq!(
        p.log().end_offset_for_epoch(0),
        (0, 0),
        "the first leader's epoch"
    );
    p.set_replica_state(ReplicaState::from_metadata(
        2,
        vec![1, 2],
        1,
        0,
        vec![1, 2],
        0,
    ));
    p.set_replica_state(ReplicaState::from_metadata(2, vec![1, 2], 2, 3, vec![2], 1));
    assert_eq!(p.log().end_offset_for_epoch(3), (3, 0));
    assert_eq!(p.log().end_offset_for_epoch(0), (0, 0));
    append(&p, 4);
    p.set_replica_state(ReplicaState::from_metadata(2, vec![1, 2], 2, 5, vec![2], 2));
    assert_eq!(p.log().end_offset_for_epoch(3), (3, 4));
    assert_eq!(p.log().end_offset_for_epoch(5), (5, 4));
    assert_eq!(p.log().end_offset_for_epoch(6), (-1, -1));
    // The history survives a restart.
    drop(p);
    let log = PartitionLog::open(dir.path(), "t-id", LogConfig::default(), now()).unwrap();
    assert_eq!(log.end_offset_for_epoch(3), (3, 4));
}
