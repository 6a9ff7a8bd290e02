//! The Strata broker: listener, request handlers, zero-copy fetch, lifecycle and shutdown.
//!
//! Request path (see docs/architecture.md): [`connection`] reads a size-capped frame,
//! `strata_wire::parse_request` decodes it, [`handlers::dispatch`] routes it by API key to one
//! handler per API, and the reply is written back — Fetch replies in pieces, with record bytes
//! sent from segment files by sendfile(2).
#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod authz;
pub mod broker;
pub mod config;
mod conn_config;
mod conn_limits;
mod connection;
pub mod dirs;
mod error;
pub mod flusher;
pub mod frame_reader;
#[doc(hidden)]
pub mod fuzzing;
pub mod groups;
mod handlers;
mod high_watermarks;
mod internal_log;
mod internal_topics;
mod isr_manager;
pub mod kafka_client;
pub mod listeners;
mod liveness;
mod log_cleaner;
mod log_config;
pub mod low_water;
mod metadata_quorum;
pub mod node_tls;
mod offset_checkpoint;
pub mod partition;
mod producer_ids;
mod read_replica;
mod reconcile;
pub mod recover;
mod recovery_points;
mod replica_fetcher;
pub mod replica_selector;
mod reply;
pub mod request_budget;
pub mod sasl;
mod sendfile;
mod server;
mod tasks;
pub mod tier_compaction;
mod tier_restart;
pub mod tiering;
mod tls;
pub mod topic_settings;
mod txn_markers;
mod txn_metrics;

pub use broker::Broker;
pub use config::{BrokerConfig, ConfigSource, DEFAULTS};
pub use conn_config::ConnectionConfig;
pub use error::BrokerError;
pub use server::run;
