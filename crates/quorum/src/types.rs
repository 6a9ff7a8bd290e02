//! The quorum's Raft type configuration: what a log entry carries and what applying it returns.
//!
//! Invariant: one Raft entry carries one [`Batch`] — the records of one planned operation —
//! so an operation is applied whole or not at all, on every node in the same order.

use std::io::Cursor;

use serde::{Deserialize, Serialize};
use strata_meta::MetadataRecord;

/// The records of one operation, committed as one Raft entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Records, applied in order.
    pub records: Vec<MetadataRecord>,
}

/// What applying an entry returns to the leader that proposed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Raft index of the applied entry.
    pub index: u64,
}

openraft::declare_raft_types!(
    /// Strata's Raft types: metadata batches in, applied indexes out; node ids are `node.id`.
    pub TypeConfig:
        D = Batch,
        R = Applied,
);

/// A Raft node id (`node.id`).
pub type NodeId = u64;
/// A Raft log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A Raft log id.
pub type LogId = openraft::LogId<NodeId>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
