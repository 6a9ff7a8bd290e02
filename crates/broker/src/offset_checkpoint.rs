//! Kafka's offset checkpoint file format (`OffsetCheckpointFile`), shared by
//! `recovery-point-offset-checkpoint` and `replication-offset-checkpoint`:
//!
//! ```text
//! 0                      version
//! 2                      number of entries
//! orders 0 4096          <topic> <partition> <offset>
//! orders 1 17
//! ```
//!
//! Invariants: only version 0 is read; a malformed file parses to `None` (callers treat it as
//! absent, so these files only ever save work); writes are atomic (temp file, fsync, rename,
//! directory fsync).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::partition::TopicPartition;

/// Parses the file; `None` if it is not version 0 or is malformed.
pub(crate) fn parse(text: &str) -> Option<HashMap<TopicPartition, i64>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    // Every entry takes at least 6 bytes ("t 0 0\n"): reserve no more than the text can hold.
    let mut points = HashMap::with_capacity(count.min(text.len() / 6));
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

/// Reads `data_dir/name`; empty if missing or unusable (a warning saying `consequence`).
pub(crate) fn read(data_dir: &Path, name: &str, consequence: &str) -> HashMap<TopicPartition, i64> {
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).unwrap_or_else(|| {
            tracing::warn!(file = %path.display(), "unreadable checkpoint ignored: {consequence}");
            HashMap::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e,
                "checkpoint not readable: {consequence}");
            HashMap::new()
        }
    }
}

/// Writes `data_dir/name` atomically: temp file, fsync, rename, directory fsync.
pub(crate) fn write(
    data_dir: &Path,
    name: &str,
    entries: &BTreeMap<TopicPartition, i64>,
) -> std::io::Result<()> {
    let tmp = data_dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(render(entries).as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(name))?;
    std::fs::File::open(data_dir)?.sync_all()
}

impl crate::broker::Broker {
    /// Writes `data_dir/name` with `value` of every open partition's log.
    pub(crate) fn write_offset_checkpoint(
        &self,
        name: &str,
        value: impl Fn(&strata_log::PartitionLog) -> i64,
    ) -> Result<(), crate::error::BrokerError> {
        let entries: BTreeMap<TopicPartition, i64> = self
            .all_partitions()
            .iter()
            .map(|p| ((p.topic.clone(), p.index), value(&p.log())))
            .collect();
        let data_dir = &self.config.data_dir;
        write(data_dir, name, &entries).map_err(|e| {
            crate::error::BrokerError::io(format!("write {}", data_dir.join(name).display()), e)
        })
    }
}
