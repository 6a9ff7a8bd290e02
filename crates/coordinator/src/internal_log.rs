//! The log a coordinator writes its state to: one partition of an internal topic.
//!
//! Invariants:
//! - [`InternalLog::append`] returns Ok only once every batch is durable and committed
//!   (fsynced, and in the high watermark of a replicated partition); on error none of them may
//!   be treated as stored (some may still reach the log, as after any failed acks=all
//!   produce), so a coordinator applies a change only after Ok;
//! - a log belongs to one leader term: the broker's implementation refuses writes once this
//!   broker stops leading the partition in the epoch the coordinator loaded;
//! - [`LocalLog`] is an unreplicated partition fsynced on every append, for tools and tests.

use std::path::Path;

use strata_log::{LogConfig, LogError, PartitionLog};
use strata_records::RecordsError;

/// Why a coordinator's storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The partition log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A batch could not be built or decoded.
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// A record is not in a format this build reads or writes.
    #[error("record format: {0}")]
    Format(String),
    /// The coordinator closed the log, or no longer coordinates its partition.
    #[error("the internal log is closed")]
    Closed,
    /// The partition cannot take the write now: this broker stopped leading it, or its ISR
    /// did not take the write in time.
    #[error("internal log unavailable: {0}")]
    Unavailable(String),
    /// Reading a segment failed.
    #[error("reading {path}: {source}")]
    Io {
        /// What was read.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// One partition of an internal topic as a coordinator uses it while it leads the partition.
pub trait InternalLog: Send + Sync {
    /// Appends `batches` (built by the coordinator; offsets and leader epoch are assigned here)
    /// and returns once all of them are durable and committed (see the module docs).
    fn append(&self, batches: &mut [Vec<u8>], now_ms: i64) -> Result<(), StorageError>;
    /// Whole batches from `offset`, at most about `max_bytes` (at least one batch); empty at
    /// the log end.
    fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, StorageError>;
    /// `[log start, log end)`.
    fn bounds(&self) -> (i64, i64);
    /// Called when the coordinator closes; a log the coordinator owns closes itself here.
    fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// An unreplicated internal partition in its own directory, fsynced on every append.
#[derive(Debug)]
pub struct LocalLog {
    log: std::sync::Mutex<Option<PartitionLog>>,
}

impl LocalLog {
    /// Opens (creating if needed) the partition in `dir`, with crash recovery.
    pub fn open(
        dir: &Path,
        topic_id: &str,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<LocalLog, StorageError> {
        let log = PartitionLog::open(dir, topic_id, config, now_ms)?;
        Ok(LocalLog {
            log: std::sync::Mutex::new(Some(log)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.as_mut().ok_or(StorageError::Closed)?)
    }
}

impl InternalLog for LocalLog {
    fn append(&self, batches: &mut [Vec<u8>], now_ms: i64) -> Result<(), StorageError> {
        self.with(|log| {
            crate::blocking(|| {
                for batch in batches.iter_mut() {
                    log.append(batch, 0, now_ms)?;
                }
                log.flush()
            })?;
            Ok(())
        })
    }

    fn read(&self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, StorageError> {
        self.with(|log| read_batches(log, offset, max_bytes))
    }

    fn bounds(&self) -> (i64, i64) {
        self.with(|log| Ok((log.log_start_offset(), log.log_end_offset())))
            .unwrap_or((0, 0))
    }

    fn close(&self) -> Result<(), StorageError> {
        let taken = self.log.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(log) => Ok(log.close()?),
            None => Ok(()),
        }
    }
}

/// Whole batches of `log` from `offset` up to its end, at most about `max_bytes`.
pub fn read_batches(
    log: &PartitionLog,
    offset: i64,
    max_bytes: usize,
) -> Result<Vec<u8>, StorageError> {
    let end = log.log_end_offset();
    if offset >= end {
        return Ok(Vec::new());
    }
    let slice = log.read(offset, max_bytes, end)?;
    slice.read_to_vec().map_err(|source| StorageError::Io {
        path: log.dir().display().to_string(),
        source,
    })
}
