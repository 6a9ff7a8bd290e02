//! Strata's extension of DescribeLogDirs: a broker's object-store request accounting, in a
//! tagged field of `DescribeLogDirsResult` (flexible versions, v2+).
//!
//! Kafka has no API for what a broker costs in object-store requests, so Strata adds it where
//! Kafka describes a broker's storage: each log-directory result of a broker with tiered
//! storage carries tag [`REMOTE_REQUESTS_TAG`] with the broker's requests by kind and its
//! payload bytes since it started (its `RemoteStore` accounting). Kafka clients skip tags they
//! do not know (KIP-482). `strata tier status --bootstrap-server` decodes it.
//!
//! Invariants:
//! - the tag is far above Kafka's (which count up from 0 per struct) and next to
//!   `CLEANER_STATE_TAG` (10000, on the partition level);
//! - the value starts with a format version byte; a reader ignores a version it does not know
//!   and bytes after the fields it knows, so fields can be appended;
//! - kinds are carried by name (`get`, `multipart_part`, ...), so a writer may add kinds and an
//!   older reader shows them as they come;
//! - version 0, big-endian as everything in Kafka: `int8 version`, `int8 source` (0 `http`:
//!   every HTTP request; 1 `logical`: object_store calls of a store without HTTP),
//!   `int64 bytes_uploaded`, `int64 bytes_read`, `int16 kinds`, then per kind
//!   `int16 name length`, `name` (UTF-8), `int64 requests`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The tag of [`RemoteRequests`] in `DescribeLogDirsResult`.
pub const REMOTE_REQUESTS_TAG: i32 = 10_001;

/// Format version written by [`RemoteRequests::encode`].
const VERSION: u8 = 0;
/// Length of a version-0 value without kinds.
const V0_FIXED_LEN: usize = 1 + 1 + 8 + 8 + 2;

/// A broker's object-store requests and payload bytes since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRequests {
    /// True when every HTTP request is counted (S3); false for logical calls (`file://`).
    pub http: bool,
    /// Object bytes written by successful uploads.
    pub bytes_uploaded: i64,
    /// Object bytes read by successful reads.
    pub bytes_read: i64,
    /// Requests by kind name, in the broker's order.
    pub requests: Vec<(String, i64)>,
}

impl RemoteRequests {
    /// The tagged-field value.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(V0_FIXED_LEN + self.requests.len() * 32);
        buf.put_u8(VERSION);
        buf.put_u8(if self.http { 0 } else { 1 });
        buf.put_i64(self.bytes_uploaded);
        buf.put_i64(self.bytes_read);
        let kinds = self.requests.len().min(i16::MAX as usize);
        buf.put_i16(kinds as i16);
        for (name, n) in self.requests.iter().take(kinds) {
            let name = &name.as_bytes()[..name.len().min(i16::MAX as usize)];
            buf.put_i16(name.len() as i16);
            buf.put_slice(name);
            buf.put_i64(*n);
        }
        buf.freeze()
    }

    /// Reads a tagged-field value; `None` for an unknown version or a short or malformed value.
    pub fn decode(mut value: &[u8]) -> Option<RemoteRequests> {
        if value.len() < V0_FIXED_LEN || value[0] != VERSION {
            return None;
        }
        value.advance(1);
        let http = value.get_u8() == 0;
        let bytes_uploaded = value.get_i64();
        let bytes_read = value.get_i64();
        let kinds = usize::try_from(value.get_i16()).ok()?;
        let mut requests = Vec::with_capacity(kinds.min(64));
        for _ in 0..kinds {
            if value.remaining() < 2 {
                return None;
            }
            let len = usize::try_from(value.get_i16()).ok()?;
            if value.remaining() < len + 8 {
                return None;
            }
            let name = String::from_utf8(value[..len].to_vec()).ok()?;
            value.advance(len);
            requests.push((name, value.get_i64()));
        }
        Some(RemoteRequests {
            http,
            bytes_uploaded,
            bytes_read,
            requests,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_appended_fields_but_not_other_versions() {
        let value = RemoteRequests {
            http: true,
            bytes_uploaded: 3 << 30,
            bytes_read: 12,
            requests: vec![("get".into(), 5), ("multipart_part".into(), 9)],
        };
        let bytes = value.encode();
        assert_eq!(bytes.len(), V0_FIXED_LEN + (2 + 3 + 8) + (2 + 14 + 8));
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(RemoteRequests::decode(&bytes), Some(value.clone()));
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[1, 2, 3]);
        assert_eq!(RemoteRequests::decode(&longer), Some(value.clone()));
        assert_eq!(RemoteRequests::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(RemoteRequests::decode(&bytes[..V0_FIXED_LEN - 1]), None);
        let mut newer = bytes.to_vec();
        newer[0] = 1;
        assert_eq!(RemoteRequests::decode(&newer), None);
        let logical = RemoteRequests {
            http: false,
            requests: Vec::new(),
            ..value
        };
        assert_eq!(RemoteRequests::decode(&logical.encode()), Some(logical));
    }
}
