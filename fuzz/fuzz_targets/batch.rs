//! Record batch validation and record decoding on hostile bytes.
//!
//! Besides the header checks, every input whose header is accepted is walked record by record
//! by `validate_records` (all codecs, with the decompression cap), under rules and a clock
//! taken from the input's last bytes. Invariants checked: no panic; an accepted batch also
//! decodes with `decode_records` into exactly `records_count` records with offset deltas
//! `0..n`, and the reported max timestamp is the largest record timestamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_records::{
    decode_records, validate_client_batch, validate_records, BatchHeader, RecordRules,
};

fn rules_from(data: &[u8]) -> (RecordRules<'static>, i64) {
    let tail = |i: usize| {
        data.len()
            .checked_sub(i)
            .and_then(|at| data.get(at))
            .copied()
    };
    let b = tail(1).unwrap_or(0);
    let rules = RecordRules {
        log_append_time: b & 1 == 1,
        timestamp_before_max_ms: if b & 2 == 0 {
            i64::MAX
        } else {
            i64::from(b) * 1000
        },
        timestamp_after_max_ms: if b & 4 == 0 { 3_600_000 } else { i64::MAX },
        compacted_topic: (b & 8 == 8).then_some("fuzz-0"),
    };
    let now = i64::from(tail(2).unwrap_or(0)) << 33;
    (rules, now)
}

fuzz_target!(|data: &[u8]| {
    let _ = BatchHeader::parse(data);
    if let Ok(header) = validate_client_batch(data) {
        let (rules, now) = rules_from(data);
        if let Ok(summary) = validate_records(data, &header, &rules, now) {
            let records = decode_records(data).expect("a validated batch decodes");
            assert_eq!(records.len(), header.records_count as usize);
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.offset, i as i64);
                if rules.compacted_topic.is_some() {
                    assert!(r.key.is_some(), "a compacted topic took a keyless record");
                }
            }
            let max = records
                .iter()
                .map(|r| r.timestamp)
                .max()
                .unwrap_or(-1)
                .max(-1);
            assert_eq!(summary.max_timestamp, max);
        }
    }
    for b in strata_records::batches(data) {
        if b.is_err() {
            break;
        }
    }
    let _ = strata_records::record_timestamps(data);
});
