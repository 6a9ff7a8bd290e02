//! The transaction coordinator's side of the broker ([`strata_txn::TxnHost`]): producer ids,
//! partition existence, and delivering COMMIT/ABORT markers.
//!
//! Markers go to each partition's leader as a WriteTxnMarkers request over its inter-broker
//! listener (`inter.broker.listener.name`, see `node_tls.rs`); those for partitions this broker
//! leads are written here directly by the same handler, so that no client principal or
//! authorizer decision stands between a coordinator and its own partitions. Invariants:
//! - a job resolves true only when every partition of the transaction acknowledged its marker
//!   (stored, and in the high watermark on the leader), or no longer exists (deleted topics
//!   need no marker);
//! - a partition that fails (leader moved, not available, connection lost) is retried after a
//!   backoff against the leader the metadata names then, until shutdown: the transaction stays
//!   `Prepare*` (durably) meanwhile, and a later coordinator of it resumes the job.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use strata_meta::BrokerRegistration;
use strata_txn::{MarkerJob, TxnHost};

use crate::broker::Broker;
use crate::node_tls::InterBroker;

/// Pause between delivery rounds while some partition has not taken its marker.
const BACKOFF: Duration = Duration::from_millis(200);
/// WriteTxnMarkers version sent.
const VERSION: i16 = 1;
/// How long one delivery round may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// [`TxnHost`] over a broker.
pub(crate) struct BrokerTxnHost {
    broker: std::sync::OnceLock<Weak<Broker>>,
}

impl BrokerTxnHost {
    pub(crate) fn new() -> Arc<BrokerTxnHost> {
        Arc::new(BrokerTxnHost {
            broker: std::sync::OnceLock::new(),
        })
    }

    /// Connects the host to its broker (once, right after the broker is built).
    pub(crate) fn attach(&self, broker: &Arc<Broker>) {
        let _ = self.broker.set(Arc::downgrade(broker));
    }

    fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.get()?.upgrade()
    }
}

impl TxnHost for BrokerTxnHost {
    fn allocate_producer_id(&self) -> Result<i64, i16> {
        let broker = self.broker().ok_or(strata_txn::codes::NOT_COORDINATOR)?;
        crate::handlers::blocking(|| broker.allocate_producer_id())
            .map_err(|e| e.kafka_error_code())
    }

    fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        let Some(broker) = self.broker() else {
            return false;
        };
        let meta = broker.meta();
        meta.topic(topic)
            .is_some_and(|t| (0..t.partitions).contains(&partition))
    }

    fn write_markers(&self, job: MarkerJob) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let broker = self.broker.get().cloned();
        Box::pin(async move {
            match broker {
                Some(broker) => deliver(broker, job).await,
                None => false,
            }
        })
    }
}

/// Delivers `job` until every partition took its marker; false on shutdown.
async fn deliver(broker: Weak<Broker>, job: MarkerJob) -> bool {
    let mut pending = job.partitions.clone();
    let mut round = 0u32;
    loop {
        let Some(b) = broker.upgrade() else {
            return false;
        };
        if *b.shutdown_signal().borrow() {
            return false;
        }
        // Partitions by the leader the metadata names now; deleted ones are done.
        let meta = b.meta();
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut unroutable = Vec::new();
        for (topic, p) in pending.drain(..) {
            let Some(t) = meta
                .topic(&topic)
                .filter(|t| (0..t.partitions).contains(&p))
            else {
                continue;
            };
            let leader = meta.leadership(t, p).leader;
            if meta.brokers.contains_key(&leader) && meta.is_live(leader) {
                by_leader.entry(leader).or_default().push((topic, p));
            } else {
                unroutable.push((topic, p));
            }
        }
        pending = unroutable;
        for (leader, parts) in by_leader {
            let Some(reg) = meta.brokers.get(&leader) else {
                pending.extend(parts);
                continue;
            };
            // Markers for partitions this broker leads are written here, not through its own
            // listener: they are the broker's own act, which no client principal (nor the
            // authorizer) stands between.
            let sent = if leader == b.config.node_id {
                tokio::time::timeout(ROUND_TIMEOUT, async {
                    Ok::<_, anyhow::Error>(write_local(&b, &job, &parts).await)
                })
                .await
            } else {
                tokio::time::timeout(
                    ROUND_TIMEOUT,
                    send(&b.config.inter_broker, reg, &job, &parts),
                )
                .await
            };
            match sent {
                Ok(Ok(failed)) => pending.extend(failed),
                Ok(Err(e)) => {
                    tracing::debug!(leader, error = %e, "WriteTxnMarkers failed; retrying");
                    pending.extend(parts);
                }
                Err(_) => pending.extend(parts),
            }
        }
        drop(b);
        if pending.is_empty() {
            return true;
        }
        round += 1;
        if round.is_multiple_of(25) {
            tracing::warn!(transactional_id = %job.transactional_id, pending = pending.len(),
                "transaction markers still not written; retrying");
        }
        tokio::time::sleep(BACKOFF).await;
    }
}

/// Writes the markers of `parts` (led by this broker) as a WriteTxnMarkers request would;
/// returns the partitions that failed.
async fn write_local(
    b: &Arc<Broker>,
    job: &MarkerJob,
    parts: &[(String, i32)],
) -> Vec<(String, i32)> {
    let resp = crate::handlers::write_txn_markers::handle(b, request(job, parts)).await;
    failures(&resp, parts)
}

/// The WriteTxnMarkers request of `job` for `parts`.
fn request(job: &MarkerJob, parts: &[(String, i32)]) -> WriteTxnMarkersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(job.producer_id))
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(crate::handlers::sb(t)))
                        .with_partition_indexes(ps)
                })
                .collect(),
        );
    WriteTxnMarkersRequest::default().with_markers(vec![marker])
}

/// The partitions of `parts` that `resp` reports failed or does not mention.
fn failures(
    resp: &kafka_protocol::messages::WriteTxnMarkersResponse,
    parts: &[(String, i32)],
) -> Vec<(String, i32)> {
    let mut failed = Vec::new();
    let mut answered = std::collections::BTreeSet::new();
    for m in &resp.markers {
        for t in &m.topics {
            for p in &t.partitions {
                let tp = (t.name.to_string(), p.partition_index);
                answered.insert(tp.clone());
                if p.error_code != 0 {
                    tracing::debug!(topic = %tp.0, partition = tp.1, code = p.error_code,
                        "marker not written; retrying");
                    failed.push(tp);
                }
            }
        }
    }
    failed.extend(parts.iter().filter(|tp| !answered.contains(*tp)).cloned());
    failed
}

/// One WriteTxnMarkers request to `leader` (over the inter-broker listener); returns the
/// partitions that failed.
async fn send(
    inter_broker: &InterBroker,
    leader: &BrokerRegistration,
    job: &MarkerJob,
    parts: &[(String, i32)],
) -> anyhow::Result<Vec<(String, i32)>> {
    let mut client = inter_broker.connect(leader).await?;
    let resp = client.call(request(job, parts), VERSION).await?;
    Ok(failures(&resp, parts))
}
