//! Segment manifests read back from the bucket (`SegmentManifest::from_bytes`) on hostile
//! bytes.
//!
//! Invariants: never panics; a manifest that parses re-serializes to one that parses to the
//! same value, and its object keys can be built and parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_tier::keys;
use strata_tier::manifest::SegmentManifest;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = SegmentManifest::from_bytes(data) else {
        return;
    };
    let again = SegmentManifest::from_bytes(&m.to_bytes()).expect("a re-encoded manifest parses");
    assert_eq!(again, m);
    let k = m.keys();
    for key in k.all() {
        let _ = keys::parse(key);
    }
});
