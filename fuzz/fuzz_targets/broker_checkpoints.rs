//! The data dir's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `replication-offset-checkpoint`, Kafka's format) on hostile bytes.
//!
//! Input: the file bytes; non-UTF-8 files are unreadable text to the broker (ignored), so only
//! UTF-8 inputs reach the parser.
//! Invariants: parsing never panics and allocates in proportion to the input; a file that
//! parses renders back to one that parses to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        strata_broker::fuzzing::offset_checkpoint(text);
    }
});
