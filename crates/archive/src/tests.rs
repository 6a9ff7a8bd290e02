//! Exact round trips: segments built with the workspace's one batch encoder, converted, and
//! read back with the parquet crate's Arrow reader.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type, Int8Type, TimestampMillisecondType};
use arrow_array::Array;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata_records::{
    build_batch, build_end_txn_marker, compute_crc, patch_base_offset, set_log_append_time,
    BatchSpec, Compression, EndTxnMarker, NewRecord,
};

use super::*;

/// One row as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    offset: i64,
    timestamp: i64,
    timestamp_type: i8,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    partition: i32,
    producer_id: i64,
    producer_epoch: i16,
}

fn read_back(file: Vec<u8>) -> Vec<Row> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file))
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let b = batch.unwrap();
        assert_eq!(b.schema(), schema());
        let offset = b.column(0).as_primitive::<Int64Type>();
        let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
        let ts_type = b.column(2).as_primitive::<Int8Type>();
        let key = b.column(3).as_binary::<i32>();
        let value = b.column(4).as_binary::<i32>();
        let headers = b.column(5).as_list::<i32>();
        let partition = b.column(6).as_primitive::<Int32Type>();
        let pid = b.column(7).as_primitive::<Int64Type>();
        let epoch = b.column(8).as_primitive::<Int16Type>();
        for i in 0..b.num_rows() {
            let hs = headers.value(i);
            let hs = hs.as_struct();
            let hk = hs.column(0).as_string::<i32>();
            let hv = hs.column(1).as_binary::<i32>();
            rows.push(Row {
                offset: offset.value(i),
                timestamp: ts.value(i),
                timestamp_type: ts_type.value(i),
                key: key.is_valid(i).then(|| key.value(i).to_vec()),
                value: value.is_valid(i).then(|| value.value(i).to_vec()),
                headers: (0..hs.len())
                    .map(|j| {
                        (
                            hk.value(j).to_string(),
                            hv.is_valid(j).then(|| hv.value(j).to_vec()),
                        )
                    })
                    .collect(),
                partition: partition.value(i),
                producer_id: pid.value(i),
                producer_epoch: epoch.value(i),
            });
        }
    }
    rows
}

/// A segment under construction: batches appended at consecutive offsets.
struct Seg {
    bytes: Vec<u8>,
    next: i64,
}

impl Seg {
    fn new(base: i64) -> Seg {
        Seg {
            bytes: Vec::new(),
            next: base,
        }
    }

    /// Appends `batch` at the next offset; returns its base offset.
    fn push(&mut self, mut batch: Vec<u8>) -> i64 {
        let base = self.next;
        patch_base_offset(&mut batch, base);
        let header = strata_records::BatchHeader::parse(&batch).unwrap();
        self.next = base + header.last_offset_delta as i64 + 1;
        self.bytes.extend_from_slice(&batch);
        base
    }
}

fn spec(codec: Compression, ts: i64, pid: i64, epoch: i16) -> BatchSpec {
    BatchSpec {
        compression: codec,
        base_timestamp: ts,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: if pid >= 0 { 0 } else { -1 },
    }
}

/// Sets the transactional attribute bit (4) and recomputes the CRC.
fn transactional(mut batch: Vec<u8>) -> Vec<u8> {
    batch[22] |= 0x10;
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

fn marker(pid: i64, epoch: i16, ts: i64, commit: bool) -> Vec<u8> {
    build_end_txn_marker(
        pid,
        epoch,
        ts,
        EndTxnMarker {
            commit,
            coordinator_epoch: 0,
        },
    )
}

fn plain(offset: i64, ts: i64, key: &[u8], value: &[u8], pid: i64, epoch: i16) -> Row {
    Row {
        offset,
        timestamp: ts,
        timestamp_type: CREATE_TIME,
        key: Some(key.to_vec()),
        value: Some(value.to_vec()),
        headers: Vec::new(),
        partition: 3,
        producer_id: pid,
        producer_epoch: epoch,
    }
}

#[test]
fn every_codec_with_headers_and_nulls() {
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let h1: &[(&[u8], Option<&[u8]>)] = &[(b"trace", Some(b"abc")), (b"trace", None)];
        let h2: &[(&[u8], Option<&[u8]>)] = &[(b"empty", Some(b""))];
        let records = [
            NewRecord {
                key: Some(b"k0"),
                value: Some(b"v0"),
                headers: h1,
                timestamp_delta: 0,
            },
            NewRecord {
                key: None,
                value: Some(b"no key"),
                headers: &[],
                timestamp_delta: 5,
            },
            NewRecord {
                key: Some(b"tomb"),
                value: None,
                headers: h2,
                timestamp_delta: 2,
            },
            NewRecord {
                key: Some(b""),
                value: Some(b""),
                headers: &[],
                timestamp_delta: 7,
            },
        ];
        let mut seg = Seg::new(100);
        seg.push(build_batch(&spec(codec, 1_000, 9, 2), &records).unwrap());
        seg.push(build_batch(&spec(codec, 2_000, -1, -1), &records[..1]).unwrap());
        let (file, stats) = segment_to_parquet(&seg.bytes, 3, &[]).unwrap();
        assert_eq!(stats.rows, 5, "{codec:?}");
        let row = |offset, ts, key: Option<&[u8]>, value: Option<&[u8]>, headers, pid, epoch| Row {
            offset,
            timestamp: ts,
            timestamp_type: CREATE_TIME,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
            partition: 3,
            producer_id: pid,
            producer_epoch: epoch,
        };
        let trace = vec![
            ("trace".to_string(), Some(b"abc".to_vec())),
            ("trace".to_string(), None),
        ];
        assert_eq!(
            read_back(file),
            vec![
                row(100, 1_000, Some(b"k0"), Some(b"v0"), trace.clone(), 9, 2),
                row(101, 1_005, None, Some(b"no key"), vec![], 9, 2),
                row(
                    102,
                    1_002,
                    Some(b"tomb"),
                    None,
                    vec![("empty".into(), Some(Vec::new()))],
                    9,
                    2
                ),
                row(103, 1_007, Some(b""), Some(b""), vec![], 9, 2),
                row(104, 2_000, Some(b"k0"), Some(b"v0"), trace, -1, -1),
            ],
            "{codec:?}"
        );
    }
}

#[test]
fn log_append_time_is_the_batch_timestamp() {
    let mut batch = build_batch(
        &spec(Compression::Lz4, 1_000, -1, -1),
        &[
            NewRecord {
                key: Some(b"a"),
                value: Some(b"1"),
                headers: &[],
                timestamp_delta: 0,
            },
            NewRecord {
                key: Some(b"b"),
                value: Some(b"2"),
                headers: &[],
                timestamp_delta: 3,
            },
        ],
    )
    .unwrap();
    set_log_append_time(&mut batch, 77_000);
    let mut seg = Seg::new(0);
    seg.push(batch);
    let rows = read_back(segment_to_parquet(&seg.bytes, 3, &[]).unwrap().0);
    let mut want = vec![
        plain(0, 77_000, b"a", b"1", -1, -1),
        plain(1, 77_000, b"b", b"2", -1, -1),
    ];
    for r in &mut want {
        r.timestamp_type = LOG_APPEND_TIME;
    }
    assert_eq!(rows, want);
}

fn one(codec: Compression, ts: i64, pid: i64, key: &'static [u8]) -> Vec<u8> {
    build_batch(
        &spec(codec, ts, pid, if pid >= 0 { 1 } else { -1 }),
        &[NewRecord {
            key: Some(key),
            value: Some(b"x"),
            headers: &[],
            timestamp_delta: 0,
        }],
    )
    .unwrap()
}

#[test]
fn control_batches_and_aborted_transactions_are_skipped() {
    let mut seg = Seg::new(0);
    // Producer 7 commits a transaction, producer 8 aborts one that interleaves with it, and
    // producer 9's aborted transaction began in this segment but its ABORT marker is in a later
    // one (known only from the aborted list), while a non-transactional record goes through.
    seg.push(transactional(one(Compression::Zstd, 10, 7, b"c1"))); // 0 committed
    let a8 = seg.push(transactional(one(Compression::Gzip, 11, 8, b"a1"))); // 1 aborted
    seg.push(transactional(one(Compression::None, 12, 7, b"c2"))); // 2 committed
    seg.push(one(Compression::Snappy, 13, -1, b"p1")); // 3 plain
    seg.push(transactional(one(Compression::None, 14, 8, b"a2"))); // 4 aborted
    seg.push(marker(7, 1, 15, true)); // 5 COMMIT 7
    seg.push(marker(8, 1, 16, false)); // 6 ABORT 8
                                       // Producer 8 again, in a new transaction that commits: kept.
    seg.push(transactional(one(Compression::Lz4, 17, 8, b"c3"))); // 7 committed
    seg.push(marker(8, 1, 18, true)); // 8 COMMIT 8
    let a9 = seg.push(transactional(one(Compression::None, 19, 9, b"a3"))); // 9 aborted later
    seg.push(one(Compression::None, 20, 5, b"p2")); // 10 idempotent, plain
    let aborted = [
        AbortedTxn {
            producer_id: 9,
            first_offset: a9,
        },
        AbortedTxn {
            producer_id: 8,
            first_offset: a8,
        },
    ];
    let (file, stats) = segment_to_parquet(&seg.bytes, 3, &aborted).unwrap();
    assert_eq!(
        stats,
        ArchiveStats {
            rows: 5,
            batches: 11,
            control_batches: 3,
            aborted_records: 3,
        }
    );
    assert_eq!(
        read_back(file),
        vec![
            plain(0, 10, b"c1", b"x", 7, 1),
            plain(2, 12, b"c2", b"x", 7, 1),
            plain(3, 13, b"p1", b"x", -1, -1),
            plain(7, 17, b"c3", b"x", 8, 1),
            plain(10, 20, b"p2", b"x", 5, 1),
        ]
    );
}

#[test]
fn empty_segment_and_corrupt_batch() {
    let (file, stats) = segment_to_parquet(&[], 0, &[]).unwrap();
    assert_eq!(stats.rows, 0);
    assert!(read_back(file).is_empty());
    let mut seg = Seg::new(0);
    seg.push(one(Compression::None, 1, -1, b"k"));
    let last = seg.bytes.len() - 1;
    seg.bytes[last] ^= 0xff;
    let err = segment_to_parquet(&seg.bytes, 0, &[]).unwrap_err();
    assert!(err.to_string().contains("byte 0"), "{err}");
    let err = segment_to_parquet(&seg.bytes[..seg.bytes.len() - 3], 0, &[]).unwrap_err();
    assert!(matches!(err, ArchiveError::Records { .. }), "{err}");
}

#[test]
fn large_segments_cut_row_groups_and_keep_order() {
    let value = vec![7u8; 100];
    let records: Vec<NewRecord<'_>> = (0..1000)
        .map(|i| NewRecord {
            key: None,
            value: Some(&value),
            headers: &[],
            timestamp_delta: i,
        })
        .collect();
    let mut seg = Seg::new(0);
    for i in 0..30 {
        seg.push(build_batch(&spec(Compression::Zstd, i * 10_000, -1, -1), &records).unwrap());
    }
    let (file, stats) = segment_to_parquet(&seg.bytes, 0, &[]).unwrap();
    assert_eq!(stats.rows, 30_000);
    let meta = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file.clone()))
        .unwrap()
        .metadata()
        .clone();
    assert_eq!(meta.file_metadata().num_rows(), 30_000);
    let rows = read_back(file);
    assert!(rows.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    assert_eq!(rows[29_999].timestamp, 290_000 + 999);
}
