//! Cluster metadata as a replayed sequence of records.
//!
//! Every change to topics, partitions and configs is first appended (and fsynced) to the
//! metadata journal as a [`MetadataRecord`], then applied to the in-memory [`MetadataState`].
//! On startup the journal is replayed from the beginning. Nothing else persists metadata, so
//! putting a Raft quorum under the journal later replaces only [`journal`], not the callers.
//!
//! Invariants:
//! - `state == fold(apply, journal records)` at all times;
//! - a record is applied only after it is durable;
//! - a record that fails validation is never written.
#![deny(missing_docs, unreachable_pub, unused_must_use)]

pub mod acl;
pub mod election;
mod error;
pub mod journal;
pub mod journal_repair;
pub mod journal_scan;
mod names;
pub mod ops;
pub mod reassign;
mod record;
pub mod scram;
mod state;
mod store;
pub mod topic_config;

pub use error::{MetaError, MetaErrorKind};
pub use names::{
    is_internal_topic, refuse_internal, validate_topic_name, INTERNAL_PREFIX, INTERNAL_TOPICS,
    TOPIC_NAME_MAX_LEN,
};
pub use ops::{plan, Operation, Outcome};
pub use record::{
    BrokerRegistration, Endpoint, MetadataRecord, PartitionLeadership, Reassignment,
    ScramCredential, TopicRecord,
};
pub use state::{MetadataState, TopicMeta};
pub use store::MetadataStore;
