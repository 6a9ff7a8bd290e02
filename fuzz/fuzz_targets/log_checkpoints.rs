//! The partition directory's small files on hostile bytes (`strata_log::fuzzing`):
//! `leader-epoch-checkpoint` (then OffsetForLeaderEpoch answers from it),
//! `log-start-offset-checkpoint`, `partition.metadata` (the open-time check and
//! `read_identity`), and `producer-state.json` (then sequence checks of batch headers against
//! the loaded state).
//!
//! Input: a mode byte, then per mode a few fixed-width arguments, then the file bytes.
//! Invariants: every parser returns a value or an error, never panics; OffsetForLeaderEpoch
//! answers an epoch at or below the one asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_log::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            // Up to 7 (epoch i32, log end i64) queries, then the checkpoint text.
            let Some((&n, rest)) = rest.split_first() else {
                return;
            };
            let n = usize::from(n % 8);
            if rest.len() < n * 12 {
                return;
            }
            let (q, file) = rest.split_at(n * 12);
            let queries: Vec<(i32, i64)> = q
                .chunks_exact(12)
                .map(|c| {
                    let e = i32::from_be_bytes(c[..4].try_into().unwrap());
                    let o = i64::from_be_bytes(c[4..].try_into().unwrap());
                    (e, o)
                })
                .collect();
            if let Ok((_, answers)) = fuzzing::leader_epoch_checkpoint(file, &queries) {
                for (&(asked, _), &(epoch, _)) in queries.iter().zip(&answers) {
                    assert!(epoch <= asked || epoch == -1);
                }
            }
        }
        1 => {
            let _ = fuzzing::log_start_checkpoint(rest);
        }
        2 => {
            let _ = fuzzing::partition_metadata(rest, "6f1d2c3b-0000-4000-8000-00000000a001");
        }
        _ => {
            // end offset (i64), header count byte (mod 4) and that many 61-byte headers, then
            // the snapshot JSON.
            if rest.len() < 9 {
                return;
            }
            let end_offset = i64::from_be_bytes(rest[..8].try_into().unwrap());
            let n = usize::from(rest[8] % 4) * strata_records::BATCH_HEADER_LEN;
            let rest = &rest[9..];
            if rest.len() < n {
                return;
            }
            let (headers, file) = rest.split_at(n);
            let _ = fuzzing::producer_state(file, end_offset, headers);
        }
    }
});
