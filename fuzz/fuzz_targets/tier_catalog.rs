//! Catalog entries read from sled (`strata_tier::catalog::decode_entry`) on hostile bytes.
//!
//! Invariants: never panics; an entry that decodes re-encodes (as `Catalog::put` writes it) to
//! bytes that decode to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_tier::catalog::decode_entry;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = decode_entry(data) else {
        return;
    };
    let bytes = serde_json::to_vec(&entry).expect("entries serialize");
    let again = decode_entry(&bytes).expect("a re-encoded entry decodes");
    assert_eq!(again, entry);
    let _ = entry.manifest.keys();
});
