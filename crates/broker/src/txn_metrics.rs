//! Partition-side transaction gauges, refreshed every second by the flush loop (`tasks.rs`):
//! over the partitions this broker leads, the largest and the summed gap between the high
//! watermark and the last stable offset (records read_committed consumers cannot see yet
//! because a transaction is open or its marker is not replicated), and the open transactions.

use crate::broker::Broker;

/// Sets `strata_txn_lso_lag_records` (max), `strata_txn_lso_lag_records_sum` and
/// `strata_txn_open_partition_transactions`.
pub(crate) fn report(broker: &Broker) {
    let (mut max_lag, mut sum_lag, mut open) = (0i64, 0i64, 0usize);
    for part in broker.all_partitions() {
        if part.following().is_some() {
            continue;
        }
        let log = part.log();
        let lag = (log.high_watermark() - log.last_stable_offset()).max(0);
        max_lag = max_lag.max(lag);
        sum_lag += lag;
        open += log.open_transactions();
    }
    metrics::gauge!("strata_txn_lso_lag_records").set(max_lag as f64);
    metrics::gauge!("strata_txn_lso_lag_records_sum").set(sum_lag as f64);
    metrics::gauge!("strata_txn_open_partition_transactions").set(open as f64);
}
