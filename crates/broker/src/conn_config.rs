//! Typed connection settings: memory and time bounds for what clients can make the broker hold.
//!
//! | setting | Strata default | meaning |
//! |---|---|---|
//! | `queued.max.request.bytes` | 536870912 (512 MiB) | in-flight request bytes, broker-wide; `-1` = unbounded (Kafka's default) |
//! | `max.connections` | 2147483647 | live connections, broker-wide |
//! | `max.connections.per.ip` | 2147483647 | live connections from one address |
//! | `connections.max.idle.ms` | 600000 | close a connection that starts no request for this long |
//! | `strata.request.read.timeout.ms` | 30000 | close a connection whose started frame is not complete within this (socket wait only) |
//!
//! Kafka leaves `queued.max.request.bytes` unbounded; Strata bounds it by default, because the
//! budget only ever slows reading (it never fails a request) and an unbounded default lets a few
//! clients that send large frames grow the broker without limit. 512 MiB is five maximum-size
//! frames at the default `socket.request.max.bytes`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::parse;

/// The default of `queued.max.request.bytes`.
pub(crate) const DEFAULT_QUEUED_MAX_REQUEST_BYTES: &str = "536870912";

/// Connection limits and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// `queued.max.request.bytes`; `None` when `-1` (unbounded).
    pub queued_max_request_bytes: Option<usize>,
    /// `max.connections`.
    pub max_connections: usize,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`.
    pub connections_max_idle: Duration,
    /// `strata.request.read.timeout.ms`.
    pub request_read_timeout: Duration,
    /// `strata.tls.read.buffer.bytes`: the socket read buffer under each TLS connection, so
    /// that rustls's one-record reads become few large socket reads (at least one TLS record).
    pub tls_read_buffer: usize,
    /// `strata.tls.low.water` (default true): TLS connections keep the socket's receive
    /// low-water mark at the rest of a large frame, so the reader wakes a few times per frame
    /// instead of once per TLS record (`low_water.rs`).
    pub tls_low_water: bool,
}

/// Smallest `strata.tls.read.buffer.bytes`: one TLS record with its header.
pub(crate) const MIN_TLS_READ_BUFFER: usize = 16 * 1024 + 5;

/// Default of `strata.tls.read.buffer.bytes`.
pub(crate) const DEFAULT_TLS_READ_BUFFER: usize = 64 * 1024;

impl ConnectionConfig {
    /// Reads the settings from a merged map that holds every default.
    pub(crate) fn from_map(raw: &BTreeMap<String, String>) -> Result<ConnectionConfig, String> {
        let queued: i64 = parse(raw, "queued.max.request.bytes")?;
        let queued_max_request_bytes = match queued {
            -1 => None,
            n if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            n => {
                return Err(format!(
                    "queued.max.request.bytes = {n}: must be -1 (unbounded) or positive"
                ))
            }
        };
        let at_least_one = |key: &str| -> Result<u64, String> {
            let v: i64 = parse(raw, key)?;
            if v < 1 {
                return Err(format!("{key} = {v}: must be at least 1"));
            }
            Ok(v as u64)
        };
        let count = |key: &str| -> Result<usize, String> {
            Ok(usize::try_from(at_least_one(key)?).unwrap_or(usize::MAX))
        };
        Ok(ConnectionConfig {
            queued_max_request_bytes,
            max_connections: count("max.connections")?,
            max_connections_per_ip: count("max.connections.per.ip")?,
            connections_max_idle: Duration::from_millis(at_least_one("connections.max.idle.ms")?),
            request_read_timeout: Duration::from_millis(at_least_one(
                "strata.request.read.timeout.ms",
            )?),
            tls_read_buffer: match raw.get("strata.tls.read.buffer.bytes") {
                None => DEFAULT_TLS_READ_BUFFER,
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n >= MIN_TLS_READ_BUFFER => n,
                    _ => {
                        return Err(format!(
                            "strata.tls.read.buffer.bytes = {v}: must be a byte count of at \
                             least {MIN_TLS_READ_BUFFER} (one TLS record)"
                        ))
                    }
                },
            },
            tls_low_water: match raw.get("strata.tls.low.water").map(|v| v.trim()) {
                None | Some("true") => true,
                Some("false") => false,
                Some(v) => {
                    return Err(format!("strata.tls.low.water = {v}: must be true or false"))
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::BrokerConfig;

    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<ConnectionConfig, String> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_map(map).map(|c| c.connections)
    }

    #[test]
    fn defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.queued_max_request_bytes, Some(512 << 20));
        assert_eq!(c.max_connections, 2147483647);
        assert_eq!(c.max_connections_per_ip, 2147483647);
        assert_eq!(c.connections_max_idle, Duration::from_millis(600_000));
        assert_eq!(c.request_read_timeout, Duration::from_millis(30_000));
        assert_eq!(c.tls_read_buffer, 64 * 1024);
        assert!(c.tls_low_water);
    }

    #[test]
    fn values_and_bounds() {
        let c = with(&[
            ("queued.max.request.bytes", "-1"),
            ("max.connections", "10"),
            ("max.connections.per.ip", "3"),
            ("connections.max.idle.ms", "1500"),
            ("strata.request.read.timeout.ms", "250"),
            ("strata.tls.read.buffer.bytes", "131072"),
            ("strata.tls.low.water", "false"),
        ])
        .unwrap();
        assert_eq!(c.tls_read_buffer, 131072);
        assert!(!c.tls_low_water);
        assert_eq!(c.queued_max_request_bytes, None);
        assert_eq!((c.max_connections, c.max_connections_per_ip), (10, 3));
        assert_eq!(c.connections_max_idle, Duration::from_millis(1500));
        assert_eq!(c.request_read_timeout, Duration::from_millis(250));
        for bad in [
            ("queued.max.request.bytes", "0"),
            ("queued.max.request.bytes", "-2"),
            ("max.connections", "0"),
            ("max.connections.per.ip", "-1"),
            ("connections.max.idle.ms", "0"),
            ("strata.tls.low.water", "yes"),
            ("strata.request.read.timeout.ms", "x"),
            ("strata.tls.read.buffer.bytes", "0"),
            ("strata.tls.read.buffer.bytes", "16388"),
            ("strata.tls.read.buffer.bytes", "big"),
        ] {
            let err = with(&[bad]).unwrap_err();
            assert!(err.contains(bad.0), "{err}");
        }
    }
}
