//! Parsing of objects read on cold reads: an uploaded `.index` object and a `.log` object (or
//! the part of it the read starts in), walked exactly as `ColdReader::read` walks them
//! (`strata_tier::cold_read::{parse_offset_index, index_start, read_in_object}`), then every
//! returned batch's records decoded as `offset_for_timestamp` does.
//!
//! Input: fetch offset (i64), max bytes (u16), upper bound (i64), segment base offset (i64),
//! index length (u8, in 8-byte entries), the index bytes, then the object bytes.
//! Invariants: never panics or reads out of bounds; allocation is bounded by the input; the
//! bytes returned are whole batches from the object, the first containing or after the fetch
//! offset, none ending at or past the upper bound, more than one only within max bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_tier::cold_read::{index_start, parse_offset_index, read_in_object};

fuzz_target!(|data: &[u8]| {
    if data.len() < 27 {
        return;
    }
    let offset = i64::from_be_bytes(data[0..8].try_into().unwrap());
    let max_bytes = usize::from(u16::from_be_bytes([data[8], data[9]]));
    let upper_bound = i64::from_be_bytes(data[10..18].try_into().unwrap());
    let base_offset = i64::from_be_bytes(data[18..26].try_into().unwrap());
    let index_len = usize::from(data[26]) * 8;
    let rest = &data[27..];
    if rest.len() < index_len {
        return;
    }
    let (index_bytes, object) = rest.split_at(index_len);
    let index = parse_offset_index(index_bytes, base_offset);
    assert_eq!(index.len(), index_bytes.len() / 8);
    let start = if offset <= base_offset {
        0
    } else {
        index_start(&index, offset)
    };
    for pos in [start, 0] {
        let Ok((first, out)) = read_in_object(object, pos, offset, max_bytes, upper_bound) else {
            continue;
        };
        if out.is_empty() {
            // Nothing qualifies. (A taken batch may itself carry base offset -1 in a corrupt
            // object, so -1 alone does not mean "nothing"; the broker uses only the bytes.)
            assert_eq!(first, -1);
            continue;
        }
        let mut count = 0;
        for item in strata_records::batches(out) {
            let (at, h) = item.expect("returned bytes are whole batches");
            if count == 0 {
                assert_eq!(h.base_offset, first);
                assert!(h.last_offset() >= offset);
            }
            assert!(h.last_offset() < upper_bound);
            let _ = strata_records::record_timestamps(&out[at..at + h.total_len()]);
            count += 1;
        }
        assert!(count >= 1);
        if count > 1 {
            assert!(out.len() <= max_bytes.max(strata_records::BATCH_HEADER_LEN));
        }
    }
});
