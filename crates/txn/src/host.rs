//! What the transaction coordinator needs from the broker it runs in.

use std::future::Future;
use std::pin::Pin;

/// The COMMIT or ABORT markers of one transaction, to be written to each of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    /// The transactional id (for logs).
    pub transactional_id: String,
    /// Producer id of the transaction.
    pub producer_id: i64,
    /// Producer epoch the markers carry (the transaction's, or the bumped one of a fence).
    pub producer_epoch: i16,
    /// COMMIT (true) or ABORT (false).
    pub commit: bool,
    /// Leader epoch of the `__transaction_state` partition that decided (fences markers of a
    /// deposed coordinator).
    pub coordinator_epoch: i32,
    /// Every partition of the transaction.
    pub partitions: Vec<(String, i32)>,
}

/// The broker side of the coordinator.
pub trait TxnHost: Send + Sync {
    /// A producer id never issued before (cluster-wide).
    fn allocate_producer_id(&self) -> Result<i64, i16>;
    /// Whether `topic`-`partition` exists in the cluster.
    fn partition_exists(&self, topic: &str, partition: i32) -> bool;
    /// Writes `job`'s marker to every partition (WriteTxnMarkers to each leader), retrying
    /// until each is stored or the partition no longer exists. Resolves true when done, false
    /// if it gave up (shutdown): the next coordinator of the transaction resumes the job.
    fn write_markers(&self, job: MarkerJob) -> Pin<Box<dyn Future<Output = bool> + Send>>;
}
