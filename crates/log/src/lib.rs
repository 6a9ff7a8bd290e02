//! The partition log: segments, offset and time indexes, recovery, retention, producer state.
//!
//! On-disk layout of one partition directory (Kafka's shape):
//! - `<base>.log` / `.index` / `.timeindex` (and `.txnindex` once it holds an ABORT marker) per
//!   segment, base offset as 20 zero-padded digits, and `<offset>.snapshot` (producer state at
//!   each roll, `producer_snapshot.rs`);
//!   `.log` holds client batches byte for byte with only base offset and leader epoch patched
//!   (plus max timestamp and CRC for LogAppendTime topics).
//! - `partition.metadata`, `leader-epoch-checkpoint`, `log-start-offset-checkpoint`,
//!   `producer-state.json` (written on close) and `.clean_shutdown` (present only while
//!   closed cleanly). Every one of them carries a format version.
//!
//! Module map: `partition` (the write path and accessors), `read`, `timestamp`, `retention`,
//! `recovery` (open), `replay` (producer state and txn indexes from batches), `txn` (markers,
//! last stable offset, aborted transactions), `txn_index`, `producer_snapshot`, `segment` + `segment_scan` + `scan`, `offset_index` + `time_index` +
//! `index_file`, `producer_state`, `leader_epoch`, `checkpoint`, `config`, `cleaner` (compaction), `durability` (group commit), `error`, `failure` (offline after
//! a storage error), `replica_append` (follower appends, external high watermark), `truncate`
//! (cutting a diverged tail).
//!
//! `PartitionLog` is not internally synchronised: callers wrap it in a mutex. All I/O is
//! blocking std::fs with positional reads and writes.

#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod checkpoint;
mod cleaner;
mod config;
mod durability;
mod error;
mod failure;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
mod index_file;
mod leader_epoch;
mod offset_index;
mod partition;
mod producer_snapshot;
mod producer_state;
mod read;
mod recovery;
mod replay;
mod replica_append;
mod retention;
mod scan;
mod segment;
mod segment_scan;
mod tiered;
mod time_index;
mod timestamp;
mod truncate;
mod txn;
mod txn_index;

pub use cleaner::{
    clean_detached, read_cleaner_checkpoint, segment_file_name, BuiltClean, CleanJob, CleanOutcome,
    CleanableState, CleanerConfig, DetachedClean, DetachedJob, DetachedSegment, SwapStep,
    CLEANER_CHECKPOINT,
};
pub use config::LogConfig;
pub use durability::{Durability, SyncPlan};
pub use error::LogError;
pub use identity::{read_identity, record_identity, PartitionIdentity};
pub use partition::{AppendInfo, OpenReport, PartitionLog};
pub use read::ReadSlice;
pub use replica_append::ReplicaAppend;
pub use tiered::{restore_partition, ProducerSeed, RestoredProducers, SegmentInfo};
pub use txn::{ProducerInfo, TxnMarker};
pub use txn_index::{
    collect_aborted, parse_txn_index, AbortedTxn, AbortedTxnEntry, TXN_INDEX_ENTRY_LEN,
};
