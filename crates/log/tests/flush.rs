//! The flush policy: `flush.messages` on append and `flush.ms` through `flush_if_due`.

mod common;

use common::*;
use strata_log::LogConfig;

#[test]
fn flush_if_due_only_when_unflushed_and_interval_passed() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    // Nothing appended: nothing to flush, however late.
    assert!(!log.flush_if_due(i64::MAX / 2).unwrap());
    let mut b = batch(10, 1, 8);
    // An append long after open flushes on the spot (flush.ms elapsed since the last flush).
    log.append(&mut b, 0, 10_000_000).unwrap();
    assert!(
        !log.flush_if_due(10_000_001).unwrap(),
        "just flushed by the append"
    );
    let mut b = batch(10, 1, 8);
    log.append(&mut b, 0, 10_000_100).unwrap();
    assert!(
        !log.flush_if_due(10_000_500).unwrap(),
        "interval not yet passed"
    );
    assert!(
        log.flush_if_due(10_001_000).unwrap(),
        "interval passed with unflushed data"
    );
    assert!(!log.flush_if_due(10_005_000).unwrap(), "already flushed");
}
