//! ListTransactions and DescribeTransactions: read-only views of the ids this broker
//! coordinates (state lock only).

use crate::codes;
use crate::coordinator::TxnCoordinator;
use crate::state::TxnMetadata;

impl TxnCoordinator {
    /// Every id coordinated here whose state name is in `states` (all if empty) and whose
    /// producer id is in `producer_ids` (all if empty), sorted by id.
    pub fn list(&self, states: &[String], producer_ids: &[i64]) -> Vec<TxnMetadata> {
        let mut out = Vec::new();
        for part in self.partitions.served() {
            out.extend(
                part.lock_txns()
                    .values()
                    .filter(|m| states.is_empty() || states.iter().any(|s| s == m.state.name()))
                    .filter(|m| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                    .cloned(),
            );
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// The state of `transactional_id`, or the error code (NOT_COORDINATOR,
    /// COORDINATOR_LOAD_IN_PROGRESS, TRANSACTIONAL_ID_NOT_FOUND).
    pub fn describe(&self, transactional_id: &str) -> Result<TxnMetadata, i16> {
        let part = self.serving_partition(transactional_id)?;
        let found = part.lock_txns().get(transactional_id).cloned();
        found.ok_or(codes::TRANSACTIONAL_ID_NOT_FOUND)
    }
}
