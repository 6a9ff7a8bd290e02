//! WriteTxnMarkers (API 27, v1; kafka-protocol 0.18 knows only v1, as Kafka 4 which removed v0): the transaction coordinator asks the leaders of a
//! transaction's partitions to write its COMMIT or ABORT marker.
//!
//! Steps:
//! 1. every marker × topic × partition is appended at once, in request order
//!    (`super::marker_append::append_marker`): a partition not led here answers
//!    NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION, a stale producer epoch
//!    INVALID_PRODUCER_EPOCH, a stale coordinator epoch TRANSACTION_COORDINATOR_FENCED;
//! 2. then all appended markers are waited for together until durable and below the high
//!    watermark (at most [`MARKER_TIMEOUT`]; REQUEST_TIMED_OUT after it), so one request costs
//!    one group-commit cycle, not one per partition;
//! 3. a marker stored in a partition of `__consumer_offsets` resolves the producer's pending
//!    transactional offset commits there (`GroupCoordinator::complete_transaction`), only once
//!    it is stored (a failed write leaves them pending; the coordinator retries).
//!
//! Every requested partition gets its own error code. The coordinator on this broker calls
//! [`write_markers`] directly instead of sending itself a request.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use strata_log::TxnMarker;

use crate::broker::Broker;

/// How long a marker may take to become durable and replicated (Kafka uses the broker's
/// request timeout, 30 s by default).
pub(crate) const MARKER_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    write_markers(broker, req).await
}

/// Writes every marker of `req` (steps in the module docs).
pub(crate) async fn write_markers(
    broker: &Arc<Broker>,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut results = Vec::with_capacity(req.markers.len());
    // (marker, topic, partition) result slots and what they wait for.
    let mut waits = Vec::new();
    for (m, marker) in req.markers.iter().enumerate() {
        let txn = TxnMarker {
            producer_id: marker.producer_id.0,
            producer_epoch: marker.producer_epoch,
            commit: marker.transaction_result,
            coordinator_epoch: marker.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(marker.topics.len());
        for (t, topic) in marker.topics.iter().enumerate() {
            let name = topic.name.0.to_string();
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for (p, &index) in topic.partition_indexes.iter().enumerate() {
                let error_code =
                    match super::marker_append::append_marker(broker, &name, index, &txn) {
                        Ok(write) => {
                            waits.push(((m, t, p), name.clone(), index, txn, write));
                            0
                        }
                        Err(code) => code,
                    };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(error_code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics),
        );
    }
    let outcomes = futures::future::join_all(waits.into_iter().map(
        |(slot, topic, index, txn, write)| async move {
            let outcome = write.wait(MARKER_TIMEOUT).await;
            (slot, topic, index, txn, outcome)
        },
    ))
    .await;
    for ((m, t, p), topic, index, txn, outcome) in outcomes {
        match outcome {
            Ok(()) if topic == strata_group::OFFSETS_TOPIC => {
                broker
                    .group
                    .complete_transaction(index, txn.producer_id, txn.commit);
            }
            Ok(()) => {}
            Err(code) => {
                tracing::warn!(
                    topic,
                    partition = index,
                    producer_id = txn.producer_id,
                    code,
                    "transaction marker not stored"
                );
                results[m].topics[t].partitions[p].error_code = code;
            }
        }
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}
