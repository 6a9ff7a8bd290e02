//! `strata meta recover`: rebuilds topics in the metadata journal from the partition
//! directories on disk, for a data dir whose metadata was lost or cut by `strata meta repair`.
//! Runs with the broker stopped.
//!
//! Each partition directory (`<topic>-<p>`, or one renamed aside as `….stray`) says what it is
//! in its own `partition.metadata`: topic id, and (since this build) topic name and partition
//! index; older files fall back to the directory name for those two.
//!
//! Invariants:
//! - nothing is deleted: a directory that cannot be re-attached (no topic id, a name that now
//!   belongs to another topic id, two directories claiming one partition) is left where it is
//!   and reported;
//! - a recovered topic keeps its topic id, so its tiered segments in the bucket (keyed by topic
//!   id) belong to it again;
//! - configs are not stored in partition directories, so a recovered topic gets
//!   `retention.ms=-1` and `retention.bytes=-1` (keep everything) until the operator sets its
//!   configs again; partitions with no directory are created empty;
//! - the journal entry for a topic is written before its stray directories are renamed back, so
//!   a crash in between leaves strays that a second run re-attaches.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use strata_meta::{MetadataStore, TopicMeta};

use crate::dirs::{parse_partition_dir_name, partition_dir, STRAY_SUFFIX};
use crate::error::BrokerError;

/// What recovery found and did.
#[derive(Debug, Default)]
pub struct RecoverReport {
    /// Topics added to the journal: (name, topic id, partitions).
    pub created: Vec<(String, String, i32)>,
    /// Directories renamed back from `.stray` to their partition name.
    pub reattached: Vec<(PathBuf, PathBuf)>,
    /// Directories left alone, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// One partition directory found on disk.
#[derive(Debug)]
struct Found {
    path: PathBuf,
    topic_id: String,
    topic: String,
    partition: i32,
}

/// Rebuilds missing topics from the partition directories under `data_dir`.
pub fn recover_topics(
    data_dir: &Path,
    meta_dir: &Path,
    node_id: i32,
) -> Result<RecoverReport, BrokerError> {
    let mut report = RecoverReport::default();
    let base = strata_quorum::offline_image(meta_dir)?;
    let mut store = MetadataStore::open_with_base(meta_dir, node_id, base)?;
    let found = scan_dirs(data_dir, &mut report)?;
    let mut by_id: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for f in found {
        by_id.entry(f.topic_id.clone()).or_default().push(f);
    }
    for (topic_id, dirs) in by_id {
        let name = dirs[0].topic.clone();
        if let Some(other) = dirs.iter().find(|d| d.topic != name) {
            for d in &dirs {
                report.skipped.push((
                    d.path.clone(),
                    format!(
                        "topic id {topic_id} is claimed under two names ({name}, {})",
                        other.topic
                    ),
                ));
            }
            continue;
        }
        let existing = store.state().topic_by_id(&topic_id).cloned();
        let topic = match existing {
            Some(t) => t,
            None => match store.topic(&name) {
                Some(t) => {
                    for d in &dirs {
                        report.skipped.push((
                            d.path.clone(),
                            format!(
                                "topic {name} exists with another id ({}); this directory has id {topic_id}",
                                t.topic_id
                            ),
                        ));
                    }
                    continue;
                }
                None => {
                    let partitions = dirs.iter().map(|d| d.partition).max().unwrap_or(0) + 1;
                    let configs: BTreeMap<String, String> = [
                        ("retention.ms".to_string(), "-1".to_string()),
                        ("retention.bytes".to_string(), "-1".to_string()),
                    ]
                    .into();
                    let t = store
                        .create_topic_with_id(&name, &topic_id, partitions, 1, configs, false)?;
                    report
                        .created
                        .push((name.clone(), topic_id.clone(), partitions));
                    t
                }
            },
        };
        reattach(data_dir, &topic, dirs, &mut report)?;
    }
    Ok(report)
}

/// Renames stray directories of `topic` back to `<topic>-<p>`.
fn reattach(
    data_dir: &Path,
    topic: &TopicMeta,
    dirs: Vec<Found>,
    report: &mut RecoverReport,
) -> Result<(), BrokerError> {
    let mut claimed: HashMap<i32, PathBuf> = HashMap::new();
    for d in dirs {
        let target = partition_dir(data_dir, &topic.name, d.partition);
        if d.path == target {
            claimed.insert(d.partition, target);
            continue;
        }
        if d.partition >= topic.partitions {
            report.skipped.push((
                d.path,
                format!(
                    "partition {} is beyond the topic's {} partitions",
                    d.partition, topic.partitions
                ),
            ));
            continue;
        }
        if target.exists() || claimed.contains_key(&d.partition) {
            report
                .skipped
                .push((d.path, format!("{} already exists", target.display())));
            continue;
        }
        std::fs::rename(&d.path, &target)
            .map_err(|e| BrokerError::io(format!("rename {} back", d.path.display()), e))?;
        claimed.insert(d.partition, target.clone());
        report.reattached.push((d.path, target));
    }
    std::fs::File::open(data_dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| BrokerError::io(format!("fsync {}", data_dir.display()), e))
}

/// Every partition directory (live or stray) with what it says about itself.
fn scan_dirs(data_dir: &Path, report: &mut RecoverReport) -> Result<Vec<Found>, BrokerError> {
    let entries = std::fs::read_dir(data_dir)
        .map_err(|e| BrokerError::io(format!("list {}", data_dir.display()), e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !path.is_dir() || name.starts_with("__") || name.ends_with("-delete") {
            continue;
        }
        let base = name.strip_suffix(STRAY_SUFFIX);
        let from_name = base.map(strip_unique_id).unwrap_or(&name).to_string();
        let parsed = parse_partition_dir_name(&from_name);
        if base.is_none() && parsed.is_none() {
            continue; // not a partition directory at all
        }
        let identity = match strata_log::read_identity(&path) {
            Ok(Some(id)) => id,
            Ok(None) => {
                report
                    .skipped
                    .push((path, "no partition.metadata with a topic id".into()));
                continue;
            }
            Err(e) => {
                report.skipped.push((path, e.to_string()));
                continue;
            }
        };
        let topic = identity
            .topic
            .clone()
            .or_else(|| parsed.map(|(t, _)| t.to_string()));
        let partition = identity.partition.or(parsed.map(|(_, p)| p));
        match (topic, partition) {
            (Some(topic), Some(partition))
                if strata_meta::validate_topic_name(&topic).is_ok() && partition >= 0 =>
            {
                found.push(Found {
                    path,
                    topic_id: identity.topic_id,
                    topic,
                    partition,
                })
            }
            _ => report
                .skipped
                .push((path, "cannot tell its topic name and partition".into())),
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// `<topic>-<p>.<32 hex>` → `<topic>-<p>` (the unique form of a stray name).
fn strip_unique_id(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((head, id)) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => head,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_are_stripped() {
        assert_eq!(
            strip_unique_id("t-0.0123456789abcdef0123456789abcdef"),
            "t-0"
        );
        assert_eq!(strip_unique_id("my.topic-0"), "my.topic-0");
    }
}
