//! Partition directories in the data dir: their names, deletion, and what startup does with
//! directories that no topic owns.
//!
//! Invariants:
//! - a partition directory is `<topic>-<partition>`, as in Kafka (at most 249 + 1 + 5 bytes);
//! - a deleted partition is renamed to `<topic>-<p>.<uuid>-delete` (the topic part cut so the
//!   name fits in 255 bytes, as Kafka's `LocalLog` does) and then removed; startup finishes
//!   removals that a crash interrupted — those directories belong to deleted topics;
//! - a partition directory that no topic owns is **never removed**: startup renames it aside to
//!   `<dir>.stray` (or `<topic>-<p>.<uuid>.stray` when that name is taken or too long), logs it
//!   and counts it in `strata_stray_partition_dirs`. `strata meta recover` re-attaches stray
//!   directories using their own `partition.metadata`;
//! - names that look like neither (`__cluster_metadata`, `__tier`, `remote`, `lost+found`, …)
//!   are left alone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::BrokerError;

/// Longest file name the common Linux file systems allow.
const NAME_MAX: usize = 255;
/// Suffix of a directory being deleted.
const DELETE_SUFFIX: &str = "-delete";
/// Suffix of a directory no topic owns.
pub const STRAY_SUFFIX: &str = ".stray";

/// The directory of one partition: `<data dir>/<topic>-<partition>`, as in Kafka.
pub fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

/// `<topic>-<p>.<uuid><suffix>`, the topic cut so that the name fits in [`NAME_MAX`] bytes.
fn unique_capped_name(topic: &str, index: i32, suffix: &str) -> String {
    let tail = format!("-{index}.{}{suffix}", uuid::Uuid::new_v4().simple());
    let keep = topic.len().min(NAME_MAX.saturating_sub(tail.len()));
    // Topic names are ASCII, so any byte index is a character boundary.
    format!("{}{tail}", &topic[..keep])
}

/// Splits `<topic>-<partition>` into its parts.
pub fn parse_partition_dir_name(name: &str) -> Option<(&str, i32)> {
    let (topic, p) = name.rsplit_once('-')?;
    let index: i32 = p.parse().ok()?;
    (!topic.is_empty() && index >= 0 && p.bytes().all(|b| b.is_ascii_digit()))
        .then_some((topic, index))
}

/// Deletes a partition directory: rename to a `-delete` name (atomic), then remove.
pub fn remove_partition_dir(data_dir: &Path, topic: &str, index: i32) -> Result<(), BrokerError> {
    let dir = partition_dir(data_dir, topic, index);
    if !dir.exists() {
        return Ok(());
    }
    let doomed = data_dir.join(unique_capped_name(topic, index, DELETE_SUFFIX));
    std::fs::rename(&dir, &doomed)
        .and_then(|_| std::fs::remove_dir_all(&doomed))
        .map_err(|e| BrokerError::io(format!("remove {}", dir.display()), e))
}

/// Startup sweep: finishes interrupted deletions and renames unowned partition directories
/// aside. `owned` holds the directory names of every partition in the metadata image. Returns
/// the number of stray directories now present.
pub fn sweep_unowned(data_dir: &Path, owned: &HashSet<String>) -> Result<usize, BrokerError> {
    let entries = std::fs::read_dir(data_dir)
        .map_err(|e| BrokerError::io(format!("list {}", data_dir.display()), e))?;
    let mut strays = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.path().is_dir() || name.starts_with("__") {
            continue;
        }
        if name.ends_with(DELETE_SUFFIX) {
            tracing::info!(dir = %name, "finishing the removal of a deleted partition");
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| BrokerError::io(format!("remove {name}"), e))?;
            continue;
        }
        if name.ends_with(STRAY_SUFFIX) {
            strays += 1;
            tracing::warn!(dir = %name, "stray partition directory (no topic owns it); see `strata meta recover`");
            continue;
        }
        let Some((topic, index)) = parse_partition_dir_name(&name) else {
            continue;
        };
        if owned.contains(&name) {
            continue;
        }
        let mut aside = data_dir.join(format!("{name}{STRAY_SUFFIX}"));
        if name.len() + STRAY_SUFFIX.len() > NAME_MAX || aside.exists() {
            aside = data_dir.join(unique_capped_name(topic, index, STRAY_SUFFIX));
        }
        std::fs::rename(entry.path(), &aside)
            .map_err(|e| BrokerError::io(format!("rename {name} aside"), e))?;
        strays += 1;
        tracing::warn!(
            dir = %name,
            renamed_to = %aside.display(),
            "partition directory that no topic owns renamed aside as stray (not deleted); \
             `strata meta recover` re-attaches it"
        );
    }
    if strays > 0 {
        sync_dir(data_dir)?;
    }
    metrics::gauge!("strata_stray_partition_dirs").set(strays as f64);
    Ok(strays)
}

fn sync_dir(dir: &Path) -> Result<(), BrokerError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BrokerError::io(format!("fsync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_names_fit_for_the_longest_topic() {
        let topic = "t".repeat(249);
        for suffix in [DELETE_SUFFIX, STRAY_SUFFIX] {
            let name = unique_capped_name(&topic, 9999, suffix);
            assert!(name.len() <= NAME_MAX, "{}", name.len());
            assert!(name.ends_with(suffix));
            assert!(name.contains("-9999."));
        }
    }

    #[test]
    fn parses_partition_dir_names() {
        assert_eq!(parse_partition_dir_name("orders-3"), Some(("orders", 3)));
        assert_eq!(parse_partition_dir_name("a-b-12"), Some(("a-b", 12)));
        assert_eq!(parse_partition_dir_name("orders"), None);
        assert_eq!(parse_partition_dir_name("-1"), None);
        assert_eq!(parse_partition_dir_name("x-+1"), None);
        assert_eq!(parse_partition_dir_name("x--1"), Some(("x-", 1)));
        assert_eq!(parse_partition_dir_name("x-1.stray"), None);
    }

    #[test]
    fn sweep_renames_strays_and_finishes_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "kept-0",
            "lost-0",
            "lost-1",
            "gone-0.abc-delete",
            "remote",
            "__tier",
        ] {
            std::fs::create_dir(d.join(name)).unwrap();
        }
        std::fs::write(d.join("lost-0/00000000000000000000.log"), b"data").unwrap();
        std::fs::create_dir(d.join("lost-1.stray")).unwrap();
        let owned: HashSet<String> = ["kept-0".to_string()].into();
        assert_eq!(sweep_unowned(d, &owned).unwrap(), 3);
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(names.contains(&"kept-0".to_string()));
        assert!(names.contains(&"lost-0.stray".to_string()));
        assert!(names.contains(&"lost-1.stray".to_string()));
        assert!(names
            .iter()
            .any(|n| n.starts_with("lost-1.") && n.ends_with(".stray") && n != "lost-1.stray"));
        assert!(!names.iter().any(|n| n.ends_with("-delete")));
        assert_eq!(
            std::fs::read(d.join("lost-0.stray/00000000000000000000.log")).unwrap(),
            b"data"
        );
    }
}
