//! The runtime Strata's coordinators share: a *state machine over an internal log*.
//!
//! Kafka keeps coordinator state in internal topics — groups and committed offsets in
//! `__consumer_offsets`, transactions in `__transaction_state` — and both coordinators follow
//! the same pattern, which lives here once:
//! - a key is owned by one partition of the internal topic (`abs(java_hash(key)) % partitions`,
//!   [`partition_for`]), so every record of a key is in one partition, in order;
//! - the coordinator of a key is the leader of its partition. The broker *elects* a
//!   coordinator for a partition when it becomes its leader in some leader epoch, with an
//!   [`InternalLog`] over that partition, and *resigns* it when it stops
//!   ([`Leadership`]); on election the partition is replayed from its log start into the
//!   coordinator's in-memory state, and only then served;
//! - a state change appends its records through the [`InternalLog`], which returns once they
//!   are durable and committed (fsynced and in the high watermark of the replicated
//!   partition), and only then is the change made visible and the client answered.
//!
//! The group coordinator (`strata-group`) and the transaction coordinator (`strata-txn`) each
//! own their record format and state machine; the log access, the partitioning, the leadership
//! life cycle (status, load, resign, the error codes clients see while a partition moves) and
//! the batch building are this crate's.
#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod batch;
mod hash;
mod internal_log;
mod leadership;
mod shards;

pub use batch::{build_records, TxnProducer};
pub use hash::partition_for;
pub use internal_log::{read_batches, InternalLog, LocalLog, StorageError};
pub use leadership::{Leadership, Term, Transitions};
pub use shards::{CoordinatedPartition, Shards};

/// NOT_COORDINATOR: this broker does not lead the key's partition.
pub const NOT_COORDINATOR: i16 = 16;
/// COORDINATOR_LOAD_IN_PROGRESS: the partition is being replayed.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// COORDINATOR_NOT_AVAILABLE: the partition could not be loaded.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;

/// Runs blocking work (fsync) without stalling other tasks on a multi-threaded runtime; runs it
/// inline elsewhere (a current-thread runtime or no runtime at all).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
