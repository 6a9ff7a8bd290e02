//! Golden file for the `__transaction_state` record format
//! (`migrations/golden/v2/txn/transaction-state.batches`): the batches the transaction
//! coordinator writes, concatenated as they lie in a segment (base offsets patched as the log
//! patches them). Kafka's layouts: `TransactionLogKey` v0 and `TransactionLogValue` v0.
//!
//! Contents (timestamps from T = 1700000000000): id `orders-etl`, producer id 4242, timeout
//! 60000 — Empty (epoch 0) at offset 0; Ongoing with `orders-0`, `orders-1` and
//! `__consumer_offsets-12` (started T+10) at 1; PrepareCommit at 2; CompleteCommit (no
//! partitions) at 3; then id `audit` (producer 4343, epoch 7, PrepareAbort with `audit-0`) at
//! 4, and a tombstone for `expired` at 5.
//!
//! The read test decodes the golden bytes and checks exact values, so it fails if this build
//! stops reading what v2 wrote; the rewrite test rebuilds the batches with the real encoders
//! and requires identical bytes. A deliberate change needs a new value version and a new
//! golden set; never regenerate these files to make a test pass.
//!
//! Regenerate (only when creating the golden set for the first time):
//! `cargo test -p strata-txn --test golden_v2 -- --ignored regenerate`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use strata_coordinator::build_records;
use strata_records::{batches, decode_records, patch_base_offset};
use strata_txn::format::{decode_key, decode_value, encode_key, encode_value};
use strata_txn::{TxnMetadata, TxnState};

const T: i64 = 1_700_000_000_000;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations/golden/v2/txn/transaction-state.batches")
}

fn meta(
    id: &str,
    pid: i64,
    epoch: i16,
    state: TxnState,
    parts: &[(&str, i32)],
    start: i64,
    update: i64,
) -> TxnMetadata {
    TxnMetadata {
        transactional_id: id.into(),
        producer_id: pid,
        producer_epoch: epoch,
        last_producer_epoch: -1,
        timeout_ms: 60_000,
        state,
        partitions: parts.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
        update_ms: update,
        start_ms: start,
    }
}

/// `(id, state or tombstone)` in log order.
fn golden_writes() -> Vec<(String, Option<TxnMetadata>)> {
    let parts = [("orders", 0), ("orders", 1), ("__consumer_offsets", 12)];
    vec![
        (
            "orders-etl".into(),
            Some(meta("orders-etl", 4242, 0, TxnState::Empty, &[], -1, T)),
        ),
        (
            "orders-etl".into(),
            Some(meta(
                "orders-etl",
                4242,
                0,
                TxnState::Ongoing,
                &parts,
                T + 10,
                T + 11,
            )),
        ),
        (
            "orders-etl".into(),
            Some(meta(
                "orders-etl",
                4242,
                0,
                TxnState::PrepareCommit,
                &parts,
                T + 10,
                T + 20,
            )),
        ),
        (
            "orders-etl".into(),
            Some(meta(
                "orders-etl",
                4242,
                0,
                TxnState::CompleteCommit,
                &[],
                -1,
                T + 30,
            )),
        ),
        (
            "audit".into(),
            Some(meta(
                "audit",
                4343,
                7,
                TxnState::PrepareAbort,
                &[("audit", 0)],
                T + 40,
                T + 41,
            )),
        ),
        ("expired".into(), None),
    ]
}

fn encode_all() -> Vec<u8> {
    let mut out = Vec::new();
    for (offset, (id, m)) in golden_writes().into_iter().enumerate() {
        let key = encode_key(&id).unwrap();
        let value = m.as_ref().map(|m| encode_value(m).unwrap());
        let mut batch = build_records(&[(key, value)], T + offset as i64, None).unwrap();
        patch_base_offset(&mut batch, offset as i64);
        out.extend_from_slice(&batch);
    }
    out
}

#[test]
fn golden_records_decode_to_exact_states() {
    let bytes = std::fs::read(golden_path()).expect("golden file present");
    let mut got = Vec::new();
    for item in batches(&bytes) {
        let (pos, header) = item.unwrap();
        assert_eq!(header.producer_id, -1);
        for r in decode_records(&bytes[pos..pos + header.total_len()]).unwrap() {
            let id = decode_key(r.key.as_deref().unwrap()).unwrap();
            let m = r.value.map(|v| decode_value(&id, &v).unwrap());
            got.push((r.offset, id, m));
        }
    }
    let want = golden_writes();
    assert_eq!(got.len(), want.len());
    for ((offset, id, m), (i, (want_id, want_m))) in
        got.into_iter().zip(want.into_iter().enumerate())
    {
        assert_eq!(offset, i as i64);
        assert_eq!(id, want_id);
        assert_eq!(m, want_m, "record {i}");
    }
    // Spot checks of the layout itself (not only the round trip).
    let key = encode_key("orders-etl").unwrap();
    assert_eq!(&key[..4], &[0, 0, 0, 10]);
    let ongoing = golden_writes()[1].1.clone().unwrap();
    let parts: BTreeSet<(String, i32)> = ongoing.partitions.clone();
    assert_eq!(parts.len(), 3);
}

#[test]
fn writers_reproduce_the_golden_bytes() {
    let bytes = std::fs::read(golden_path()).expect("golden file present");
    assert_eq!(
        encode_all(),
        bytes,
        "the record writers changed the v2 format"
    );
}

#[test]
#[ignore = "writes the golden file; run only when creating a new golden set"]
fn regenerate() {
    std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
    std::fs::write(golden_path(), encode_all()).unwrap();
}
