//! `<data dir>/recovery-point-offset-checkpoint`: for each partition, the offset below which its
//! log is fsynced (`PartitionLog::recovery_point`), in Kafka's format for the file of the same
//! name:
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

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::TopicPartition;

/// File name inside the data dir.
pub(crate) const FILE: &str = "recovery-point-offset-checkpoint";

/// How often the flusher rewrites the file.
pub(crate) const INTERVAL_MS: u64 = 60_000;

/// Parses the file; `None` if it is not version 0 or is malformed.
pub(crate) fn parse(text: &str) -> Option<HashMap<TopicPartition, i64>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut points = HashMap::with_capacity(count.min(100_000));
    for _ in 0..count {
        let mut parts = lines.next()?.split(' ');
        let topic = parts.next()?.to_string();
        let partition: i32 = parts.next()?.parse().ok()?;
        let offset: i64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || topic.is_empty() || offset < 0 {
            return None;
        }
        points.insert((topic, partition), offset);
    }
    Some(points)
}

/// Renders the file, entries sorted by topic and partition.
pub(crate) fn render(points: &BTreeMap<TopicPartition, i64>) -> String {
    let mut text = format!("0\n{}\n", points.len());
    for ((topic, partition), offset) in points {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Reads the file in `data_dir`; empty (recover everything) if missing or unusable.
pub(crate) fn read(data_dir: &Path) -> HashMap<TopicPartition, i64> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).unwrap_or_else(|| {
            tracing::warn!(file = %path.display(),
                "unreadable recovery point checkpoint ignored: crash recovery checks every segment");
            HashMap::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e,
                "recovery point checkpoint not readable: crash recovery checks every segment");
            HashMap::new()
        }
    }
}

fn write(data_dir: &Path, text: &str) -> std::io::Result<()> {
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(FILE))?;
    std::fs::File::open(data_dir)?.sync_all()
}

impl Broker {
    /// Writes every open partition's recovery point to the checkpoint file.
    pub fn checkpoint_recovery_points(&self) -> Result<(), BrokerError> {
        let points: BTreeMap<TopicPartition, i64> = self
            .all_partitions()
            .iter()
            .map(|p| ((p.topic.clone(), p.index), p.log().recovery_point()))
            .collect();
        let data_dir = &self.config.data_dir;
        write(data_dir, &render(&points))
            .map_err(|e| BrokerError::io(format!("write {}", data_dir.join(FILE).display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
