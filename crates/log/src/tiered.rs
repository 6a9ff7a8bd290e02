//! What the tiering worker needs from a local log: the sealed segments it may upload, the local
//! log start, and a high-water mark of what is safely uploaded.
//!
//! Invariants:
//! - only sealed segments are listed (the active one may still grow);
//! - `remote_upload_end` is set by the tiering worker only after the upload is recorded
//!   durably in its catalog; local retention never deletes a segment ending above it, so
//!   nothing leaves local disk before it is safe remotely;
//! - the log start offset (global, across tiers) only moves by DeleteRecords, total retention,
//!   or [`PartitionLog::delete_records_before`] called on behalf of remote retention.

use std::path::PathBuf;

use std::path::Path;

use strata_records::BatchHeader;

use crate::checkpoint::write_log_start;
use crate::producer_snapshot::{decode, segment_snapshot_path};
use crate::producer_state::ProducerState;
use crate::segment::file_name;
use crate::{LogConfig, LogError, PartitionLog};

/// The producer state a restore from the bucket or a restart from the remote tier starts at
/// offset `at` with.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProducerSeed<'a> {
    /// A producer snapshot document (the `<offset>.snapshot` uploaded with the remote segment
    /// ending at `offset`) and that offset. Used only when `offset` is exactly the seeded
    /// offset and the document parses: it then holds the whole state there, open transactions
    /// and epochs included, and `history` is not needed. A snapshot taken earlier is not
    /// folded forward: the transaction markers after it are not in `history`, so its open
    /// transactions might be long decided.
    pub snapshot: Option<(i64, &'a [u8])>,
    /// Headers of idempotent batches in offset order (the remote manifests'); without a usable
    /// snapshot they rebuild the duplicate-detection state (no transactions).
    pub history: &'a [BatchHeader],
}

impl ProducerSeed<'_> {
    /// The producer state at `at`, and whether the snapshot was used.
    fn state_at(&self, at: i64) -> (ProducerState, bool) {
        if let Some((offset, bytes)) = self.snapshot {
            let state = (offset == at)
                .then(|| std::str::from_utf8(bytes).ok())
                .flatten()
                .and_then(|text| decode(text, offset));
            match state {
                Some(state) => return (state, true),
                None => tracing::warn!(
                    offset,
                    at,
                    "remote producer snapshot unusable; seeding from the manifests' batches"
                ),
            }
        }
        let mut state = ProducerState::default();
        for h in self.history.iter().filter(|h| h.base_offset < at) {
            state.record(h, None);
        }
        (state, false)
    }
}

/// A sealed segment as the tiering worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// First offset of the segment.
    pub base_offset: i64,
    /// One past the last offset of the segment.
    pub end_offset: i64,
    /// Bytes in the `.log` file.
    pub size: u64,
    /// Largest record timestamp in the segment.
    pub max_timestamp: i64,
    /// Path of the `.log` file.
    pub log_path: PathBuf,
    /// Path of the `.index` file.
    pub offset_index_path: PathBuf,
    /// Path of the `.timeindex` file.
    pub time_index_path: PathBuf,
    /// Path of the `.txnindex` file, if the segment holds ABORT markers.
    pub txn_index_path: Option<PathBuf>,
    /// Path of the producer snapshot taken at this segment's end (`<end>.snapshot`), if any.
    pub producer_snapshot_path: Option<PathBuf>,
}

impl PartitionLog {
    /// Sealed segments, oldest first.
    pub fn sealed_segments(&self) -> Vec<SegmentInfo> {
        let sealed = self.segments.len().saturating_sub(1);
        self.segments[..sealed]
            .iter()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                end_offset: s.next_offset,
                size: s.size,
                max_timestamp: s.max_timestamp,
                log_path: s.log_path().to_path_buf(),
                offset_index_path: self.dir.join(file_name(s.base_offset, "index")),
                time_index_path: self.dir.join(file_name(s.base_offset, "timeindex")),
                txn_index_path: (!s.txn_index.entries().is_empty())
                    .then(|| s.txn_index.path().to_path_buf()),
                producer_snapshot_path: Some(segment_snapshot_path(&self.dir, s.next_offset))
                    .filter(|p| p.exists()),
            })
            .collect()
    }

    /// First offset held on local disk (≥ the log start offset).
    pub fn local_log_start_offset(&self) -> i64 {
        self.segments[0].base_offset.max(self.log_start_offset)
    }

    /// Records that every sealed segment ending at or below `end` is durably uploaded.
    pub fn set_remote_upload_end(&mut self, end: i64) {
        self.remote_upload_end = Some(self.remote_upload_end.map_or(end, |e| e.max(end)));
    }

    /// The end offset up to which segments are known to be uploaded.
    pub fn remote_upload_end(&self) -> Option<i64> {
        self.remote_upload_end
    }

    /// A follower of a tiered partition whose copy ends below its leader's first local offset
    /// (Kafka's OFFSET_MOVED_TO_TIERED_STORAGE): empties the copy and restarts it at
    /// `local_start`, with the log start lowered to `log_start` (what lies between is in the
    /// bucket and read from there), and seeds the producer state from `seed` (the remote
    /// snapshot at `local_start` when there is one: open transactions, epochs and sequences;
    /// else the remote manifests' idempotent batches below `local_start`), as
    /// [`restore_partition`] does. Returns whether the snapshot was used. Requires
    /// `remote.storage.enable`.
    pub fn restart_from_tier(
        &mut self,
        log_start: i64,
        local_start: i64,
        seed: ProducerSeed<'_>,
    ) -> Result<bool, LogError> {
        if !self.config.remote_storage_enable {
            return Err(LogError::Corrupt(
                "a restart from the remote tier needs remote.storage.enable on the topic".into(),
            ));
        }
        self.truncate_fully_and_start_at(local_start)?;
        let (state, from_snapshot) = seed.state_at(local_start);
        self.producers = state;
        let seeded = self
            .producers
            .write_segment_snapshot(&self.dir, local_start, true);
        if let Err(e) = seeded {
            return Err(self.fail_on_io("restart from the remote tier", e));
        }
        let start = log_start.clamp(0, local_start.max(0));
        if let Err(e) = write_log_start(&self.dir, start) {
            return Err(self.fail_on_io("restart from the remote tier", e));
        }
        self.log_start_offset = start;
        Ok(from_snapshot)
    }
}

/// Lays out an empty partition directory for data that lives only in remote storage (restore
/// from the bucket): log start `log_start`, next offset `next_offset`, no local segments but an
/// empty active one at `next_offset`. The producer state at `next_offset` comes from `seed`:
/// the remote snapshot taken there (open transactions, epochs, sequences) when usable, else
/// the headers (base offset, last offset delta, producer id, epoch, base sequence) of
/// idempotent batches in offset order recorded in the remote manifests, which rebuild the
/// duplicate-detection state only. Requires `config.remote_storage_enable`.
///
/// A transaction open at `next_offset` has its end in data that is not restored (or never
/// written), and no coordinator of the restored cluster knows it: it would hold the last
/// stable offset, and every later record, back from read_committed consumers forever. Each one
/// is aborted by an ABORT marker appended at `next_offset` onwards (producer epoch and
/// coordinator epoch from the snapshot), which keeps the transaction atomic — its restored
/// part is hidden, as its lost part is — and goes to the restored log's `.txnindex`, where
/// read_committed cold reads of the remote part find it.
pub fn restore_partition(
    dir: &Path,
    topic_id: &str,
    config: LogConfig,
    log_start: i64,
    next_offset: i64,
    seed: ProducerSeed<'_>,
    now_ms: i64,
) -> Result<RestoredProducers, LogError> {
    if !config.remote_storage_enable {
        return Err(LogError::Corrupt(
            "restore needs remote.storage.enable on the topic".into(),
        ));
    }
    if dir.exists() {
        return Err(LogError::Corrupt(format!(
            "{} already exists; restore only into an empty data dir",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| LogError::Io {
        context: format!("create {}", dir.display()),
        source: e,
    })?;
    // The first open creates the active segment at the checkpointed start...
    write_log_start(dir, next_offset)?;
    let mut log = PartitionLog::open(dir, topic_id, config.clone(), now_ms)?;
    let (state, from_snapshot) = seed.state_at(next_offset);
    log.producers = state;
    // Also the seed of a replay after a crash (there is nothing local to replay from): the
    // state at `next_offset`, before the markers below, which a replay applies on top.
    log.producers
        .write_segment_snapshot(dir, next_offset, true)?;
    let mut aborted = Vec::new();
    for p in log.producers() {
        if p.current_txn_start_offset < 0 {
            continue;
        }
        let marker = crate::TxnMarker {
            producer_id: p.producer_id,
            producer_epoch: p.producer_epoch,
            commit: false,
            coordinator_epoch: p.coordinator_epoch,
        };
        log.append_marker(&marker, 0, now_ms, crate::Durability::PageCache)?;
        aborted.push((p.producer_id, p.current_txn_start_offset));
    }
    // Closing writes the producer snapshot as of the log end with the clean marker, so the
    // reopen below (and the broker's) loads it instead of rescanning (there is nothing local).
    log.close()?;
    // ...then the log start is lowered to the remote start, which a tiered log keeps.
    write_log_start(dir, log_start)?;
    let log = PartitionLog::open(dir, topic_id, config, now_ms)?;
    debug_assert_eq!(log.log_start_offset(), log_start);
    log.close()?;
    Ok(RestoredProducers {
        from_snapshot,
        aborted,
    })
}

/// What [`restore_partition`] did with the producer state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoredProducers {
    /// The remote snapshot was used (else the manifests' idempotent batches).
    pub from_snapshot: bool,
    /// The transactions open at the restored end that were aborted: (producer id, first
    /// offset), in producer id order; their markers follow the restored end.
    pub aborted: Vec<(i64, i64)>,
}
