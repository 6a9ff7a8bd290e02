//! The replicated write path at the log: follower appends of leader-assigned batches,
//! truncation of a diverged tail, and the externally set high watermark.

mod common;

use common::*;
use strata_log::{Durability, LogConfig, LogError, PartitionLog};

/// Appends `n` single-record batches as a leader in `epoch`; returns the stored bytes.
fn lead(log: &mut PartitionLog, n: usize, epoch: i32) {
    for _ in 0..n {
        log.append_deferred(&batch(10, 1, 20), epoch, 2_000, Durability::PageCache)
            .unwrap();
    }
}

/// The stored bytes of the whole log (what a follower fetches from the leader).
fn stored(log: &PartitionLog) -> Vec<u8> {
    log.read(log.log_start_offset(), usize::MAX, i64::MAX)
        .unwrap()
        .read_to_vec()
        .unwrap()
}

#[test]
fn a_follower_copies_leader_batches_byte_for_byte() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default());
    lead(&mut leader, 3, 4);
    lead(&mut leader, 2, 5);
    let bytes = stored(&leader);
    let mut follower = open(follower_dir.path(), LogConfig::default());
    follower.set_replicated(true);
    let out = follower
        .append_as_follower(&bytes, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!(
        out,
        strata_log::ReplicaAppend {
            first_offset: 0,
            log_end: 5,
            batches: 5,
            sync_end: Some(5),
        }
    );
    assert_eq!(stored(&follower), bytes, "identical bytes");
    assert_eq!(
        follower.high_watermark(),
        0,
        "set by the replica layer only"
    );
    assert_eq!(follower.leader_epoch(), 5);
    assert_eq!(follower.end_offset_for_epoch(4), (4, 3));
    follower.set_high_watermark(4);
    assert_eq!(follower.high_watermark(), 4);
    follower.set_high_watermark(99);
    assert_eq!(follower.high_watermark(), 5, "clamped to the log end");
}

#[test]
fn a_follower_refuses_overlaps_and_bad_crcs_writing_nothing() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), LogConfig::default());
    lead(&mut leader, 3, 1);
    let bytes = stored(&leader);
    let mut follower = open(follower_dir.path(), LogConfig::default());
    let first_len = bytes.len() / 3;
    // The second batch twice: it overlaps itself.
    let mut overlap = bytes[..2 * first_len].to_vec();
    overlap.extend_from_slice(&bytes[first_len..2 * first_len]);
    let err = follower
        .append_as_follower(&overlap, 2_000, Durability::PageCache)
        .unwrap_err();
    assert!(matches!(err, LogError::Records(_)), "{err}");
    // A flipped byte in the last batch's records: the whole buffer is refused.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let err = follower
        .append_as_follower(&bad, 2_000, Durability::PageCache)
        .unwrap_err();
    assert_eq!(err.kafka_error_code(), 2, "CORRUPT_MESSAGE: {err}");
    assert_eq!(follower.log_end_offset(), 0, "nothing written");
    assert!(!follower.is_offline());
    follower
        .append_as_follower(&bytes, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(follower.log_end_offset(), 3);
    let err = follower
        .append_as_follower(&bytes[2 * first_len..], 2_000, Durability::PageCache)
        .unwrap_err();
    assert!(
        matches!(err, LogError::Records(_)),
        "an overlap of the log: {err}"
    );

    // A gap (a batch a compacting leader's cleaner removed) is taken, offsets as they are.
    let gap_dir = tempfile::tempdir().unwrap();
    let mut gapped = open(gap_dir.path(), LogConfig::default());
    let taken = gapped
        .append_as_follower(&bytes[first_len..], 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(
        (taken.first_offset, taken.log_end, taken.batches),
        (0, 3, 2)
    );
    let slice = gapped.read(0, 1 << 20, 3).unwrap();
    assert_eq!(slice.first_offset, 1);
}

#[test]
fn truncate_to_cuts_whole_batches_across_segments_and_forgets_later_epochs() {
    let dir = tempfile::tempdir().unwrap();
    // Three single-record batches per segment.
    let mut log = open(dir.path(), small_segments(3 * 90));
    lead(&mut log, 4, 1);
    lead(&mut log, 5, 2);
    assert_eq!(log.log_end_offset(), 9);
    assert!(log.segment_count() >= 3);
    assert_eq!(log.end_offset_for_epoch(1), (1, 4));
    let end = log.truncate_to(3).unwrap();
    assert_eq!(end, 3);
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.high_watermark(), 3);
    assert_eq!(log.leader_epoch(), 1, "epoch 2 started at 4: forgotten");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(
        names.iter().all(|n| n.as_str() <= seg(3, "log").as_str()),
        "segments past the cut are gone: {names:?}"
    );
    // The log continues at 3, and a reopen (recovery) agrees.
    lead(&mut log, 1, 3);
    assert_eq!(log.log_end_offset(), 4);
    let kept = stored(&log);
    drop(log);
    let log = open(dir.path(), small_segments(3 * 90));
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(stored(&log), kept);
    assert_eq!(log.leader_epoch(), 3);
}

#[test]
fn truncate_inside_a_batch_removes_the_whole_batch_and_rebuilds_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append_deferred(&idem(9, 0, 0, 3), 0, 2_000, Durability::PageCache)
        .unwrap();
    log.append_deferred(&idem(9, 0, 3, 3), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(
        log.truncate_to(4).unwrap(),
        3,
        "offsets 3..=5 were one batch"
    );
    // The producer's next expected sequence is 3 again: the cut batch can be re-sent.
    let again = log
        .append_deferred(&idem(9, 0, 3, 3), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!((again.duplicate, again.base_offset), (false, 3));
    // Truncating at or past the end changes nothing; below the log start is refused.
    assert_eq!(log.truncate_to(100).unwrap(), 6);
    log.delete_records_before(2).unwrap();
    assert!(matches!(
        log.truncate_to(1),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn a_follower_behind_the_leaders_log_start_restarts_empty_there() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let config = small_segments(3 * 90);
    let mut leader = open(leader_dir.path(), config.clone());
    lead(&mut leader, 9, 2);
    assert_eq!(leader.delete_records_before(6).unwrap(), 6);
    // A stale copy: two batches of an older epoch, all below the leader's log start.
    let mut follower = open(follower_dir.path(), config.clone());
    lead(&mut follower, 2, 1);
    follower.truncate_fully_and_start_at(6).unwrap();
    assert_eq!(
        (
            follower.log_start_offset(),
            follower.log_end_offset(),
            follower.high_watermark(),
            follower.leader_epoch()
        ),
        (6, 6, 6, -1)
    );
    assert_eq!(follower.segment_count(), 1);
    let bytes = leader
        .read(6, usize::MAX, i64::MAX)
        .unwrap()
        .read_to_vec()
        .unwrap();
    follower.set_replicated(true);
    let out = follower
        .append_as_follower(&bytes, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!((out.first_offset, out.log_end), (6, 9));
    assert_eq!(follower.leader_epoch(), 2);
    let copied = stored(&follower);
    assert_eq!(copied, bytes, "the leader's bytes from its log start");
    drop(follower);
    let follower = open(follower_dir.path(), config);
    assert_eq!(
        (follower.log_start_offset(), follower.log_end_offset()),
        (6, 9)
    );
    assert_eq!(stored(&follower), copied);
}
