//! The `__consumer_offsets` record decoders (`strata_group::format`) on hostile bytes.
//!
//! Invariants: decoding never panics and allocates in proportion to the input; whatever
//! decodes re-encodes to bytes that decode to the same value (the loader's view of a record is
//! what the coordinator would write back); a decoded value always fits the stored format, so
//! re-encoding it never fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_group::format::{
    decode_group_value, decode_key, decode_offset_value, encode_group_value, encode_key,
    encode_offset_value,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = decode_key(data) {
        assert_eq!(
            decode_key(&encode_key(&key).expect("a decoded key re-encodes")).as_ref(),
            Ok(&key)
        );
    }
    if let Ok(v) = decode_offset_value(data) {
        assert_eq!(
            decode_offset_value(&encode_offset_value(&v).expect("a decoded value re-encodes"))
                .as_ref(),
            Ok(&v)
        );
    }
    if let Ok(g) = decode_group_value(data) {
        assert_eq!(
            decode_group_value(&encode_group_value(&g).expect("a decoded group re-encodes"))
                .as_ref(),
            Ok(&g)
        );
    }
});
