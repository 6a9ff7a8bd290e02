//! Golden files for the v1 partition directory format (`migrations/golden/v1/partition/`).
//!
//! The read tests open a COPY of the golden directory and check exact, hard-coded values, so
//! they fail if a change stops this build from reading what v1 wrote. The rewrite test replays
//! the generator into a fresh directory and requires every file to be byte-identical to the
//! golden one, so it fails if the writer's format changes. A deliberate format change needs a
//! version bump and new golden files under `migrations/golden/v2/` (see `migrations/UPGRADING.md`);
//! the v1 files here must never be regenerated to make a test pass.
//!
//! Regenerate (only when creating the golden set for the first time):
//! `cargo test -p strata-log --test golden_v1 -- --ignored regenerate`

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use strata_log::{LogConfig, LogError, PartitionLog};
use strata_records::testing::build_batch;

/// Topic id stored in `partition.metadata` (the broker passes the topic's UUID).
const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000a001";
/// Base of every timestamp in the golden data: 2023-11-14T22:13:20Z.
const T: i64 = 1_700_000_000_000;
/// The idempotent producer in the golden data.
const PID: i64 = 4242;
/// `now_ms` for open, appends and close (only affects in-memory state).
const NOW: i64 = T + 1_000;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v1/partition")
}

/// The configuration the golden directory was written with.
fn golden_config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

/// The client batches of the golden log, in append order, with the leader epoch of each.
fn golden_batches() -> Vec<(Vec<u8>, i32)> {
    vec![
        // offsets 0..=2, plain batch.
        (
            build_batch(
                T,
                &[
                    (Some(b"k0"), Some(b"alpha"), 0),
                    (Some(b"k1"), Some(b"bravo"), 5),
                    (None, Some(b"charlie"), 10),
                ],
                -1,
                -1,
                -1,
            ),
            0,
        ),
        // offsets 3..=4, idempotent producer PID epoch 0 sequences 0..=1.
        (
            build_batch(
                T + 100,
                &[
                    (Some(b"order-1"), Some(b"created"), 0),
                    (Some(b"order-1"), Some(b"paid"), 1),
                ],
                PID,
                0,
                0,
            ),
            0,
        ),
        // offsets 5..=6, leader epoch 1, timestamps below the max so far (T+101).
        (
            build_batch(
                T + 50,
                &[(None, Some(b"late"), 0), (None, Some(b"later"), 20)],
                -1,
                -1,
                -1,
            ),
            1,
        ),
        // offset 7, idempotent producer sequence 2.
        (
            build_batch(
                T + 200,
                &[(Some(b"order-1"), Some(b"shipped"), 0)],
                PID,
                0,
                2,
            ),
            1,
        ),
        // offsets 8..=10, leader epoch 2, a null value (tombstone) and a null key.
        (
            build_batch(
                T + 300,
                &[
                    (Some(b"k2"), Some(b"delta"), 0),
                    (Some(b"k0"), None, 7),
                    (None, Some(b"echo"), 30),
                ],
                -1,
                -1,
                -1,
            ),
            2,
        ),
        // offsets 11..=12, idempotent producer sequences 3..=4.
        (
            build_batch(
                T + 400,
                &[
                    (Some(b"order-2"), Some(b"created"), 0),
                    (Some(b"order-2"), Some(b"paid"), 2),
                ],
                PID,
                0,
                3,
            ),
            2,
        ),
    ]
}

/// Writes the golden partition into `dir` (which must not hold a partition yet).
fn write_golden_partition(dir: &Path) {
    let mut log = PartitionLog::open(dir, TOPIC_ID, golden_config(), NOW).unwrap();
    for (mut batch, epoch) in golden_batches() {
        let info = log.append(&mut batch, epoch, NOW).unwrap();
        assert!(!info.duplicate);
    }
    // Move the log start past offset 0 so the checkpoint holds a non-trivial value.
    assert_eq!(log.delete_records_before(1).unwrap(), 1);
    assert_eq!(
        log.segment_count(),
        2,
        "the golden log must span two segments"
    );
    log.close().unwrap();
}

/// All files of a directory, by name.
fn read_dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Copies the golden directory into a fresh tempdir (tests never touch the originals).
fn golden_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("golden-0");
    fs::create_dir(&dir).unwrap();
    for (name, bytes) in read_dir_files(&golden_dir()) {
        fs::write(dir.join(name), bytes).unwrap();
    }
    (tmp, dir)
}

fn seg(base: i64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// Batch positions in the golden `.log` files: (segment base, position, length, base offset,
/// last offset).
const BATCHES: [(i64, usize, usize, i64, i64); 6] = [
    (0, 0, 103, 0, 2),
    (0, 103, 100, 3, 4),
    (0, 203, 84, 5, 6),
    (0, 287, 82, 7, 7),
    (8, 0, 95, 8, 10),
    (8, 95, 100, 11, 12),
];

fn golden_batch(i: usize) -> Vec<u8> {
    let (base, pos, len, _, _) = BATCHES[i];
    let log = fs::read(golden_dir().join(seg(base, "log"))).unwrap();
    log[pos..pos + len].to_vec()
}

fn open_golden(dir: &Path) -> PartitionLog {
    PartitionLog::open(dir, TOPIC_ID, golden_config(), NOW).unwrap()
}

/// The golden files themselves, decoded with the layouts documented in `migrations/FORMATS.md`.
/// Guards against the golden set being regenerated by accident.
#[test]
fn golden_files_match_documented_layout() {
    let files = read_dir_files(&golden_dir());
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            ".clean_shutdown",
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex",
            "00000000000000000008.index",
            "00000000000000000008.log",
            "00000000000000000008.timeindex",
            "leader-epoch-checkpoint",
            "log-start-offset-checkpoint",
            "partition.metadata",
            "producer-state.json",
        ]
    );
    let text = |name: &str| String::from_utf8(files[name].clone()).unwrap();
    assert_eq!(
        text("partition.metadata"),
        format!("version: 1\ntopic_id: {TOPIC_ID}\nformat: strata-log-1\n")
    );
    assert_eq!(text("leader-epoch-checkpoint"), "0\n3\n0 1\n1 5\n2 8\n");
    assert_eq!(text("log-start-offset-checkpoint"), "0\n1\n");
    assert_eq!(text(".clean_shutdown"), "version: 1\n");
    let snapshot: serde_json::Value = serde_json::from_str(&text("producer-state.json")).unwrap();
    assert_eq!(
        snapshot,
        serde_json::json!({
            "version": 1,
            "end_offset": 13,
            "producers": [{
                "producer_id": PID,
                "epoch": 0,
                "batches": [
                    {"first_seq": 0, "last_seq": 1, "base_offset": 3, "last_offset": 4},
                    {"first_seq": 2, "last_seq": 2, "base_offset": 7, "last_offset": 7},
                    {"first_seq": 3, "last_seq": 4, "base_offset": 11, "last_offset": 12},
                ],
            }],
        })
    );

    // .index: big-endian (u32 relative offset of a batch's LAST record, u32 batch position).
    let offset_entries = |name: &str| -> Vec<(u32, u32)> {
        files[name]
            .chunks_exact(8)
            .map(|c| {
                (
                    u32::from_be_bytes(c[..4].try_into().unwrap()),
                    u32::from_be_bytes(c[4..].try_into().unwrap()),
                )
            })
            .collect()
    };
    assert_eq!(files[&seg(0, "index")].len(), 24);
    assert_eq!(
        offset_entries(&seg(0, "index")),
        [(4, 103), (6, 203), (7, 287)]
    );
    assert_eq!(offset_entries(&seg(8, "index")), [(4, 95)]);
    // .timeindex: big-endian (i64 max timestamp so far, u32 relative offset holding it).
    let time_entries = |name: &str| -> Vec<(i64, u32)> {
        files[name]
            .chunks_exact(12)
            .map(|c| {
                (
                    i64::from_be_bytes(c[..8].try_into().unwrap()),
                    u32::from_be_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect()
    };
    assert_eq!(files[&seg(0, "timeindex")].len(), 24);
    assert_eq!(
        time_entries(&seg(0, "timeindex")),
        [(T + 101, 4), (T + 200, 7)]
    );
    assert_eq!(time_entries(&seg(8, "timeindex")), [(T + 402, 4)]);

    // .log: v2 batches back to back, base offset and leader epoch patched, CRC valid.
    let epochs = [0, 0, 1, 1, 2, 2];
    for (i, &(base, pos, len, first, last)) in BATCHES.iter().enumerate() {
        let batch = golden_batch(i);
        let header = strata_records::BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.magic, 2);
        assert_eq!(
            header.total_len(),
            len,
            "batch {i} in segment {base} at {pos}"
        );
        assert_eq!((header.base_offset, header.last_offset()), (first, last));
        assert_eq!(header.partition_leader_epoch, epochs[i]);
        assert_eq!(strata_records::compute_crc(&batch), header.crc, "batch {i}");
    }
    assert_eq!(files[&seg(0, "log")].len(), 369);
    assert_eq!(files[&seg(8, "log")].len(), 195);
}

/// A v1 directory opens cleanly: marker honoured, indexes and producer snapshot used as they
/// are, nothing rebuilt or rewritten.
#[test]
fn v1_partition_opens_cleanly_with_exact_state() {
    let (_tmp, dir) = golden_copy();
    let log = open_golden(&dir);
    let report = log.open_report();
    assert!(report.clean_shutdown, "{report:?}");
    assert_eq!(report.scanned_batches, 0, "{report:?}");
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(report.rebuilt_indexes, 0, "{report:?}");
    assert!(!report.producer_state_rebuilt, "{report:?}");

    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.log_start_offset(), 1);
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(log.high_watermark(), 13);
    assert_eq!(log.last_stable_offset(), 13);
    assert_eq!(log.size_bytes(), 369 + 195);
    assert_eq!(log.leader_epoch(), 2);
    assert_eq!(log.end_offset_for_epoch(0), (0, 5));
    assert_eq!(log.end_offset_for_epoch(1), (1, 8));
    assert_eq!(log.end_offset_for_epoch(2), (2, 13));
    assert_eq!(log.end_offset_for_epoch(3), (-1, -1));

    // Opening consumed the marker and the snapshot and left every other file untouched.
    let golden = read_dir_files(&golden_dir());
    let mut expected = golden.clone();
    expected.remove(".clean_shutdown");
    expected.remove("producer-state.json");
    assert_eq!(read_dir_files(&dir), expected);

    // Closing again writes the same files back, except the producer snapshot: it is written
    // as version 2 (the v1 producer gains the v2 defaults; see migrations/UPGRADING.md).
    log.close().unwrap();
    let mut closed = read_dir_files(&dir);
    let snapshot: serde_json::Value =
        serde_json::from_slice(&closed.remove("producer-state.json").unwrap()).unwrap();
    assert_eq!(snapshot["version"], 2);
    assert_eq!(snapshot["end_offset"], 13);
    assert_eq!(snapshot["producers"][0]["producer_id"], PID);
    assert_eq!(snapshot["producers"][0]["coordinator_epoch"], -1);
    assert_eq!(snapshot["producers"][0]["last_timestamp"], -1);
    assert!(snapshot["producers"][0].get("txn_first_offset").is_none());
    let mut golden_rest = golden;
    golden_rest.remove("producer-state.json");
    assert_eq!(closed, golden_rest);
}

#[test]
fn v1_reads_return_the_stored_bytes() {
    let (_tmp, dir) = golden_copy();
    let log = open_golden(&dir);
    let hw = log.high_watermark();
    for base in [0, 8] {
        let golden = fs::read(golden_dir().join(seg(base, "log"))).unwrap();
        let first = if base == 0 { 1 } else { base };
        let slice = log.read(first, 1 << 20, hw).unwrap();
        assert_eq!((slice.position, slice.first_offset), (0, base));
        assert_eq!(slice.read_to_vec().unwrap(), golden, "segment {base}");
    }
    // Every offset maps to exactly its batch when max_bytes admits only one batch.
    for (i, &(_, pos, len, first, last)) in BATCHES.iter().enumerate() {
        for offset in first.max(1)..=last {
            let slice = log.read(offset, 1, hw).unwrap();
            assert_eq!(
                (slice.position, slice.len, slice.first_offset),
                (pos as u64, len, first),
                "offset {offset}"
            );
            assert_eq!(slice.read_to_vec().unwrap(), golden_batch(i));
        }
    }
    // Upper bound stops before the batch holding offset 7.
    let slice = log.read(3, 1 << 20, 7).unwrap();
    assert_eq!((slice.position, slice.len), (103, 100 + 84));
    assert!(log.read(13, 1 << 20, hw).unwrap().is_empty());
    assert!(matches!(
        log.read(0, 1 << 20, hw),
        Err(LogError::OffsetOutOfRange {
            offset: 0,
            log_start: 1,
            log_end: 13
        })
    ));
}

#[test]
fn v1_timestamp_lookups() {
    let (_tmp, dir) = golden_copy();
    let log = open_golden(&dir);
    let cases: &[(i64, Option<(i64, i64)>)] = &[
        (0, Some((1, T + 5))), // offset 0 is below the log start
        (T, Some((1, T + 5))),
        (T + 5, Some((1, T + 5))),
        (T + 6, Some((2, T + 10))),
        (T + 11, Some((3, T + 100))), // the first record at or after, not the closest
        (T + 101, Some((4, T + 101))),
        (T + 102, Some((7, T + 200))), // batch 5..=6 (max T+70) is skipped
        (T + 200, Some((7, T + 200))),
        (T + 201, Some((8, T + 300))), // next segment
        (T + 301, Some((9, T + 307))),
        (T + 308, Some((10, T + 330))),
        (T + 331, Some((11, T + 400))),
        (T + 402, Some((12, T + 402))),
        (T + 403, None),
    ];
    for &(ts, expected) in cases {
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), expected, "ts {ts}");
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((12, T + 402)));
}

/// The producer snapshot restores idempotence: retries of the golden producer batches are
/// acknowledged with their original offsets and nothing is written.
#[test]
fn v1_producer_state_detects_duplicates() {
    let (_tmp, dir) = golden_copy();
    let mut log = open_golden(&dir);
    assert!(!log.open_report().producer_state_rebuilt);
    for i in [1, 3, 5] {
        let (_, _, _, first, last) = BATCHES[i];
        let info = log.append(&mut golden_batch(i), 2, NOW).unwrap();
        assert!(info.duplicate, "batch {i}");
        assert_eq!((info.base_offset, info.last_offset), (first, last));
        assert_eq!(info.log_start_offset, 1);
    }
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(log.size_bytes(), 369 + 195);
    // A gap is refused; the next sequence is appended at the log end.
    let gap = build_batch(T + 500, &[(None, Some(b"x"), 0)], PID, 0, 6);
    assert!(matches!(
        log.append(&mut gap.clone(), 2, NOW),
        Err(LogError::OutOfOrderSequence {
            producer_id: PID,
            expected: 5,
            found: 6
        })
    ));
    let next = build_batch(T + 500, &[(None, Some(b"x"), 0)], PID, 0, 5);
    let info = log.append(&mut next.clone(), 2, NOW).unwrap();
    assert!(!info.duplicate);
    assert_eq!((info.base_offset, info.last_offset), (13, 13));
}

/// Without the clean marker the same v1 files go through crash recovery: every segment is
/// CRC-scanned (nothing to cut), their indexes rebuilt to the same bytes, producer state rebuilt
/// from batch headers.
#[test]
fn v1_partition_recovers_after_unclean_shutdown() {
    let (_tmp, dir) = golden_copy();
    fs::remove_file(dir.join(".clean_shutdown")).unwrap();
    let mut log = open_golden(&dir);
    let report = log.open_report();
    assert!(!report.clean_shutdown);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.scanned_batches, 6, "{report:?}");
    assert_eq!(report.rebuilt_indexes, 2, "{report:?}");
    assert_eq!(report.recovered_segments, 2, "{report:?}");
    assert_eq!(report.segments_moved_aside, 0, "{report:?}");
    assert!(report.producer_state_rebuilt);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (1, 13));
    for ext in ["log", "index", "timeindex"] {
        for base in [0, 8] {
            let name = seg(base, ext);
            assert_eq!(
                fs::read(dir.join(&name)).unwrap(),
                fs::read(golden_dir().join(&name)).unwrap(),
                "{name}"
            );
        }
    }
    assert_eq!(
        log.offset_for_timestamp(T + 301).unwrap(),
        Some((9, T + 307))
    );
    let info = log.append(&mut golden_batch(3), 2, NOW).unwrap();
    assert!(info.duplicate);
    assert_eq!((info.base_offset, info.last_offset), (7, 7));
}

/// `partition.metadata` binds the directory to its topic id.
#[test]
fn v1_partition_metadata_checks_topic_id() {
    let (_tmp, dir) = golden_copy();
    let other = "6f1d2c3b-0000-4000-8000-00000000b002";
    let err = PartitionLog::open(&dir, other, golden_config(), NOW).unwrap_err();
    assert!(matches!(err, LogError::Corrupt(_)), "{err}");
}

/// Writing the golden batches with the golden config into an empty directory produces every
/// golden file byte for byte (guards the writer side of every v1 format), except the producer
/// snapshots, which are version 2 since transactions (`producer-state.json`, and the
/// `<offset>.snapshot` of the roll; golden files under `migrations/golden/v2/partition`).
#[test]
fn v1_writer_output_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh-0");
    write_golden_partition(&dir);
    let mut fresh = read_dir_files(&dir);
    let mut golden = read_dir_files(&golden_dir());
    fresh.remove("producer-state.json");
    golden.remove("producer-state.json");
    assert!(fresh.remove(&seg(8, "snapshot")).is_some());
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        golden.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &golden {
        assert_eq!(
            &fresh[name], bytes,
            "{name} differs from the v1 golden file"
        );
    }
}

/// Regenerates `migrations/golden/v1/partition/`. Never rerun this to make a failing golden
/// test pass: a failure means the v1 format changed (see `migrations/UPGRADING.md`).
#[test]
#[ignore = "writes migrations/golden/v1/partition; run explicitly to regenerate"]
fn regenerate() {
    let dir = golden_dir();
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    write_golden_partition(&dir);
}
