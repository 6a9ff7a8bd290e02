//! The partition log's `.index` and `.timeindex` loaders and the lookups served from them, on
//! hostile file bytes (`strata_log::fuzzing::{offset_index, time_index}`).
//!
//! Input: a mode byte, base offset (i64), log size (u64), `max_relative` (u64, 0 = unknown), a
//! lookup count byte and that many i64 lookup keys, then the file bytes.
//! Invariants: loading returns an index or `None` (rebuild), never panics; every offset-index
//! lookup is a position at or before the last entry's and inside the log; time-index lookups
//! are non-decreasing in the timestamp and never before the segment base.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_log::fuzzing;

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (Some([mode]), Some(base), Some(log_size), Some(max_rel), Some([n])) = (
        input.take::<1>(),
        input.take::<8>(),
        input.take::<8>(),
        input.take::<8>(),
        input.take::<1>(),
    ) else {
        return;
    };
    // Realistic domains: base offsets (from segment file names) below 2^62 and, for the offset
    // index, non-negative fetch offsets (reads refuse offsets below the log start first). Outside
    // them both lookups overflow: `OffsetIndex::lookup(i64::MIN)` with a positive base, and
    // `TimeIndex::lookup` with a base within u32::MAX of i64::MAX (docs/fuzzing.md, findings).
    let base_offset = (u64::from_be_bytes(base) >> 2) as i64;
    let log_size = u64::from_be_bytes(log_size);
    let max_relative = Some(u64::from_be_bytes(max_rel)).filter(|&m| m != 0);
    let mut keys = Vec::new();
    for _ in 0..n % 16 {
        match input.take::<8>() {
            Some(k) if mode % 2 == 0 => keys.push(i64::from_be_bytes(k) & i64::MAX),
            Some(k) => keys.push(i64::from_be_bytes(k)),
            None => return,
        }
    }
    keys.sort_unstable();
    let file = input.0;
    if mode % 2 == 0 {
        let Some(found) =
            fuzzing::offset_index(file, base_offset, log_size, max_relative, &keys).unwrap()
        else {
            return;
        };
        for w in found.positions.windows(2) {
            assert!(w[0] <= w[1], "lookups must not go backwards");
        }
        for &p in &found.positions {
            assert!(p <= found.last_position);
            assert!(p == 0 || p < log_size);
        }
    } else {
        let Some(found) = fuzzing::time_index(file, base_offset, max_relative, &keys).unwrap()
        else {
            return;
        };
        for w in found.offsets.windows(2) {
            assert!(w[0] <= w[1], "lookups must not go backwards");
        }
        for &o in &found.offsets {
            assert!(o >= base_offset);
            if let Some((_, last)) = found.last_entry {
                assert!(o <= last);
            }
        }
    }
});
