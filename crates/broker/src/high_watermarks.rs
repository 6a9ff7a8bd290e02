//! `<data dir>/replication-offset-checkpoint`: each partition's high watermark, in Kafka's
//! format for the file of the same name (`offset_checkpoint.rs`).
//!
//! Purpose: a replicated partition's high watermark is set by the replica layer (the minimum
//! over the ISR), not derived from the log, so a restarted replica needs its last value to
//! serve consumers before it hears from the leader again. A single-replica log derives its high
//! watermark itself and ignores the file.
//!
//! Invariants:
//! - written atomically at start, every [`INTERVAL_MS`] (Kafka's
//!   `replica.high.watermark.checkpoint.interval.ms` default) and at shutdown;
//! - a value read back is only a lower bound on what was committed: a replicated log applies it
//!   clamped to `[log start, log end]` (`PartitionLog::set_high_watermark`), so a stale or
//!   missing file delays consumers, never shows them uncommitted data beyond the log;
//! - a missing, unreadable or unknown-version file is ignored with a warning.

use std::collections::HashMap;
use std::path::Path;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::offset_checkpoint;
use crate::partition::TopicPartition;

/// File name inside the data dir.
pub(crate) const FILE: &str = "replication-offset-checkpoint";

/// How often the file is rewritten.
pub(crate) const INTERVAL_MS: u64 = 5_000;

/// Reads the file in `data_dir`; empty if missing or unusable.
pub(crate) fn read(data_dir: &Path) -> HashMap<TopicPartition, i64> {
    offset_checkpoint::read(
        data_dir,
        FILE,
        "replicated partitions start with their high watermark at the log start",
    )
}

impl Broker {
    /// Writes every open partition's high watermark to the checkpoint file.
    pub fn checkpoint_high_watermarks(&self) -> Result<(), BrokerError> {
        self.write_offset_checkpoint(FILE, |log| log.high_watermark())
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
            include_str!("../../../migrations/golden/v1/broker/replication-offset-checkpoint");
        let marks = parse(golden).expect("golden file parses");
        let expected: BTreeMap<TopicPartition, i64> = [
            (("__consumer_offsets".to_string(), 0), 12),
            (("orders".to_string(), 0), 4096),
            (("orders".to_string(), 1), 17),
        ]
        .into_iter()
        .collect();
        assert_eq!(marks.into_iter().collect::<BTreeMap<_, _>>(), expected);
        assert_eq!(render(&expected), golden);
    }

    #[test]
    fn a_written_file_reads_back_and_a_bad_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        let marks: BTreeMap<TopicPartition, i64> =
            [(("t".to_string(), 3), 42)].into_iter().collect();
        offset_checkpoint::write(dir.path(), FILE, &marks).unwrap();
        assert_eq!(read(dir.path()).get(&("t".to_string(), 3)), Some(&42));
        std::fs::write(dir.path().join(FILE), "1\n0\n").unwrap();
        assert!(read(dir.path()).is_empty());
    }
}
