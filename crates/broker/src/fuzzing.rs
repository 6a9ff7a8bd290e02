//! Entry points for the fuzz targets in `fuzz/` (not a stable API).
//!
//! Invariant: each function drives one decoder of a persisted broker-level format with
//! arbitrary input and checks what it returns; it panics only when an invariant is broken.

use std::collections::BTreeMap;

use crate::offset_checkpoint::{parse, render};

/// `recovery-point-offset-checkpoint` / `replication-offset-checkpoint` text: a file that parses
/// renders back to a file that parses to the same entries; duplicate lines keep the last value.
pub fn offset_checkpoint(text: &str) {
    let Some(entries) = parse(text) else {
        return;
    };
    let sorted: BTreeMap<_, _> = entries.into_iter().collect();
    let again = parse(&render(&sorted)).expect("a rendered checkpoint parses");
    assert_eq!(
        again.into_iter().collect::<BTreeMap<_, _>>(),
        sorted,
        "render/parse round trip"
    );
}
