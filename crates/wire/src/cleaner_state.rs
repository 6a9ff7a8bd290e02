//! Strata's extension of DescribeLogDirs: the log cleaner's view of a compacted partition, in a
//! tagged field of `DescribeLogDirsPartition` (flexible versions, v2+).
//!
//! Kafka has no API for a log's cleaning state (its broker reports it only as JMX metrics), so
//! Strata adds it where Kafka describes partition logs: each partition of a compacted topic
//! that DescribeLogDirs lists carries tag [`CLEANER_STATE_TAG`]. Kafka clients skip tags they
//! do not know (KIP-482), so `kafka-log-dirs.sh` and AdminClient `describeLogDirs` read the
//! response unchanged. `strata topic describe` decodes it.
//!
//! Invariants:
//! - the tag is far above Kafka's (which count up from 0 per struct), so a future Kafka field
//!   in `DescribeLogDirsPartition` does not collide with it;
//! - the value starts with a format version byte; a reader ignores a version it does not know
//!   and bytes after the fields it knows, so fields can be appended;
//! - version 0 is 50 bytes, big-endian as everything in Kafka: `int8 version`,
//!   `int64 first_dirty_offset`, `int64 cleanable_end_offset`, `int64 clean_bytes`,
//!   `int64 dirty_bytes`, `float64 dirty_ratio`, `int8 needs_cleaning` (0 or 1),
//!   `int64 oldest_dirty_timestamp` (-1: no dirty segment).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The tag of [`CleanerState`] in `DescribeLogDirsPartition`.
pub const CLEANER_STATE_TAG: i32 = 10_000;

/// Format version written by [`CleanerState::encode`].
const VERSION: u8 = 0;
/// Length of a version-0 value.
const V0_LEN: usize = 50;

/// How dirty one compacted partition log is, as its broker's cleaner sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerState {
    /// Where the next clean starts: the cleaner checkpoint (at least the log start offset).
    pub first_dirty_offset: i64,
    /// End of the section a clean could cover now (the active segment, the high watermark,
    /// open transactions and `min.compaction.lag.ms` bound it).
    pub cleanable_end_offset: i64,
    /// Bytes of sealed segments below the first dirty offset (already cleaned).
    pub clean_bytes: i64,
    /// Bytes of segments a clean could cover now.
    pub dirty_bytes: i64,
    /// `dirty / (clean + dirty)`, 0 when nothing is cleanable.
    pub dirty_ratio: f64,
    /// The cleaner would take this log now (ratio at least `min.cleanable.dirty.ratio`, or
    /// the oldest dirty record past `max.compaction.lag.ms`).
    pub needs_cleaning: bool,
    /// Newest timestamp of the oldest dirty segment; -1 when no segment is dirty.
    pub oldest_dirty_timestamp: i64,
}

impl CleanerState {
    /// The tagged-field value.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(V0_LEN);
        buf.put_u8(VERSION);
        buf.put_i64(self.first_dirty_offset);
        buf.put_i64(self.cleanable_end_offset);
        buf.put_i64(self.clean_bytes);
        buf.put_i64(self.dirty_bytes);
        buf.put_f64(self.dirty_ratio);
        buf.put_u8(u8::from(self.needs_cleaning));
        buf.put_i64(self.oldest_dirty_timestamp);
        buf.freeze()
    }

    /// Reads a tagged-field value; `None` for an unknown version or a short value.
    pub fn decode(mut value: &[u8]) -> Option<CleanerState> {
        if value.len() < V0_LEN || value[0] != VERSION {
            return None;
        }
        value.advance(1);
        Some(CleanerState {
            first_dirty_offset: value.get_i64(),
            cleanable_end_offset: value.get_i64(),
            clean_bytes: value.get_i64(),
            dirty_bytes: value.get_i64(),
            dirty_ratio: value.get_f64(),
            needs_cleaning: value.get_u8() != 0,
            oldest_dirty_timestamp: value.get_i64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_appended_fields_but_not_other_versions() {
        let state = CleanerState {
            first_dirty_offset: 7,
            cleanable_end_offset: 12,
            clean_bytes: 300,
            dirty_bytes: 100,
            dirty_ratio: 0.25,
            needs_cleaning: false,
            oldest_dirty_timestamp: -1,
        };
        let bytes = state.encode();
        assert_eq!(bytes.len(), V0_LEN);
        assert_eq!(&bytes[..9], &[0, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(CleanerState::decode(&bytes), Some(state));
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[1, 2, 3]);
        assert_eq!(CleanerState::decode(&longer), Some(state));
        assert_eq!(CleanerState::decode(&bytes[..V0_LEN - 1]), None);
        let mut newer = bytes.to_vec();
        newer[0] = 1;
        assert_eq!(CleanerState::decode(&newer), None);
    }
}
