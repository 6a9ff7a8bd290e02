//! Offline inspection and repair of the metadata journal (`strata meta check`, `strata meta
//! repair`). Both run with the broker stopped.
//!
//! Invariants:
//! - [`check`] never writes;
//! - [`repair`] cuts only at an entry boundary of the intact prefix, and keeps a byte-for-byte
//!   copy of the original file (fsynced) before it truncates, so the loss it accepts is explicit
//!   and reversible by hand.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{MetaError, MetaErrorKind};
use crate::journal::HEADER_LEN;
use crate::journal_scan::{entry_at, next_intact_entry, scan_any, ScanEnd};
use crate::state::MetadataState;

/// What `strata meta check` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The journal file.
    pub path: PathBuf,
    /// File length in bytes.
    pub file_len: usize,
    /// Intact entries before the first bad one.
    pub intact_entries: usize,
    /// Length of the intact prefix.
    pub intact_len: usize,
    /// How the file ends.
    pub end: ScanEnd,
    /// Intact entries found after the damage (0 unless damaged).
    pub entries_after_damage: usize,
    /// Topic names in the image built from the intact prefix.
    pub topics: Vec<String>,
}

impl CheckReport {
    /// True when the broker would refuse to start on this journal.
    pub fn is_damaged(&self) -> bool {
        matches!(self.end, ScanEnd::Damaged { .. })
    }
}

/// Reads and classifies the journal at `path`.
pub fn check(path: &Path) -> Result<CheckReport, MetaError> {
    let data = fs::read(path).map_err(|e| MetaError::io(format!("read {}", path.display()), e))?;
    let scanned = scan_any(&data)
        .map_err(|m| MetaError::new(MetaErrorKind::Damaged, format!("{}: {m}", path.display())))?;
    let entries_after_damage = match &scanned.end {
        ScanEnd::Damaged { next_intact, .. } => count_intact_from(&data, *next_intact),
        _ => 0,
    };
    let mut state = MetadataState::default();
    for r in scanned.records.iter().flatten() {
        state.apply(r);
    }
    Ok(CheckReport {
        path: path.to_path_buf(),
        file_len: data.len(),
        intact_entries: scanned.records.len(),
        intact_len: scanned.intact_len,
        end: scanned.end,
        entries_after_damage,
        topics: state.topics.keys().cloned().collect(),
    })
}

/// Counts intact entries from `from` on (after damage), resynchronising past bad ones.
fn count_intact_from(data: &[u8], from: usize) -> usize {
    let mut pos = from;
    let mut total = 0;
    while pos < data.len() {
        match entry_at(data, pos) {
            Ok(payload) => {
                total += 1;
                pos += 8 + payload.len();
            }
            Err(_) => match next_intact_entry(data, pos + 1) {
                Some(next) => pos = next,
                None => break,
            },
        }
    }
    total
}

/// What [`repair`] did.
#[derive(Debug, Clone)]
pub struct RepairOutcome {
    /// Where the original file was copied.
    pub backup: PathBuf,
    /// Entries kept.
    pub kept_entries: usize,
    /// Bytes cut off.
    pub dropped_bytes: usize,
}

/// Truncates the journal at `truncate_at`, which must be an entry boundary within the intact
/// prefix, after copying the original aside.
pub fn repair(path: &Path, truncate_at: usize) -> Result<RepairOutcome, MetaError> {
    let data = fs::read(path).map_err(|e| MetaError::io(format!("read {}", path.display()), e))?;
    let scanned = scan_any(&data)
        .map_err(|m| MetaError::new(MetaErrorKind::Damaged, format!("{}: {m}", path.display())))?;
    // The quorum's commit hint may point past the cut; it is only a hint, so drop it.
    let _ = fs::remove_file(path.with_file_name("raft-committed.json"));
    let boundary = truncate_at == scanned.intact_len
        || (truncate_at >= HEADER_LEN && scanned.offsets.contains(&truncate_at));
    if !boundary {
        return Err(MetaError::new(
            MetaErrorKind::InvalidRequest,
            format!(
                "--truncate-at {truncate_at} is not an entry boundary within the intact prefix \
                 (0..={}); `strata meta check` prints the offset to use",
                scanned.intact_len
            ),
        ));
    }
    let kept_entries = scanned.offsets.iter().filter(|&&o| o < truncate_at).count();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let backup = path.with_file_name(format!(
        "{}.damaged-{stamp}",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let io = |what: String| move |e| MetaError::io(what, e);
    let mut copy = File::create(&backup).map_err(io(format!("create {}", backup.display())))?;
    copy.write_all(&data)
        .and_then(|_| copy.sync_all())
        .map_err(io(format!("write {}", backup.display())))?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(format!("open {}", path.display())))?;
    file.set_len(truncate_at as u64)
        .and_then(|_| file.sync_all())
        .map_err(io(format!("truncate {}", path.display())))?;
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("fsync {}", parent.display())))?;
    }
    Ok(RepairOutcome {
        backup,
        kept_entries,
        dropped_bytes: data.len() - truncate_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{encode_entry, Journal};
    use crate::record::MetadataRecord;

    fn rec(n: i64) -> MetadataRecord {
        MetadataRecord::ProducerIdsAllocated { next: n }
    }

    fn damaged_journal(dir: &Path) -> (PathBuf, usize) {
        let path = dir.join("metadata.log");
        {
            let (mut j, _) = Journal::open(&path).unwrap();
            for n in 1..=4 {
                j.append(&rec(n)).unwrap();
            }
        }
        let mut data = fs::read(&path).unwrap();
        let second = HEADER_LEN + encode_entry(&rec(1)).unwrap().len();
        data[second + 9] ^= 0x10;
        fs::write(&path, &data).unwrap();
        (path, second)
    }

    #[test]
    fn check_reports_damage_and_what_follows() {
        let dir = tempfile::tempdir().unwrap();
        let (path, second) = damaged_journal(dir.path());
        let report = check(&path).unwrap();
        assert!(report.is_damaged());
        assert_eq!(report.intact_entries, 1);
        assert_eq!(report.intact_len, second);
        assert_eq!(report.entries_after_damage, 2);
    }

    #[test]
    fn repair_truncates_at_a_boundary_and_keeps_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let (path, second) = damaged_journal(dir.path());
        let original = fs::read(&path).unwrap();
        assert!(repair(&path, second + 1).is_err(), "not a boundary");
        assert!(
            repair(&path, second + 100).is_err(),
            "beyond the intact prefix"
        );
        assert_eq!(fs::read(&path).unwrap(), original);
        let out = repair(&path, second).unwrap();
        assert_eq!(out.kept_entries, 1);
        assert_eq!(out.dropped_bytes, original.len() - second);
        assert_eq!(fs::read(&out.backup).unwrap(), original);
        let (_, recs) = Journal::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1)]);
    }
}
