//! The transaction coordinator (Kafka's classic, "TV1", transaction protocol).
//!
//! Design:
//! 1. A transactional id lives in partition `abs(java_hash(id)) % 50` of the internal topic
//!    `__transaction_state` (`transaction.state.log.num.partitions`), with Kafka's record
//!    layouts (`format.rs`). The coordinator of an id is the leader of its partition: the
//!    broker elects and resigns this coordinator per partition exactly as it does the group
//!    coordinator — both run on the shared runtime of `strata-coordinator` (leadership life
//!    cycle, replay on election, durable appends through the replicated internal log).
//! 2. Transitions (`ops.rs`, states in `state.rs`) are decided under the partition's write
//!    lock and become visible only once stored (`coordinator.rs`).
//! 3. Ending a transaction stores `PrepareCommit`/`PrepareAbort`, answers the client, and
//!    writes the COMMIT/ABORT markers to every partition of the transaction through the
//!    broker ([`TxnHost::write_markers`], WriteTxnMarkers to each partition's leader), then
//!    stores `CompleteCommit`/`CompleteAbort`. A coordinator elected for a partition resumes
//!    every transaction it finds in a `Prepare*` state, so a crash between EndTxn and the
//!    markers completes the transaction on the next coordinator.
//! 4. A timer aborts transactions older than their `transaction.timeout.ms`.
#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod admin;
pub mod codes;
mod config;
mod coordinator;
pub mod format;
mod host;
mod loader;
mod ops;
mod state;

pub use config::TxnConfig;
pub use coordinator::{TxnCoordinator, TRANSACTION_STATE_TOPIC, TRANSACTION_STATE_TOPIC_ID};
pub use host::{MarkerJob, TxnHost};
pub use ops::fenced_code;
pub use state::{TxnMetadata, TxnState};
