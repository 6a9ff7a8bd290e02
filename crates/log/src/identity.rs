//! A partition directory's own record of what it is: topic id, topic name and partition index,
//! kept in `partition.metadata` so that the directory can be re-attached to a topic when the
//! cluster metadata is lost (`strata meta recover`), without trusting the directory's name.
//!
//! Format: the `topic` and `partition` lines are optional additions to `partition.metadata`
//! version 1 (`version: 1\ntopic_id: <id>\nformat: strata-log-1\ntopic: <name>\npartition: <n>\n`).
//! Readers of version 1 ignore keys they do not know, so files with and without them are both
//! version 1 (migrations/FORMATS.md).
//!
//! Invariants:
//! - [`record_identity`] only adds or corrects the name and index; it never changes the topic
//!   id, which [`crate::PartitionLog::open`] has already verified;
//! - the file is replaced atomically (write, fsync, rename, fsync dir), and only when its
//!   contents would change.

use std::path::Path;

use crate::checkpoint::{read_optional, write_atomic, PARTITION_METADATA};
use crate::LogError;

/// What a partition directory says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionIdentity {
    /// Topic id (UUID, hyphenated).
    pub topic_id: String,
    /// Topic name, if recorded (files written before it was added lack it).
    pub topic: Option<String>,
    /// Partition index, if recorded.
    pub partition: Option<i32>,
}

/// Reads `partition.metadata` of `dir`; `None` if the file is missing or has no topic id.
pub fn read_identity(dir: &Path) -> Result<Option<PartitionIdentity>, LogError> {
    let Some(text) = read_optional(dir, PARTITION_METADATA)? else {
        return Ok(None);
    };
    let mut topic_id = None;
    let mut topic = None;
    let mut partition = None;
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim();
            match key.trim() {
                "topic_id" => topic_id = Some(value.to_string()),
                "topic" => topic = Some(value.to_string()),
                "partition" => partition = value.parse().ok(),
                _ => {}
            }
        }
    }
    Ok(topic_id.map(|topic_id| PartitionIdentity {
        topic_id,
        topic,
        partition,
    }))
}

/// Records the topic name and partition index in `partition.metadata` (which must exist, as it
/// does after `PartitionLog::open`).
pub fn record_identity(dir: &Path, topic: &str, partition: i32) -> Result<(), LogError> {
    let Some(text) = read_optional(dir, PARTITION_METADATA)? else {
        return Err(LogError::Corrupt(format!(
            "{PARTITION_METADATA} missing in {}",
            dir.display()
        )));
    };
    let mut out = String::with_capacity(text.len() + topic.len() + 32);
    for line in text.lines() {
        let key = line.split_once(':').map(|(k, _)| k.trim());
        if matches!(key, Some("topic") | Some("partition")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("topic: {topic}\npartition: {partition}\n"));
    if out == text {
        return Ok(());
    }
    write_atomic(dir, PARTITION_METADATA, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back_without_touching_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = "version: 1\ntopic_id: 0b7c-id\nformat: strata-log-1\n";
        std::fs::write(dir.path().join(PARTITION_METADATA), v1).unwrap();
        assert_eq!(
            read_identity(dir.path()).unwrap(),
            Some(PartitionIdentity {
                topic_id: "0b7c-id".into(),
                topic: None,
                partition: None
            })
        );
        record_identity(dir.path(), "orders", 3).unwrap();
        let text = std::fs::read_to_string(dir.path().join(PARTITION_METADATA)).unwrap();
        assert_eq!(text, format!("{v1}topic: orders\npartition: 3\n"));
        record_identity(dir.path(), "orders", 3).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(PARTITION_METADATA)).unwrap(),
            text
        );
        let id = read_identity(dir.path()).unwrap().unwrap();
        assert_eq!(
            (id.topic.as_deref(), id.partition),
            (Some("orders"), Some(3))
        );
        assert!(read_identity(tempfile::tempdir().unwrap().path())
            .unwrap()
            .is_none());
    }
}
