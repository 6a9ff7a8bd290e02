//! `<data dir>/recovery-point-offset-checkpoint`: for each partition, the offset below which its
//! log is fsynced (`PartitionLog::recovery_point`), in Kafka's format for the file of the same
//! name (format: `offset_checkpoint.rs`):
//!
//! ```text
//! 0                      version
//! 2                      number of entries
//! orders 0 4096          <topic> <partition> <recovery point>
//! orders 1 17
//! ```
//!
//! Purpose: after a crash, a partition's segments that end at or below its recovery point were
//! fsynced and are trusted; only later segments are CRC-checked. Without an entry (or with no
//! usable file) every segment of the partition is checked, so the file only ever saves work:
//! a missing, unreadable or unknown-version file is ignored with a warning, never an error.
//!
//! Written atomically (temp file, fsync, rename, directory fsync) by the flusher task, at start
//! and then every [`INTERVAL_MS`] (Kafka's `log.flush.offset.checkpoint.interval.ms` default).
//! A recovery point only moves forward while a broker runs, and a stale file is only ever
//! behind: it can make recovery do more work, never trust unsynced data.

use std::collections::HashMap;
use std::path::Path;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::offset_checkpoint;
use crate::partition::TopicPartition;

/// File name inside the data dir.
pub(crate) const FILE: &str = "recovery-point-offset-checkpoint";

/// How often the flusher rewrites the file.
pub(crate) const INTERVAL_MS: u64 = 60_000;

/// Reads the file in `data_dir`; empty (recover everything) if missing or unusable.
pub(crate) fn read(data_dir: &Path) -> HashMap<TopicPartition, i64> {
    offset_checkpoint::read(data_dir, FILE, "crash recovery checks every segment")
}

impl Broker {
    /// Writes every open partition's recovery point to the checkpoint file.
    pub fn checkpoint_recovery_points(&self) -> Result<(), BrokerError> {
        self.write_offset_checkpoint(FILE, |log| log.recovery_point())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offset_checkpoint::{parse, render};
    use std::collections::BTreeMap;

    /// The golden file (migrations/golden/v1/broker) parses to the documented entries and
    /// renders back to the same bytes.
    #[test]
    fn golden_file_round_trips() {
        let golden =
            include_str!("../../../migrations/golden/v1/broker/recovery-point-offset-checkpoint");
        let points = parse(golden).expect("golden file parses");
        let expected: BTreeMap<TopicPartition, i64> = [
            (("__consumer_offsets".to_string(), 0), 0),
            (("orders".to_string(), 0), 4096),
            (("orders".to_string(), 1), 17),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            points.clone().into_iter().collect::<BTreeMap<_, _>>(),
            expected
        );
        assert_eq!(render(&expected), golden);
    }

    #[test]
    fn unusable_files_are_ignored() {
        for bad in [
            "",
            "1\n0\n",
            "0\n2\norders 0 1\n",
            "0\n1\norders x 1\n",
            "0\n1\norders 0 -5\n",
            "0\n1\norders 0 1 extra\n",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        std::fs::write(dir.path().join(FILE), "9\n").unwrap();
        assert!(read(dir.path()).is_empty());
    }
}
