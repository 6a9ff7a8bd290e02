//! The records of the TLS listener scenarios (`tests/security_tls_*.rs`): the same generator
//! as `tls_value` in `integration/py/tls_client.py`, where they are produced, so a test knows
//! each record's key, value and place, and compares what a client read with it.
//!
//! Invariants: record `i` of a topic with `P` partitions written in order from 0 is key
//! `k<i:03>` at partition `i % P`, offset `i / P`; its value is printable with no spaces, and
//! every tenth (`i % 10 == 7`) is 150–160 KB, so fetches span many TLS records.

use anyhow::{bail, Result};

use crate::pyclient::{sorted, Rec};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Value of record `i`: printable, no spaces; `i % 10 == 7` is 150–160 KB.
pub fn tls_value(i: usize) -> String {
    let size = if i % 10 == 7 {
        150_000 + 13 * i
    } else {
        (i * 1237) % 3000
    };
    let mut v = format!("v{i}:").into_bytes();
    v.extend((0..size).map(|j| ALPHABET[(i * 31 + j * 7) % 64]));
    String::from_utf8(v).expect("ASCII")
}

/// Key of record `i`.
pub fn key(i: usize) -> String {
    format!("k{i:03}")
}

/// Record `i` of a topic with `partitions` partitions written in order from 0: partition
/// `i % partitions`, offset `i / partitions`.
pub fn expected(i: usize, partitions: usize) -> Rec {
    (
        (i % partitions) as i32,
        (i / partitions) as i64,
        key(i),
        tls_value(i),
    )
}

/// Short description of records for failure messages (values are long).
pub fn brief(recs: &[Rec]) -> String {
    recs.iter()
        .map(|r| format!("{}/{} {} ({} B)", r.0, r.1, r.2, r.3.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails unless `got` and `want` are the same records (sorted), naming the first difference.
pub fn ensure_same(what: &str, got: Vec<Rec>, want: Vec<Rec>) -> Result<()> {
    let (got, want) = (sorted(got), sorted(want));
    if got == want {
        return Ok(());
    }
    let first = got
        .iter()
        .zip(&want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    bail!(
        "{what}: {} records, expected {}; first difference at #{first}: got [{}], want [{}]",
        got.len(),
        want.len(),
        brief(&got[first.min(got.len())..(first + 1).min(got.len())]),
        brief(&want[first.min(want.len())..(first + 1).min(want.len())]),
    )
}
