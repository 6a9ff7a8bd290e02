//! Frame + request decoding: any bytes after a size prefix must parse or fail, never panic or
//! allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let prefix = [data[0], data[1], data[2], data[3]];
    if strata_wire::check_frame_size(prefix, 1 << 20).is_err() {
        return;
    }
    let _ = strata_wire::parse_request(bytes::Bytes::copy_from_slice(&data[4..]));
});
