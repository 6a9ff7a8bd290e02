//! Tiered storage for Strata: sealed segments copied to object storage and read back.

pub mod cache;
pub mod catalog;
mod chunk_file;
pub mod cold_read;
pub mod error;
pub mod keys;
pub mod manifest;
pub mod parquet;
pub mod producer_seed;
mod rate;
pub mod read_ahead;
mod refresh;
pub mod remote_compaction;
mod segment_file;
pub mod store;
mod supersede;
mod sweep;
mod tier;
mod upload;

pub use error::TierError;
pub use parquet::ParquetPolicy;
pub use refresh::upload_epoch;
pub use tier::{
    ColdReadAnswer, ColdReadRequest, ColdReadResult, PartitionRef, RebuildReport, SyncReport, Tier,
    TierConfig,
};
