//! The metadata quorum: an openraft node per broker, talking over tonic (`--cluster-listen`),
//! whose replicated log is a metadata journal (format version 2: the journal framing, with Raft
//! entries as payloads) and whose state machine is the metadata image.
//!
//! Flow: a broker asks [`Quorum::execute`] for an [`strata_meta::Operation`]; the leader plans it
//! against its image (`strata_meta::plan`), commits the records as one Raft entry, every node
//! applies them, and the broker's reconciler reacts to the published image.
//!
//! Invariants:
//! - no metadata changes except through a committed Raft entry;
//! - the image on every node is the fold of the same committed entries, in the same order;
//! - a node's vote and log entries are on disk before it answers the RPC that asked for them.

pub mod files;
pub mod link_tls;
pub mod log_store;
pub mod network;
mod offline;
mod quorum;
pub mod service;
pub mod state_machine;
pub mod types;
pub mod voters;

/// The generated gRPC code for `proto/strata_cluster.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    tonic::include_proto!("strata.cluster.v1");
}

pub use link_tls::ClusterTls;
pub use offline::offline_image;
pub use quorum::{Quorum, QuorumConfig, QuorumStatus, EXECUTE_TIMEOUT};
pub use state_machine::Published;
pub use voters::{parse_voters, Voters};
