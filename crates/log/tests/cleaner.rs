//! The log cleaner: latest value per key at its original offset, tombstones past
//! `delete.retention.ms`, aborted transactions, a bounded offset map, and a crash at every step
//! of the swap. Offsets, keys and values are exact.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{open, small_segments, TOPIC};
use strata_log::{
    CleanOutcome, CleanerConfig, Durability, LogConfig, PartitionLog, SwapStep, TxnMarker,
};
use strata_records::testing::{build_batch, build_compressed_batch};
use strata_records::{decode_records, BatchHeader, Compression};

const DAY: i64 = 24 * 60 * 60 * 1000;

fn cfg() -> CleanerConfig {
    CleanerConfig {
        min_cleanable_dirty_ratio: 0.01,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
        delete_retention_ms: DAY,
        dedupe_buffer_bytes: 1 << 20,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Appends one record `key=value` (`None` = tombstone); returns its offset.
fn put(log: &mut PartitionLog, key: &str, value: Option<&str>) -> i64 {
    let mut b = build_batch(
        1_000,
        &[(Some(key.as_bytes()), value.map(str::as_bytes), 0)],
        -1,
        -1,
        -1,
    );
    log.append(&mut b, 0, 1_000).unwrap().base_offset
}

/// Every record from the log start: offset → (key, value).
fn records(log: &PartitionLog) -> BTreeMap<i64, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    let mut offset = log.log_start_offset();
    let end = log.high_watermark();
    while offset < end {
        let slice = log.read(offset, 1 << 20, end).unwrap();
        let buf = slice.read_to_vec().unwrap();
        assert!(!buf.is_empty(), "empty read at {offset}");
        let mut at = 0;
        while at < buf.len() {
            let h = BatchHeader::parse(&buf[at..]).unwrap();
            let batch = &buf[at..at + h.total_len()];
            if !h.is_control() {
                for r in decode_records(batch).unwrap() {
                    let key = String::from_utf8(r.key.unwrap()).unwrap();
                    let value = r.value.map(|v| String::from_utf8(v).unwrap());
                    out.insert(r.offset, (key, value));
                }
            }
            offset = h.last_offset() + 1;
            at += h.total_len();
        }
    }
    out
}

/// The latest record of every key in `all`, tombstones included.
fn latest(
    all: &BTreeMap<i64, (String, Option<String>)>,
) -> BTreeMap<i64, (String, Option<String>)> {
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (&o, (k, _)) in all {
        last.insert(k.clone(), o);
    }
    last.values().map(|o| (*o, all[o].clone())).collect()
}

/// 5 keys × 8 updates, then a tombstone for k0, then one record in the active segment.
fn fill(log: &mut PartitionLog) {
    for n in 0..40 {
        put(log, &format!("k{}", n % 5), Some(&format!("v{n}")));
    }
    put(log, "k0", None);
    log.roll_for_test().unwrap();
    put(log, "k9", Some("active"));
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

#[test]
fn keeps_the_latest_value_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(400));
    fill(&mut log);
    let before = records(&log);
    let bytes_before = log.size_bytes();
    let state = log.cleanable_state(&cfg(), now()).unwrap();
    assert_eq!(state.first_dirty_offset, 0);
    assert!(state.dirty_ratio > 0.99 && state.needs_cleaning(&cfg(), now()));
    let outcome = log.clean_now(&cfg(), now()).unwrap();
    assert_eq!(outcome, Some(CleanOutcome::Swapped(41)));
    let after = records(&log);
    let mut want = latest(&before);
    assert_eq!(after, want);
    assert_eq!(
        after[&40],
        ("k0".to_string(), None),
        "a fresh tombstone stays"
    );
    assert_eq!(after[&39], ("k4".to_string(), Some("v39".to_string())));
    assert!(
        log.size_bytes() < bytes_before / 3,
        "{} of {bytes_before}",
        log.size_bytes()
    );
    assert_eq!(log.first_dirty_offset().unwrap(), 41);
    assert_eq!(
        strata_log::read_cleaner_checkpoint(dir.path()).unwrap(),
        Some(41)
    );
    assert_eq!(log.log_end_offset(), 42);
    assert_eq!(log.clean_now(&cfg(), now()).unwrap(), None, "nothing dirty");

    // More updates; a clean a day later drops the tombstone (its segment was cleaned before).
    put(&mut log, "k1", Some("late"));
    log.roll_for_test().unwrap();
    put(&mut log, "k2", Some("active2"));
    let later = now() + 2 * DAY;
    assert_eq!(
        log.clean_now(&cfg(), later).unwrap(),
        Some(CleanOutcome::Swapped(43))
    );
    want.remove(&40);
    want.remove(&36); // k1's v36, superseded by "late" at 42
    want.insert(41, ("k9".to_string(), Some("active".to_string())));
    want.insert(42, ("k1".to_string(), Some("late".to_string())));
    want.insert(43, ("k2".to_string(), Some("active2".to_string())));
    // k2's v37 stays: "active2" (43) is in the active segment, outside the offset map.
    assert_eq!(records(&log), want);

    // Reopening (clean and after a crash) serves the same records.
    log.close().unwrap();
    let log = open(dir.path(), small_segments(400));
    assert_eq!(records(&log), want);
    drop(log);
    let log = PartitionLog::open(dir.path(), TOPIC, small_segments(400), 1_000).unwrap();
    assert_eq!(records(&log), want);
}

#[test]
fn compressed_batches_keep_their_codec_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(300));
    let mut seq = 0;
    for round in 0..6 {
        let values: Vec<String> = (0..4).map(|i| format!("r{round}-{i}")).collect();
        let recs: Vec<_> = (0..4)
            .map(|i| (format!("k{i}").into_bytes(), values[i].clone().into_bytes()))
            .collect();
        let test: Vec<strata_records::testing::TestRecord<'_>> = recs
            .iter()
            .map(|(k, v)| (Some(k.as_slice()), Some(v.as_slice()), 0))
            .collect();
        let count = round % 4 + 1;
        let mut b = build_compressed_batch(Compression::Zstd, 1_000, &test[..count], 5, 0, seq);
        seq += count as i32;
        log.append(&mut b, 0, 1_000).unwrap();
    }
    log.roll_for_test().unwrap();
    put(&mut log, "x", Some("y"));
    let before = records(&log);
    log.clean_now(&cfg(), now()).unwrap().unwrap();
    assert_eq!(records(&log), latest(&before));
    // Every remaining data batch is still zstd and keeps producer id 5.
    let slice = log.read(0, 1 << 20, log.high_watermark()).unwrap();
    let buf = slice.read_to_vec().unwrap();
    let h = BatchHeader::parse(&buf).unwrap();
    assert_eq!(h.compression().unwrap(), Compression::Zstd);
    assert_eq!(h.producer_id, 5);
}

#[test]
fn aborted_transactions_are_dropped_and_markers_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(100_000));
    let marker = |commit| TxnMarker {
        producer_id: 9,
        producer_epoch: 0,
        commit,
        coordinator_epoch: 1,
    };
    put(&mut log, "a", Some("plain"));
    let mut t = build_batch(1_000, &[(Some(b"a"), Some(b"aborted"), 0)], 9, 0, 0);
    t[21..23].copy_from_slice(&0x10i16.to_be_bytes());
    let crc = strata_records::compute_crc(&t);
    t[17..21].copy_from_slice(&crc.to_be_bytes());
    log.append(&mut t, 0, 1_000).unwrap();
    let abort = log
        .append_marker(&marker(false), 0, 1_000, Durability::PageCache)
        .unwrap()
        .base_offset;
    log.roll_for_test().unwrap();
    put(&mut log, "z", Some("active"));
    log.clean_now(&cfg(), now()).unwrap().unwrap();
    let got = records(&log);
    assert_eq!(
        got.get(&0),
        Some(&("a".to_string(), Some("plain".to_string())))
    );
    assert!(!got.contains_key(&1), "aborted data is gone");
    // The ABORT marker is still there (not past delete.retention.ms).
    let slice = log.read(abort, 1 << 20, log.high_watermark()).unwrap();
    let buf = slice.read_to_vec().unwrap();
    let h = BatchHeader::parse(&buf).unwrap();
    assert!(h.is_control());
    assert_eq!(h.base_offset, abort);
}

#[test]
fn a_small_offset_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(400));
    for n in 0..60 {
        put(&mut log, &format!("key-{n:03}"), Some("v"));
        put(&mut log, &format!("key-{n:03}"), Some("w"));
    }
    log.roll_for_test().unwrap();
    put(&mut log, "z", Some("active"));
    let before = records(&log);
    let small = CleanerConfig {
        dedupe_buffer_bytes: 20 * 60,
        ..cfg()
    };
    let mut passes = 0;
    while let Some(CleanOutcome::Swapped(end)) = log.clean_now(&small, now()).unwrap() {
        passes += 1;
        assert!(end <= 120);
        assert!(passes < 50);
    }
    assert!(passes > 1, "the map bounded each pass");
    assert_eq!(log.first_dirty_offset().unwrap(), 120);
    assert_eq!(records(&log), latest(&before));
}

#[test]
fn a_crash_at_any_swap_step_leaves_the_old_or_the_new_segments() {
    for step in [
        SwapStep::Cleaned,
        SwapStep::Swapped,
        SwapStep::OldDeleted,
        SwapStep::Renamed,
        SwapStep::Done,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_segments(400);
        let mut log = open(dir.path(), config.clone());
        fill(&mut log);
        log.flush().unwrap();
        let before = records(&log);
        let after = latest(&before);
        let job = log.prepare_clean(&cfg(), now()).unwrap().unwrap();
        let built = job.build(&mut |_| {}).unwrap();
        log.finish_clean_until(built, step).unwrap();
        drop(log); // a crash: no clean shutdown
        let mut log = PartitionLog::open(dir.path(), TOPIC, config.clone(), 1_000).unwrap();
        assert!(
            leftovers(dir.path()).is_empty(),
            "{step:?}: {:?}",
            leftovers(dir.path())
        );
        let got = records(&log);
        if step >= SwapStep::Swapped {
            assert_eq!(got, after, "{step:?}: the swap completes");
        } else {
            assert_eq!(got, before, "{step:?}: the old segments stay");
        }
        assert_eq!(log.log_end_offset(), 42, "{step:?}");
        // Cleaning again converges to the same records.
        log.clean_now(&cfg(), now()).unwrap();
        assert_eq!(records(&log), after, "{step:?}");
        put(&mut log, "k3", Some("new"));
        assert_eq!(log.log_end_offset(), 43);
    }
}

#[test]
fn min_compaction_lag_keeps_young_segments_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 400,
            ..LogConfig::default()
        },
    );
    fill(&mut log);
    let lagged = CleanerConfig {
        min_compaction_lag_ms: i64::MAX / 4,
        ..cfg()
    };
    assert_eq!(log.clean_now(&lagged, 2_000).unwrap(), None);
    let state = log.cleanable_state(&lagged, 2_000).unwrap();
    assert_eq!((state.dirty_bytes, state.cleanable_end), (0, 0));
}

/// `migrations/golden/v2/partition-cleaner/cleaner-offset-checkpoint` (version 0, offset 41) is
/// read as written, and a clean of the same log writes the same bytes.
#[test]
fn golden_cleaner_checkpoint() {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v2/partition-cleaner");
    assert_eq!(
        strata_log::read_cleaner_checkpoint(&golden).unwrap(),
        Some(41)
    );
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(400));
    fill(&mut log);
    log.clean_now(&cfg(), now()).unwrap().unwrap();
    let name = strata_log::CLEANER_CHECKPOINT;
    assert_eq!(
        std::fs::read(dir.path().join(name)).unwrap(),
        std::fs::read(golden.join(name)).unwrap()
    );
    std::fs::write(dir.path().join(name), "1\n41\n").unwrap();
    assert!(
        strata_log::read_cleaner_checkpoint(dir.path()).is_err(),
        "unknown version"
    );
}

/// Tiered topics are not cleaned locally (their compaction happens in the bucket).
#[test]
fn tiered_logs_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 400,
        remote_storage_enable: true,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    fill(&mut log);
    assert_eq!(log.clean_now(&cfg(), now()).unwrap(), None);
}

/// A truncation below the cleaner checkpoint lowers it: what is written again is dirty.
#[test]
fn truncation_lowers_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments(400));
    fill(&mut log);
    log.clean_now(&cfg(), now()).unwrap().unwrap();
    assert_eq!(log.first_dirty_offset().unwrap(), 41);
    let end = log.truncate_to(39).unwrap();
    assert!(end <= 39);
    assert_eq!(
        strata_log::read_cleaner_checkpoint(dir.path()).unwrap(),
        Some(end)
    );
    assert_eq!(log.first_dirty_offset().unwrap(), end);
}

/// Cleaner throughput (ignored; run with `--release -- --ignored --nocapture bench`):
/// `STRATA_CLEANER_BENCH_MB` MiB (default 256) of keyed records (100-byte values, 100 records
/// per batch) with 1 %, 10 % and 100 % unique keys.
#[test]
#[ignore]
fn bench_cleaner_throughput() {
    let mib: usize = std::env::var("STRATA_CLEANER_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let value = [b'v'; 100];
    for unique_percent in [1usize, 10, 100] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_segments(64 << 20));
        let records_total = (mib << 20) / 130;
        let unique = (records_total * unique_percent / 100).max(1);
        let keys: Vec<String> = (0..unique).map(|k| format!("key-{k:012}")).collect();
        let mut n = 0usize;
        while n < records_total {
            let recs: Vec<strata_records::testing::TestRecord<'_>> = (0..100)
                .map(|i| (Some(keys[(n + i) % unique].as_bytes()), Some(&value[..]), 0))
                .collect();
            let mut b = build_batch(1_000, &recs, -1, -1, -1);
            log.append(&mut b, 0, 1_000).unwrap();
            n += 100;
        }
        log.roll_for_test().unwrap();
        let size = log.size_bytes();
        let config = CleanerConfig {
            dedupe_buffer_bytes: 128 << 20,
            ..cfg()
        };
        let started = std::time::Instant::now();
        let job = log.prepare_clean(&config, now()).unwrap().unwrap();
        let built = job.build(&mut |_| {}).unwrap();
        let (read, written, fill) = (built.bytes_read, built.bytes_written, built.map_fill_ratio);
        log.finish_clean(built).unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{unique_percent:>3}% unique keys: {:.0} MiB log, read {:.0} MiB, wrote {:.1} MiB in {secs:.2} s = {:.0} MB/s of log, {:.0} MB/s read; map {:.1} MiB ({:.0}% of 128 MiB)",
            size as f64 / 1048576.0,
            read as f64 / 1048576.0,
            written as f64 / 1048576.0,
            size as f64 / 1e6 / secs,
            read as f64 / 1e6 / secs,
            fill * 128.0,
            fill * 100.0
        );
    }
}

/// Copies the sealed `.log` files of `log` into `scratch`; returns their base offsets.
fn copy_sealed(log: &PartitionLog, scratch: &Path) -> Vec<i64> {
    log.sealed_segments()
        .iter()
        .map(|s| {
            let to = scratch.join(strata_log::segment_file_name(s.base_offset, "log"));
            std::fs::copy(&s.log_path, to).unwrap();
            s.base_offset
        })
        .collect()
}

/// The remote compaction's clean (segments downloaded into a scratch directory): the same
/// result as a local clean, whole-segment boundaries, and tombstones dated by the previous
/// clean of their segment.
#[test]
fn a_detached_clean_compacts_downloaded_segments() {
    let source = tempfile::tempdir().unwrap();
    let mut log = open(source.path(), small_segments(400));
    fill(&mut log);
    let before = records(&log);
    let scratch = tempfile::tempdir().unwrap();
    let bases = copy_sealed(&log, scratch.path());
    assert!(bases.len() > 3, "{bases:?}");
    let segments: Vec<_> = bases
        .iter()
        .map(|&b| strata_log::DetachedSegment {
            base_offset: b,
            cleaned_at_ms: None,
        })
        .collect();
    let job = |dir, segments, first_dirty, now_ms| strata_log::DetachedJob {
        dir,
        topic_id: TOPIC,
        // Bigger than the source's segments: adjacent small ones are merged.
        config: small_segments(4000),
        cleaner: cfg(),
        segments,
        first_dirty,
        now_ms,
    };
    let mut throttled = 0;
    let clean = strata_log::clean_detached(job(scratch.path(), &segments, 0, now()), &mut |n| {
        throttled += n
    })
    .unwrap()
    .expect("dirty segments");
    assert_eq!(clean.cleaned_end, 41);
    assert!(
        throttled >= clean.bytes_read && clean.bytes_read > 0,
        "every byte read is throttled"
    );
    // Contiguous from 0 to 41, each boundary one of the input's.
    let mut at = 0;
    for s in &clean.segments {
        assert_eq!(s.base_offset, at);
        assert!(bases.contains(&s.base_offset));
        at = s.end_offset;
    }
    assert_eq!(at, 41);
    assert!(clean.segments.len() < bases.len(), "small segments merged");
    let cleaned = PartitionLog::open(scratch.path(), TOPIC, small_segments(400), now()).unwrap();
    let want: BTreeMap<_, _> = latest(&before)
        .into_iter()
        .filter(|(o, _)| *o < 41)
        .collect();
    assert_eq!(records(&cleaned), want);
    let cleaned_segments: Vec<_> = cleaned
        .sealed_segments()
        .iter()
        .map(|s| s.base_offset)
        .collect();
    drop(cleaned);

    // A later clean with one more dirty segment, two days after the first: the tombstone of k0
    // goes (its segment was cleaned more than delete.retention.ms ago), and so does k1's old
    // value.
    let second = tempfile::tempdir().unwrap();
    for &b in &cleaned_segments {
        let name = strata_log::segment_file_name(b, "log");
        std::fs::copy(scratch.path().join(&name), second.path().join(&name)).unwrap();
    }
    let more_dir = tempfile::tempdir().unwrap();
    let mut more = open(more_dir.path(), LogConfig::default());
    more.truncate_fully_and_start_at(41).unwrap();
    put(&mut more, "k1", Some("late"));
    more.roll_for_test().unwrap();
    let extra = more.sealed_segments()[0].clone();
    assert_eq!(extra.base_offset, 41);
    std::fs::copy(
        &extra.log_path,
        second.path().join(strata_log::segment_file_name(41, "log")),
    )
    .unwrap();
    let later = now() + 2 * DAY;
    let mut segments: Vec<_> = cleaned_segments
        .iter()
        .map(|&b| strata_log::DetachedSegment {
            base_offset: b,
            cleaned_at_ms: Some(now()),
        })
        .collect();
    segments.push(strata_log::DetachedSegment {
        base_offset: 41,
        cleaned_at_ms: None,
    });
    let clean = strata_log::clean_detached(job(second.path(), &segments, 41, later), &mut |_| {})
        .unwrap()
        .expect("one dirty segment");
    assert_eq!(clean.cleaned_end, 42);
    let cleaned = PartitionLog::open(second.path(), TOPIC, small_segments(400), later).unwrap();
    let got = records(&cleaned);
    assert!(
        !got.values().any(|(k, _)| k == "k0"),
        "tombstone gone: {got:?}"
    );
    assert_eq!(got[&41], ("k1".to_string(), Some("late".to_string())));
    assert_eq!(got.len(), 4, "k1..k4, latest only: {got:?}");
}
