//! Record batch validation and record decoding on hostile bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_records::BatchHeader::parse(data);
    let _ = strata_records::validate_client_batch(data);
    for b in strata_records::batches(data) {
        if b.is_err() {
            break;
        }
    }
    let _ = strata_records::record_timestamps(data);
});
