//! Golden file for the v1 `__consumer_offsets` record format
//! (`migrations/golden/v1/group/consumer-offsets.batches`): the batches the coordinator writes,
//! concatenated as they lie in a segment (base offsets patched as the log patches them).
//!
//! The read test decodes the golden bytes and checks exact values, so it fails if this build
//! stops reading what v1 wrote. The rewrite test rebuilds the batches with the real encoders and
//! requires identical bytes, so it fails if the writer changes. A deliberate change needs new
//! key/value versions (Kafka's scheme: the version is the first field) and a new golden set
//! under `migrations/golden/v2/`; never regenerate these files to make a test pass.
//!
//! Regenerate (only when creating the golden set for the first time):
//! `cargo test -p strata-group --test golden_v1 -- --ignored regenerate`

use std::path::{Path, PathBuf};

use strata_group::format::*;
use strata_records::{
    batches, build_batch, decode_records, patch_base_offset, BatchSpec, NewRecord,
};

const T: i64 = 1_700_000_000_000;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations/golden/v1/group/consumer-offsets.batches")
}

fn offset_key(partition: i32) -> RecordKey {
    RecordKey::Offset {
        group: "orders-app".into(),
        topic: "orders".into(),
        partition,
    }
}

fn group_value() -> GroupValue {
    GroupValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: Some("range".into()),
        leader: Some("c-1".into()),
        current_state_timestamp: T + 5,
        members: vec![MemberValue {
            member_id: "c-1".into(),
            group_instance_id: Some("pod-0".into()),
            client_id: "rdkafka".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscription: vec![0, 1, 2],
            assignment: vec![3, 4],
        }],
    }
}

/// One batch of golden writes: (batch timestamp, records as key and optional value).
type GoldenBatch = (i64, Vec<(RecordKey, Option<Vec<u8>>)>);

/// The golden writes, one batch each.
fn golden_writes() -> Vec<GoldenBatch> {
    let v3 = |offset: i64, meta: &str| OffsetValue {
        offset,
        leader_epoch: 0,
        metadata: meta.into(),
        commit_timestamp: T,
        expire_timestamp: None,
    };
    let v1 = OffsetValue {
        offset: 9,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: T + 1,
        expire_timestamp: Some(T + 86_400_000),
    };
    vec![
        (
            T,
            vec![
                (
                    offset_key(0),
                    Some(encode_offset_value(&v3(42, "m0")).unwrap()),
                ),
                (
                    offset_key(1),
                    Some(encode_offset_value(&v3(7, "")).unwrap()),
                ),
            ],
        ),
        (
            T + 1,
            vec![(offset_key(2), Some(encode_offset_value(&v1).unwrap()))],
        ),
        (
            T + 5,
            vec![(
                RecordKey::Group {
                    group: "orders-app".into(),
                },
                Some(encode_group_value(&group_value()).unwrap()),
            )],
        ),
        (T + 9, vec![(offset_key(1), None)]),
    ]
}

fn build() -> Vec<u8> {
    let mut out = Vec::new();
    let mut next = 0i64;
    for (ts, writes) in golden_writes() {
        let keys: Vec<Vec<u8>> = writes.iter().map(|(k, _)| encode_key(k).unwrap()).collect();
        let records: Vec<NewRecord<'_>> = writes
            .iter()
            .zip(&keys)
            .map(|((_, v), k)| NewRecord {
                key: Some(k),
                value: v.as_deref(),
                headers: &[],
                timestamp_delta: 0,
            })
            .collect();
        let mut batch = build_batch(&BatchSpec::plain(ts), &records).unwrap();
        patch_base_offset(&mut batch, next);
        next += records.len() as i64;
        out.extend_from_slice(&batch);
    }
    out
}

#[test]
fn golden_batches_decode_to_exact_values() {
    let bytes = std::fs::read(golden_path()).unwrap();
    let mut decoded = Vec::new();
    for item in batches(&bytes) {
        let (pos, header) = item.unwrap();
        for r in decode_records(&bytes[pos..pos + header.total_len()]).unwrap() {
            decoded.push((r.offset, decode_key(&r.key.unwrap()).unwrap(), r.value));
        }
    }
    assert_eq!(decoded.len(), 5);
    assert_eq!(decoded[0].1, offset_key(0));
    let v = decode_offset_value(decoded[0].2.as_ref().unwrap()).unwrap();
    assert_eq!(
        (
            v.offset,
            v.leader_epoch,
            v.metadata.as_str(),
            v.commit_timestamp,
            v.expire_timestamp
        ),
        (42, 0, "m0", T, None)
    );
    let v = decode_offset_value(decoded[2].2.as_ref().unwrap()).unwrap();
    assert_eq!(
        (decoded[2].0, v.offset, v.expire_timestamp),
        (2, 9, Some(T + 86_400_000))
    );
    assert_eq!(
        decode_group_value(decoded[3].2.as_ref().unwrap()).unwrap(),
        group_value()
    );
    assert_eq!(
        (decoded[4].0, &decoded[4].1, &decoded[4].2),
        (4, &offset_key(1), &None),
        "tombstone"
    );
}

#[test]
fn writer_reproduces_golden_bytes() {
    assert_eq!(
        build(),
        std::fs::read(golden_path()).unwrap(),
        "the v1 record format changed"
    );
}

#[test]
#[ignore]
fn regenerate() {
    std::fs::write(golden_path(), build()).unwrap();
}
