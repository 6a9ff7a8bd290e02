//! Tiering errors: a kind plus context; the store's transient/permanent split carries through.

use crate::catalog::CatalogError;
use crate::store::StoreError;

/// A tiering failure.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    /// Object store failure (see its kind for retryability).
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    /// Catalog failure (rebuild from the bucket).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Local log failure.
    #[error("local log: {0}")]
    Log(#[from] strata_log::LogError),
    /// Local file I/O with context.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Remote data is inconsistent (bad manifest, short object, CRC mismatch).
    #[error("remote data: {0}")]
    Corrupt(String),
    /// The remote tier cannot answer now (catalog not yet reconciled with the bucket, a cold
    /// read past its time bound); retrying later may succeed.
    #[error("remote tier unavailable: {0}")]
    Unavailable(String),
}

impl TierError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TierError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            TierError::Store(e) => e.is_retryable(),
            TierError::Io { .. } | TierError::Unavailable(_) => true,
            _ => false,
        }
    }
}
