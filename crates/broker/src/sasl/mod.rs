//! SASL authentication on the SASL_PLAINTEXT and SASL_SSL listeners: PLAIN and
//! SCRAM-SHA-256/512 against SCRAM credentials kept in cluster metadata (salted keys only),
//! with Kafka's settings:
//!
//! - `sasl.enabled.mechanisms` (default `PLAIN,SCRAM-SHA-256,SCRAM-SHA-512`);
//! - `connections.max.reauth.ms` (default 0: sessions never expire; else clients must
//!   re-authenticate within it, KIP-368);
//! - `connection.failed.authentication.delay.ms` (default 100): how long a failed login waits
//!   for its answer, against brute force.
//!
//! Users are created with `--add-scram` at start (`bootstrap.rs`) and with
//! AlterUserScramCredentials (`handlers/alter_user_scram_credentials.rs`).

pub(crate) mod bootstrap;
pub mod plain;
pub mod scram;
pub(crate) mod session;

use std::collections::BTreeMap;

/// The mechanisms this broker offers.
pub(crate) const SUPPORTED: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// `sasl.enabled.mechanisms`, restricted to what Strata supports.
pub(crate) fn enabled_mechanisms(raw: &BTreeMap<String, String>) -> Vec<String> {
    match raw.get("sasl.enabled.mechanisms") {
        Some(list) => list
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| SUPPORTED.contains(&m.as_str()))
            .collect(),
        None => SUPPORTED.iter().map(|m| m.to_string()).collect(),
    }
}

fn millis(raw: &BTreeMap<String, String>, key: &str, default: i64) -> i64 {
    raw.get(key)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(default)
}

/// `connections.max.reauth.ms` (0: never).
pub(crate) fn reauth_ms(raw: &BTreeMap<String, String>) -> i64 {
    millis(raw, "connections.max.reauth.ms", 0)
}

/// `sasl.server.max.receive.size`: the largest frame a SASL connection may send before it has
/// authenticated (Kafka's default, 512 KiB).
pub(crate) fn max_receive_size(raw: &BTreeMap<String, String>) -> usize {
    millis(raw, "sasl.server.max.receive.size", 524_288).max(0) as usize
}

/// `connection.failed.authentication.delay.ms`.
pub(crate) fn failed_delay_ms(raw: &BTreeMap<String, String>) -> u64 {
    millis(raw, "connection.failed.authentication.delay.ms", 100) as u64
}
