//! Produce: validate each partition's batch, append it, answer per partition.
//!
//! Steps per partition (docs/architecture.md, "Produce path"):
//! 1. the topic and partition must exist (UNKNOWN_TOPIC_OR_PARTITION);
//! 2. `acks=all` needs `min.insync.replicas` ≤ the ISR size, 1 on a single node
//!    (NOT_ENOUGH_REPLICAS);
//! 3. the payload must be exactly one valid magic-2 batch: `strata_records::validate_client_batch`
//!    (CRC-32C, offsets, control bit, sequence fields), and zstd needs Produce v7+;
//! 4. its records must agree with the header: `strata_records::validate_records`, one pass
//!    (compressed batches stream through a capped window), outside the log lock. Structure
//!    errors are INVALID_RECORD; timestamps outside `message.timestamp.before.max.ms` /
//!    `message.timestamp.after.max.ms` are INVALID_TIMESTAMP with per-record `record_errors`
//!    (Produce v8+), as Kafka's `LogValidator`; so is a record without a key on a topic whose
//!    `cleanup.policy` contains `compact` (INVALID_RECORD, the whole batch refused, each
//!    keyless record in `record_errors`). On a CreateTime topic a header max timestamp
//!    that disagrees with the records is corrected (new CRC) in a copy, as Kafka does;
//! 5. the log copies the 61-byte header, patches base offset and leader epoch in the copy,
//!    checks idempotence (a duplicate of one of the producer's last 5 batches returns the
//!    original offsets), writes header and records (from the request buffer, uncopied); it
//!    never fsyncs itself;
//! 6. the partition's long-polling fetches are woken;
//! 7. group commit (`crate::flusher`): a batch that must be durable before it is acknowledged
//!    (acks=all on a topic with `strata.acks.all.fsync=true`, the default, or any batch that
//!    reached `flush.messages`) is answered only once the log directory's flusher has fsynced
//!    it; every partition of the request waits for the same flush cycle. Until then the batch
//!    is also invisible to readers (the high watermark stays below it). A failed fsync answers
//!    KAFKA_STORAGE_ERROR. acks=1 and acks=0 batches are acknowledged from the page cache.
//!
//! Authorization (before step 1), as Kafka: a transactional produce needs WRITE on its
//! transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition), and each topic
//! needs WRITE (TOPIC_AUTHORIZATION_FAILED for its partitions).
//!
//! `acks=0` gets no response at all, as in Kafka; its fsyncs (if any are due) are requested
//! without waiting.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::BatchIndexAndErrorMessage;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use strata_records::{
    set_max_timestamp, validate_client_batch, validate_records, Compression, RecordRules,
};

use strata_log::Durability;

use strata_meta::acl::AclOperation;

use super::{blocking, sb};
use crate::authz::{Authz, TOPIC_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED};
use crate::broker::{now_ms, Broker, NOT_LEADER_OR_FOLLOWER};
use crate::partition::Partition;

const INVALID_REQUIRED_ACKS: i16 = 21;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const INVALID_RECORD: i16 = 87;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const KAFKA_STORAGE_ERROR: i16 = 56;
const REQUEST_TIMED_OUT: i16 = 7;
const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;

/// A produce request whose batches are appended: its response, once every append it waits for
/// is durable.
pub(crate) type PendingResponse =
    std::pin::Pin<Box<dyn std::future::Future<Output = ProduceResponse> + Send>>;

/// Appends every partition's batch now (in request order) and returns the response, which
/// waits for the group-commit fsyncs it needs; `None` for acks=0.
pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: ProduceRequest,
    version: i16,
) -> Option<PendingResponse> {
    let acks = req.acks;
    let mut topics = Vec::with_capacity(req.topic_data.len());
    // Partitions that took a batch: their readers are woken once all are appended.
    let mut appended = Vec::new();
    // (topic index, partition index, flush receipt) of appends that wait for an fsync.
    let mut pending = Vec::new();
    // (topic index, partition index, partition, end) of acks=all appends to a replicated
    // partition: they wait until the high watermark (the ISR) reaches their end.
    let mut replicating = Vec::new();
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let authz = Authz::new(broker);
    let txn_denied = req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !authz.txn(AclOperation::Write, id));
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let topic_denied = !txn_denied && !authz.topic(AclOperation::Write, &name);
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let mut resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let mut record_errors = Vec::new();
            let outcome = if !matches!(acks, -1..=1) {
                Err((INVALID_REQUIRED_ACKS, None))
            } else if txn_denied {
                Err((TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None))
            } else if topic_denied {
                Err((TOPIC_AUTHORIZATION_FAILED, None))
            } else {
                append_one(
                    broker,
                    &name,
                    pd.index,
                    pd.records.as_deref(),
                    acks,
                    version,
                    &mut record_errors,
                )
            };
            match outcome {
                Ok(Appended {
                    base,
                    append_time,
                    log_start,
                    sync,
                    part,
                    end,
                }) => {
                    part.refresh_high_watermark();
                    if acks == -1 && part.is_replicated() {
                        replicating.push((topics.len(), partitions.len(), part.clone(), end));
                    }
                    appended.push(part);
                    if let Some((part, end)) = sync {
                        if acks == 0 {
                            broker.flusher.sync_detached(part, end);
                        } else {
                            let receipt = broker.flusher.sync(part, end);
                            pending.push((topics.len(), partitions.len(), receipt));
                        }
                    }
                    resp = resp
                        .with_base_offset(base)
                        .with_log_append_time_ms(append_time)
                        .with_log_start_offset(log_start);
                }
                Err((code, message)) => {
                    tracing::debug!(topic = %name, partition = pd.index, code, ?message, "produce refused");
                    metrics::counter!("strata_produce_errors_total", "code" => code.to_string())
                        .increment(1);
                    let record_errors = record_errors
                        .into_iter()
                        .map(|(index, text)| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(index)
                                .with_batch_index_error_message(Some(sb(&text)))
                        })
                        .collect();
                    resp = resp
                        .with_error_code(code)
                        .with_error_message(message.map(|m| sb(&m)))
                        .with_record_errors(record_errors);
                }
            }
            partitions.push(resp);
        }
        topics.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    for part in appended {
        part.wake_readers();
    }
    if acks == 0 {
        return None;
    }
    Some(Box::pin(async move {
        await_durable(&mut topics, pending).await;
        await_replicated(&mut topics, replicating, timeout).await;
        ProduceResponse::default().with_responses(topics)
    }))
}

/// The flusher's answer for one partition.
type FlushReceipt = tokio::sync::oneshot::Receiver<Result<(), crate::flusher::SyncError>>;

/// Waits for each flush receipt and turns a failed fsync into KAFKA_STORAGE_ERROR for its
/// partition.
async fn await_durable(
    topics: &mut [TopicProduceResponse],
    pending: Vec<(usize, usize, FlushReceipt)>,
) {
    for (t, p, receipt) in pending {
        let failure = match receipt.await {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(_) => Some("the flusher stopped".to_string()),
        };
        if let Some(why) = failure {
            metrics::counter!("strata_produce_errors_total", "code" => KAFKA_STORAGE_ERROR.to_string())
                .increment(1);
            let resp = &mut topics[t].partition_responses[p];
            resp.error_code = KAFKA_STORAGE_ERROR;
            resp.error_message = Some(sb(&why));
            resp.base_offset = -1;
            resp.log_append_time_ms = -1;
            resp.log_start_offset = -1;
        }
    }
}

/// Waits until each partition's high watermark reaches the end of its append (every ISR
/// member has it). REQUEST_TIMED_OUT after the request's `timeout_ms`; NOT_LEADER_OR_FOLLOWER
/// if this broker stopped leading meanwhile (the append may be truncated by the new leader).
async fn await_replicated(
    topics: &mut [TopicProduceResponse],
    pending: Vec<(usize, usize, Arc<Partition>, i64)>,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    for (t, p, part, end) in pending {
        let epoch = part.leader_epoch();
        let code = loop {
            let woken = part.readers_woken();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if part.log().high_watermark() >= end {
                // As Kafka's DelayedProduce: replicated, but the ISR shrank below
                // min.insync.replicas meanwhile.
                let min_isr = part.settings().min_insync_replicas;
                break (part.isr_size() < min_isr).then_some(NOT_ENOUGH_REPLICAS_AFTER_APPEND);
            }
            if part.following().is_some() || part.leader_epoch() != epoch {
                break Some(NOT_LEADER_OR_FOLLOWER);
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep_until(deadline) => break Some(REQUEST_TIMED_OUT),
            }
        };
        if let Some(code) = code {
            if code != NOT_ENOUGH_REPLICAS_AFTER_APPEND && part.log().high_watermark() >= end {
                continue;
            }
            metrics::counter!("strata_produce_errors_total", "code" => code.to_string())
                .increment(1);
            let resp = &mut topics[t].partition_responses[p];
            resp.error_code = code;
            resp.base_offset = -1;
            resp.log_append_time_ms = -1;
            resp.log_start_offset = -1;
        }
    }
}

/// A written batch: where it went and, if it must be durable first, the partition and the
/// durable end its acknowledgement waits for.
struct Appended {
    base: i64,
    append_time: i64,
    log_start: i64,
    sync: Option<(Arc<Partition>, i64)>,
    part: Arc<Partition>,
    /// One past the last offset written.
    end: i64,
}

type Outcome = Result<Appended, (i16, Option<String>)>;

fn append_one(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    records: Option<&[u8]>,
    acks: i16,
    version: i16,
    record_errors: &mut Vec<(i32, String)>,
) -> Outcome {
    let part = broker.serving_partition(topic, index).map_err(|code| {
        let why = (code == KAFKA_STORAGE_ERROR).then(|| format!("{topic}-{index} is offline"));
        (code, why)
    })?;
    // The partition's settings snapshot: no metadata lock on the produce path.
    let settings = part.settings();
    let durability = if acks == -1 && settings.acks_all_fsync {
        Durability::Fsync
    } else {
        Durability::PageCache
    };
    if acks == -1 {
        let min_isr = settings.min_insync_replicas;
        let isr = part.isr_size();
        if min_isr > isr {
            return Err((
                NOT_ENOUGH_REPLICAS,
                Some(format!(
                    "min.insync.replicas={min_isr} but the ISR has {isr}"
                )),
            ));
        }
    }
    let limit = crate::tiering::max_lag_bytes(broker);
    if limit >= 0 && part.tier_lag_bytes() as i64 > limit {
        metrics::counter!("strata_tier_produce_refused_total").increment(1);
        return Err((
            KAFKA_STORAGE_ERROR,
            Some(format!(
                "tiering lags: {} bytes wait for upload (strata.tier.max.lag.bytes={limit})",
                part.tier_lag_bytes()
            )),
        ));
    }
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Err((INVALID_RECORD, Some("no record batch".into())));
    };
    let header =
        validate_client_batch(records).map_err(|e| (e.kafka_error_code(), Some(e.to_string())))?;
    if version < 7 && matches!(header.compression(), Ok(Compression::Zstd)) {
        return Err((
            UNSUPPORTED_COMPRESSION_TYPE,
            Some("zstd needs Produce v7 or later".into()),
        ));
    }
    // Named in the key errors of a compacted topic (Kafka's `TopicPartition` text).
    let compacted = settings.log.compact.then(|| format!("{topic}-{index}"));
    let rules = {
        let log = part.log();
        let c = log.config();
        RecordRules {
            log_append_time: c.message_timestamp_type_log_append,
            timestamp_before_max_ms: c.message_timestamp_before_max_ms,
            timestamp_after_max_ms: c.message_timestamp_after_max_ms,
            compacted_topic: compacted.as_deref(),
        }
    };
    let now = now_ms();
    // The replica state's leader epoch, stamped into the batch.
    let epoch = part.leader_epoch();
    let result = blocking(|| {
        // Records are checked before the log lock is taken: a slow (compressed) batch never
        // holds up fetches of this partition.
        let summary = match validate_records(records, &header, &rules, now) {
            Ok(summary) => summary,
            Err(e) => {
                record_errors.extend_from_slice(e.record_errors());
                metrics::counter!("strata_produce_invalid_batches_total").increment(1);
                return Err((e.kafka_error_code(), Some(e.to_string())));
            }
        };
        let appended = if !rules.log_append_time
            && (header.max_timestamp != summary.max_timestamp || header.is_log_append_time())
        {
            // Rare (a client whose header disagrees with its records): fix a copy, as Kafka
            // rewrites the header in place.
            metrics::counter!("strata_produce_max_timestamp_corrected_total").increment(1);
            let mut fixed = records.to_vec();
            set_max_timestamp(&mut fixed, summary.max_timestamp);
            part.log().append_deferred(&fixed, epoch, now, durability)
        } else {
            // The batch is written from the request buffer itself; the log copies only its
            // header.
            part.log().append_deferred(records, epoch, now, durability)
        };
        appended.map_err(|e| (e.kafka_error_code(), Some(e.to_string())))
    });
    match result {
        Ok(info) => {
            metrics::counter!("strata_produce_bytes_total").increment(records.len() as u64);
            metrics::counter!("strata_produce_records_total")
                .increment(header.records_count.max(0) as u64);
            Ok(Appended {
                base: info.base_offset,
                append_time: info.log_append_time,
                log_start: info.log_start_offset,
                part: Arc::clone(&part),
                end: info.base_offset + i64::from(header.last_offset_delta) + 1,
                sync: match info.sync_end {
                    Some(end) => Some((part, end)),
                    None => {
                        if info.sealed_unsynced {
                            // The segment sealed by this append: synced in the background.
                            broker
                                .flusher
                                .sync_detached(Arc::clone(&part), info.base_offset);
                        }
                        None
                    }
                },
            })
        }
        Err(refused) => Err(refused),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use kafka_protocol::messages::{produce_request, ApiKey, RequestKind};
    use strata_records::testing::{build_batch, build_compressed_batch};

    use super::*;
    use crate::handlers::test_support::{call, name, open_broker};

    fn produce(topic: &str, records: Vec<u8>) -> RequestKind {
        RequestKind::Produce(ProduceRequest::default().with_acks(1).with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(records)))]),
        ]))
    }

    fn policy(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("cleanup.policy".to_string(), value.to_string())])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compacted_topics_refuse_keyless_records_as_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let b = open_broker(dir.path());
        b.create_topic("c", 1, 1, policy("compact,delete"), false)
            .unwrap();
        b.create_topic("d", 1, 1, BTreeMap::new(), false).unwrap();
        let message = "Compacted topic cannot accept message without key in topic partition c-0";
        // A gzip batch whose second record has no key: the whole batch is refused.
        let mixed = build_compressed_batch(
            Compression::Gzip,
            1000,
            &[
                (Some(b"k1"), Some(b"v"), 0),
                (None, Some(b"v"), 0),
                (Some(b"k2"), Some(b"v"), 0),
            ],
            -1,
            -1,
            -1,
        );
        let r: ProduceResponse = call(&b, ApiKey::Produce, 9, produce("c", mixed.clone())).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (INVALID_RECORD, -1));
        assert_eq!(
            p.error_message.as_deref(),
            Some(
                format!(
                    "One or more records have been rejected due to 1 record errors in total, and \
                     only showing the first three errors at most: [RecordError(batchIndex=1, \
                     message='{message}')]"
                )
                .as_str()
            )
        );
        let errors: Vec<(i32, Option<&str>)> = p
            .record_errors
            .iter()
            .map(|e| (e.batch_index, e.batch_index_error_message.as_deref()))
            .collect();
        assert_eq!(errors, [(1, Some(message))]);
        // Produce v7 has no record_errors; the partition error is the same.
        let r: ProduceResponse = call(&b, ApiKey::Produce, 7, produce("c", mixed.clone())).await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            INVALID_RECORD
        );
        assert_eq!(b.partition("c", 0).unwrap().log().log_end_offset(), 0);

        // Keyed records go in; keyless ones go into a `delete` topic.
        let keyed = build_batch(1000, &[(Some(b"k"), Some(b"v"), 0)], -1, -1, -1);
        let keyless = build_batch(1000, &[(None, Some(b"v"), 0)], -1, -1, -1);
        let r: ProduceResponse = call(&b, ApiKey::Produce, 9, produce("c", keyed)).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 0));
        let r: ProduceResponse = call(&b, ApiKey::Produce, 9, produce("d", keyless.clone())).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 0));

        // An alter applies at once, both ways.
        b.replace_topic_configs("c", policy("delete"), false)
            .unwrap();
        let r: ProduceResponse = call(&b, ApiKey::Produce, 9, produce("c", mixed)).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 1));
        b.replace_topic_configs("d", policy("compact"), false)
            .unwrap();
        let r: ProduceResponse = call(&b, ApiKey::Produce, 9, produce("d", keyless)).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, INVALID_RECORD);
        assert_eq!(
            p.record_errors[0].batch_index_error_message.as_deref(),
            Some("Compacted topic cannot accept message without key in topic partition d-0")
        );
        assert_eq!(b.partition("d", 0).unwrap().log().log_end_offset(), 1);
    }
}
