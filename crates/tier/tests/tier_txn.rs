//! Transactions across the tiers, over an in-memory store and a real local log with exact
//! offsets:
//!
//! - an upload carries the segment's `.txnindex` (only when it has entries) and its producer
//!   snapshot, named with size and CRC in the version 2 manifest;
//! - a read_committed cold read lists the aborted transactions overlapping the returned
//!   batches from the remote indexes, including one whose ABORT marker is in a later remote
//!   segment, and says when the search must go on in the local log (a marker not yet tiered);
//! - a read_uncommitted cold read computes no list;
//! - the producer seed at a remote segment's end is the uploaded snapshot, open transactions
//!   included; a restore from it aborts the transaction open at its end (its end is lost).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::memory::InMemory;
use strata_log::{AbortedTxn, Durability, LogConfig, PartitionLog, TxnMarker};
use strata_tier::manifest::SegmentManifest;
use strata_tier::store::{RemoteStore, StoreOptions};
use strata_tier::{ColdReadAnswer, ColdReadRequest, PartitionRef, Tier, TierConfig};

const TOPIC_ID: &str = "6f1d2c3b-0000-4000-8000-00000000f0a1";
const TOPIC: &str = "txn";
const P1: i64 = 1000;
const P2: i64 = 2000;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        remote_storage_enable: true,
        retention_ms: -1,
        local_retention_ms: -1,
        local_retention_bytes: -1,
        ..LogConfig::default()
    }
}

/// A transactional batch (attribute bit 4) of `records` one-byte records.
fn txn(pid: i64, seq: i32, records: usize) -> Vec<u8> {
    let recs: Vec<_> = (0..records)
        .map(|i| (None, Some(&b"x"[..]), i as i64))
        .collect();
    let mut out = strata_records::testing::build_batch(1_000, &recs, pid, 0, seq);
    let attrs = i16::from_be_bytes([out[21], out[22]]) | 0x10;
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = strata_records::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// A plain batch of one 700-byte record: with 1 KiB segments, each one starts a new segment.
fn big() -> Vec<u8> {
    let value = vec![b'v'; 700];
    strata_records::testing::build_batch(1_000, &[(None, Some(value.as_slice()), 0)], -1, -1, -1)
}

fn append(log: &mut PartitionLog, mut b: Vec<u8>) -> (i64, i64) {
    let info = log.append(&mut b, 0, 1_000).unwrap();
    (info.base_offset, info.last_offset)
}

fn end_txn(log: &mut PartitionLog, pid: i64, commit: bool) -> i64 {
    let marker = TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        commit,
        coordinator_epoch: 1,
    };
    log.append_marker(&marker, 0, 2_000, Durability::PageCache)
        .unwrap()
        .base_offset
}

fn aborted(producer_id: i64, first_offset: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id,
        first_offset,
    }
}

/// Segments (by base offset): A = [0, 11): P1 0..=2, P2 3..=5, P1 6..=8, ABORT P1 @9, COMMIT
/// P2 @10; B = [11, 15): big @11, P1 12..=14; C = [15, 17): big @15, ABORT P1 @16;
/// D = [17, 22): big @17, P2 18..=21 (open); E = [22, ..): big @22 (active, never uploaded).
fn build(log: &mut PartitionLog) {
    assert_eq!(append(log, txn(P1, 0, 3)), (0, 2));
    assert_eq!(append(log, txn(P2, 0, 3)), (3, 5));
    assert_eq!(append(log, txn(P1, 3, 3)), (6, 8));
    assert_eq!(end_txn(log, P1, false), 9);
    assert_eq!(end_txn(log, P2, true), 10);
    assert_eq!(append(log, big()), (11, 11));
    assert_eq!(append(log, txn(P1, 6, 3)), (12, 14));
    assert_eq!(append(log, big()), (15, 15));
    assert_eq!(end_txn(log, P1, false), 16);
    assert_eq!(append(log, big()), (17, 17));
    assert_eq!(append(log, txn(P2, 3, 3)), (18, 20));
    assert_eq!(append(log, txn(P2, 6, 1)), (21, 21));
    assert_eq!(append(log, big()), (22, 22));
    log.flush().unwrap();
}

struct Setup {
    tier: Arc<Tier>,
    log: Mutex<PartitionLog>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store =
        RemoteStore::from_object_store(Arc::new(InMemory::new()), "", StoreOptions::default());
    let cfg = TierConfig {
        catalog_dir: dir.path().join("catalog"),
        cache_dir: dir.path().join("cache"),
        cache_bytes: 64 << 20,
        chunk_bytes: 1 << 20,
        upload_concurrency: 1,
        upload_bytes_per_sec: u64::MAX,
        cold_read_concurrency: 2,
        cold_read_timeout: Duration::from_secs(10),
        orphan_min_age: Duration::from_secs(3600),
    };
    let tier = Tier::open(store, cfg).await.unwrap();
    tier.reconcile().await.unwrap();
    let mut log =
        PartitionLog::open(&dir.path().join("txn-0"), TOPIC_ID, log_config(), 1_000).unwrap();
    build(&mut log);
    Setup {
        tier,
        log: Mutex::new(log),
        _dir: dir,
    }
}

fn part(log: &Mutex<PartitionLog>) -> PartitionRef<'_> {
    PartitionRef {
        topic: TOPIC,
        topic_id: TOPIC_ID,
        partition: 0,
        log,
        leader_epoch: 0,
    }
}

async fn read(tier: &Tier, offset: i64, upper: i64, read_committed: bool) -> ColdReadAnswer {
    let request = ColdReadRequest {
        topic_id: TOPIC_ID.into(),
        partition: 0,
        offset,
        max_bytes: 1 << 20,
        upper_bound: upper,
        read_committed,
    };
    tier.cold_reads(vec![request])
        .await
        .pop()
        .unwrap()
        .unwrap()
        .expect("a remote segment holds the offset")
}

fn bounds(ms: &[SegmentManifest]) -> Vec<(i64, i64)> {
    ms.iter().map(|m| (m.base_offset, m.end_offset)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_carry_the_txn_index_and_the_producer_snapshot() {
    let s = setup().await;
    // P2's second transaction (18..) is open: nothing else holds the LSO.
    assert_eq!(s.log.lock().unwrap().last_stable_offset(), 18);
    let report = s.tier.sync_partition(part(&s.log), -1, -1).await.unwrap();
    assert_eq!(report.uploaded, 4);
    let remote = s.tier.catalog().finished(TOPIC_ID, 0).unwrap();
    assert_eq!(bounds(&remote), vec![(0, 11), (11, 15), (15, 17), (17, 22)]);
    let with_index: Vec<Option<u64>> = remote.iter().map(|m| m.txn_index.map(|o| o.size)).collect();
    assert_eq!(with_index, vec![Some(34), None, Some(34), None]);
    assert!(remote.iter().all(|m| m.producer_snapshot.is_some()));
    assert!(remote.iter().all(|m| m.format_version == 2));
    // The objects are the local files byte for byte.
    let sealed = s.log.lock().unwrap().sealed_segments();
    for (m, seg) in remote.iter().zip(&sealed) {
        let keys = m.keys();
        if let Some(path) = &seg.txn_index_path {
            let got = s.tier.store().get(&keys.txn_index).await.unwrap();
            assert_eq!(got.as_ref(), std::fs::read(path).unwrap().as_slice());
        }
        let path = seg.producer_snapshot_path.as_ref().unwrap();
        let got = s.tier.store().get(&keys.producer_snapshot).await.unwrap();
        assert_eq!(got.as_ref(), std::fs::read(path).unwrap().as_slice());
    }
    let entries = strata_log::parse_txn_index(
        &s.tier
            .store()
            .get(&remote[2].keys().txn_index)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            entries[0].producer_id,
            entries[0].first_offset,
            entries[0].last_offset,
            entries[0].last_stable_offset
        ),
        (P1, 12, 16, 17)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn read_committed_cold_reads_list_the_aborted_transactions() {
    let s = setup().await;
    s.tier.sync_partition(part(&s.log), -1, -1).await.unwrap();
    let lso = s.log.lock().unwrap().last_stable_offset();

    // Segment A: P1's first transaction (0..=8) aborted at 9; its entry's LSO (3, P2 was open)
    // does not end the search, C's entry (LSO 17) does, and does not overlap [0, 11).
    let a = read(&s.tier, 0, lso, true).await;
    assert_eq!((a.first_offset, a.next_offset), (0, 11));
    assert_eq!(a.aborted, vec![aborted(P1, 0)]);
    assert!(a.aborted_complete);
    // From the middle of A: the same transaction still overlaps (its marker is at 9).
    let mid = read(&s.tier, 7, lso, true).await;
    assert_eq!((mid.first_offset, mid.next_offset), (6, 11));
    assert_eq!(mid.aborted, vec![aborted(P1, 0)]);

    // Segment B: P1's transaction 12..=14 whose ABORT (16) is in the next remote segment.
    let b = read(&s.tier, 11, lso, true).await;
    assert_eq!((b.first_offset, b.next_offset), (11, 15));
    assert_eq!(b.aborted, vec![aborted(P1, 12)]);
    assert!(b.aborted_complete);

    // Segment D, capped at the LSO (18): only the big batch at 17.
    let d = read(&s.tier, 17, lso, true).await;
    assert_eq!((d.first_offset, d.next_offset), (17, 18));
    assert!(d.aborted.is_empty());

    // read_uncommitted computes nothing.
    let u = read(&s.tier, 0, i64::MAX, false).await;
    assert_eq!(u.next_offset, 11);
    assert!(u.aborted.is_empty() && u.aborted_complete);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marker_not_yet_tiered_is_found_in_the_local_log() {
    let s = setup().await;
    s.tier.sync_partition(part(&s.log), -1, -1).await.unwrap();
    // P2's transaction 18..=21 is aborted in the active segment (never uploaded).
    assert_eq!(end_txn(&mut s.log.lock().unwrap(), P2, false), 23);
    s.log.lock().unwrap().flush().unwrap();
    let lso = s.log.lock().unwrap().last_stable_offset();
    assert_eq!(lso, 24);
    let d = read(&s.tier, 17, lso, true).await;
    assert_eq!((d.first_offset, d.next_offset), (17, 22));
    // No remote entry settles [17, 22): the search must go on locally, where the marker is.
    assert!(d.aborted.is_empty());
    assert!(!d.aborted_complete);
    assert_eq!(
        s.log
            .lock()
            .unwrap()
            .aborted_transactions(17, d.next_offset),
        vec![aborted(P2, 18)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_seeds_from_the_uploaded_snapshot_and_aborts_what_is_open() {
    let s = setup().await;
    s.tier.sync_partition(part(&s.log), -1, -1).await.unwrap();
    // At 22 (D's end) P2's transaction from 18 is open.
    let seed = s.tier.producer_seed(TOPIC_ID, 0, 22).await.unwrap();
    assert_eq!(seed.snapshot.as_ref().map(|(o, _)| *o), Some(22));
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("txn-0");
    let report =
        strata_log::restore_partition(&pdir, TOPIC_ID, log_config(), 0, 22, seed.as_seed(), 5)
            .unwrap();
    // P2's transaction, open at the restored end, is aborted there (marker at 22).
    assert!(report.from_snapshot);
    assert_eq!(report.aborted, vec![(P2, 18)]);
    let restored = PartitionLog::open(&pdir, TOPIC_ID, log_config(), 1_000).unwrap();
    assert_eq!(restored.open_transactions(), 0);
    assert_eq!(restored.last_stable_offset(), 23);
    assert_eq!(restored.aborted_transactions(17, 22), vec![aborted(P2, 18)]);
    let producers = restored.producers();
    let p2 = producers.iter().find(|p| p.producer_id == P2).unwrap();
    // Sequences from the snapshot.
    assert_eq!((p2.current_txn_start_offset, p2.last_sequence), (-1, 6));
    let p1 = producers.iter().find(|p| p.producer_id == P1).unwrap();
    assert_eq!(
        p1.coordinator_epoch, 1,
        "from P1's markers, in the snapshot"
    );
    // No snapshot ends at 20: the seed is the manifests' idempotent batches only.
    let seed = s.tier.producer_seed(TOPIC_ID, 0, 20).await.unwrap();
    assert!(seed.snapshot.is_none());
    assert_eq!(
        seed.history
            .iter()
            .map(|h| h.base_offset)
            .collect::<Vec<_>>(),
        vec![0, 3, 6, 12, 18]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_index_failing_its_crc_fails_the_read() {
    let s = setup().await;
    s.tier.sync_partition(part(&s.log), -1, -1).await.unwrap();
    let remote = s.tier.catalog().finished(TOPIC_ID, 0).unwrap();
    // Same size, other bytes: the manifest's CRC-32C catches it.
    s.tier
        .store()
        .put(
            &remote[0].keys().txn_index,
            bytes::Bytes::from(vec![0u8; 34]),
        )
        .await
        .unwrap();
    let request = ColdReadRequest {
        topic_id: TOPIC_ID.into(),
        partition: 0,
        offset: 0,
        max_bytes: 1 << 20,
        upper_bound: 18,
        read_committed: true,
    };
    let result = s.tier.cold_reads(vec![request]).await.pop().unwrap();
    assert!(
        matches!(result, Err(strata_tier::TierError::Corrupt(ref why)) if why.contains("CRC-32C")),
        "{result:?}"
    );
    // read_uncommitted does not need the index.
    let u = read(&s.tier, 0, 18, false).await;
    assert_eq!(u.next_offset, 11);
}
