//! Group commit at the log: deferred appends, the held high watermark, sync plans.

mod common;

use common::*;
use strata_log::{Durability, LogConfig};

#[test]
fn durable_appends_stay_invisible_until_a_sync_plan_completes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let a = log
        .append_deferred(&batch(10, 3, 8), 0, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.sync_end), (0, 2, Some(3)));
    assert_eq!(log.high_watermark(), 0, "held until fsynced");
    assert_eq!(log.log_end_offset(), 3);
    assert!(log.sync_pending());
    // A page-cache append behind held data waits too: it never exposes the held batch.
    let b = log
        .append_deferred(&batch(10, 2, 8), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!((b.base_offset, b.sync_end), (3, None));
    assert_eq!(log.high_watermark(), 0);
    let plan = log.sync_plan().expect("unsynced data");
    assert_eq!((plan.end(), plan.file_count()), (5, 1));
    // Appends while the plan runs are not covered by it.
    let c = log
        .append_deferred(&batch(10, 1, 8), 0, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!(c.sync_end, Some(6));
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    assert_eq!(log.durable_end(), 5);
    assert_eq!(log.high_watermark(), 5, "up to what the plan covered");
    let plan = log.sync_plan().unwrap();
    assert_eq!(plan.end(), 6);
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    assert_eq!((log.durable_end(), log.high_watermark()), (6, 6));
    assert!(!log.sync_pending());
    assert!(log.sync_plan().is_none(), "nothing left to sync");
}

#[test]
fn page_cache_appends_are_visible_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    for i in 0..4 {
        let info = log
            .append_deferred(&batch(10, 2, 8), 0, 2_000, Durability::PageCache)
            .unwrap();
        assert_eq!(info.sync_end, None);
        assert_eq!(log.high_watermark(), 2 * (i + 1));
    }
    assert_eq!(log.durable_end(), 0);
    assert_eq!(log.sync_plan().map(|p| p.end()), Some(8));
}

#[test]
fn flush_messages_makes_a_page_cache_append_wait_for_its_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 3,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let a = log
        .append_deferred(&batch(10, 2, 8), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!((a.sync_end, log.high_watermark()), (None, 2));
    let b = log
        .append_deferred(&batch(10, 1, 8), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(
        b.sync_end,
        Some(3),
        "the third message reaches flush.messages"
    );
    assert_eq!(log.high_watermark(), 2);
    let plan = log.sync_plan().unwrap();
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    assert_eq!(log.high_watermark(), 3);
    // The count restarted with the plan.
    let c = log
        .append_deferred(&batch(10, 2, 8), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert_eq!(c.sync_end, None);
}

#[test]
fn a_retry_of_an_unsynced_batch_waits_for_the_same_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let first = log
        .append_deferred(&idem(7, 0, 0, 4), 0, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!(first.sync_end, Some(4));
    let retry = log
        .append_deferred(&idem(7, 0, 0, 4), 0, 2_000, Durability::Fsync)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.sync_end), (0, Some(4)));
    let plan = log.sync_plan().unwrap();
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    let retry = log
        .append_deferred(&idem(7, 0, 0, 4), 0, 2_000, Durability::Fsync)
        .unwrap();
    assert_eq!((retry.duplicate, retry.sync_end), (true, None));
    assert_eq!(log.log_end_offset(), 4, "retries wrote nothing");
}

#[test]
fn a_deferred_roll_leaves_the_sealed_segment_to_the_flusher() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(2 * BATCH_170 as u64));
    for _ in 0..2 {
        let info = log
            .append_deferred(&batch(10, 1, 100), 0, 2_000, Durability::PageCache)
            .unwrap();
        assert!(!info.sealed_unsynced);
    }
    assert_eq!(log.recovery_point(), 0);
    // The third batch does not fit: the roll seals the first segment without an fsync.
    let c = log
        .append_deferred(&batch(10, 1, 100), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert!(c.sealed_unsynced);
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.high_watermark(), 3, "acks=1 data is visible at once");
    assert_eq!(
        (log.durable_end(), log.recovery_point()),
        (0, 0),
        "nothing claims the sealed segment is on disk yet"
    );
    assert!(
        log.needs_sync(0),
        "the sealed segment's indexes wait for their fsync"
    );
    let plan = log.sync_plan().unwrap();
    assert_eq!(
        plan.file_count(),
        4,
        "the sealed segment's log and two indexes, and the active segment"
    );
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    assert_eq!(log.durable_end(), 3);
    assert!(!log.needs_sync(3));
    assert_eq!(
        log.recovery_point(),
        2,
        "sealed segments are fully synced; the active one's indexes are not"
    );
}

#[test]
fn a_plan_syncing_a_new_segments_directory_keeps_the_seal_pending_until_it_completes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(2 * BATCH_170 as u64));
    for _ in 0..3 {
        log.append_deferred(&batch(10, 1, 100), 0, 2_000, Durability::Fsync)
            .unwrap();
    }
    assert_eq!(log.segment_count(), 2, "the third batch rolled");
    assert!(log.seal_pending());
    let first = log.sync_plan().expect("the roll's directory and files");
    // Taking the plan does not end the seal: a second plan made meanwhile (a follower's own
    // fsync) must not be allowed to complete past the new segment before the directory is
    // synced, so the seal stays pending while the first plan runs.
    assert!(
        log.seal_pending(),
        "the directory's fsync is in flight: still pending"
    );
    log.append_deferred(&batch(10, 1, 100), 0, 2_000, Durability::Fsync)
        .unwrap();
    let second = log.sync_plan().expect("the fourth batch");
    let outcome = second.execute();
    log.complete_sync(&second, outcome).unwrap();
    assert!(
        log.seal_pending(),
        "a plan without the directory does not end the seal"
    );
    let outcome = first.execute();
    log.complete_sync(&first, outcome).unwrap();
    assert!(!log.seal_pending(), "the directory's plan completed");
    assert_eq!(log.durable_end(), 4);
}

#[test]
fn an_inline_roll_fsyncs_the_sealed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(2 * BATCH_170 as u64));
    for _ in 0..3 {
        log.append_shared(&batch(10, 1, 100), 0, 2_000).unwrap();
    }
    assert_eq!(log.segment_count(), 2);
    assert_eq!((log.durable_end(), log.recovery_point()), (2, 2));
}

#[test]
fn the_periodic_flush_plan_follows_flush_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    assert!(log.due_sync_plan(5_000).is_none(), "nothing written");
    log.append_deferred(&batch(10, 1, 8), 0, 1_500, Durability::PageCache)
        .unwrap();
    assert!(log.due_sync_plan(1_900).is_none(), "interval not passed");
    let plan = log.due_sync_plan(2_100).expect("due");
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    assert_eq!(log.durable_end(), 1);
    log.append_deferred(&batch(10, 1, 8), 0, 2_200, Durability::PageCache)
        .unwrap();
    assert!(log.due_sync_plan(2_500).is_none(), "interval restarted");
}

#[test]
fn a_retention_roll_seals_without_fsync_and_leaves_the_sync_to_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    log.append_deferred(&batch(10, 2, 8), 0, 2_000, Durability::PageCache)
        .unwrap();
    assert!(!log.seal_pending());
    assert_eq!(log.apply_retention(5_000).unwrap(), 0);
    assert_eq!(log.segment_count(), 2, "the aged segment rolled");
    assert!(log.seal_pending());
    assert_eq!(log.recovery_point(), 0);
    let plan = log.sync_plan().unwrap();
    let outcome = plan.execute();
    log.complete_sync(&plan, outcome).unwrap();
    assert!(!log.seal_pending());
    assert_eq!((log.durable_end(), log.recovery_point()), (2, 2));
}
