//! The metadata image as a stopped node left it, for offline tools (`strata meta recover`,
//! `strata tier restore`): the snapshot, then every entry of the Raft log after it.
//!
//! Invariant: reads only; entries not yet known to be committed are included (on a one-voter
//! cluster every entry in the log was written by its only leader).

use std::path::Path;

use openraft::{EntryPayload, RaftLogId};
use strata_meta::journal_scan::scan_as;
use strata_meta::{MetaError, MetaErrorKind, MetadataState};

use crate::log_store::{RAFT_LOG_FILE, RAFT_LOG_VERSION};
use crate::state_machine::StateMachine;
use crate::types::Entry;

/// The image of the quorum state under `dir` (empty when there is none).
pub fn offline_image(dir: &Path) -> Result<MetadataState, MetaError> {
    let (mut image, applied) = StateMachine::open(dir)?.snapshot_image();
    let path = dir.join(RAFT_LOG_FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(image),
        Err(e) => return Err(MetaError::io(format!("read {}", path.display()), e)),
    };
    let scanned = scan_as::<Entry>(&data, RAFT_LOG_VERSION)
        .map_err(|m| MetaError::new(MetaErrorKind::Damaged, format!("{}: {m}", path.display())))?;
    for entry in scanned.records {
        if entry.get_log_id().index <= applied {
            continue;
        }
        if let EntryPayload::Normal(batch) = &entry.payload {
            for r in &batch.records {
                image.apply(r);
            }
        }
    }
    Ok(image)
}
