//! Fetch: read whole batches from partition logs and answer with file ranges.
//!
//! Steps (docs/architecture.md, "Fetch path"):
//! 1. a non-zero `session_id` gets FETCH_SESSION_ID_NOT_FOUND: Strata keeps no fetch sessions,
//!    and every client then falls back to full fetches (session id 0);
//! 2. for each requested partition, in request order, the log returns the batch containing
//!    `fetch_offset` and following whole batches, up to `partition_max_bytes` and the response's
//!    remaining `max_bytes`, and never past the high watermark (the last stable offset for
//!    `read_committed`, equal to it until transactions exist); the first non-empty partition
//!    always gets at least one whole batch, even above the limits;
//!    a partition whose offset is below the local log start (tiered away) is read from the
//!    bucket after this local pass, on the tier's own bounded pool, with the budget it was
//!    granted here; the cold partitions of one fetch are read concurrently and waited for at
//!    most `remote.fetch.max.wait.ms` in all: one not ready by then (bucket slow or down,
//!    catalog still being rebuilt) answers the retriable KAFKA_STORAGE_ERROR, which librdkafka
//!    and the Java client retry transparently, while the other partitions are served;
//! 3. if fewer than `min_bytes` are ready and there is no error, wait for a wake-up of one of
//!    the requested partitions (an append or a flush that may have moved its high watermark),
//!    shutdown, or `max_wait_ms`, then read again; appends to other partitions do not wake it;
//! 4. the reply is encoded in pieces: the bytes around the records, and each partition's records
//!    as a file range for sendfile(2).
//!
//! Every requested partition appears in the response, with or without data.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::FetchRequest;
use strata_log::{LogError, ReadSlice};
use strata_wire::{FetchPartitionData, FetchResponseBody, FetchTopicData, Payload};

use crate::broker::Broker;
use crate::partition::Partition;
use crate::reply::Reply;

const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const KAFKA_STORAGE_ERROR: i16 = 56;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// Longest long-poll Strata honours, whatever the client asks.
const MAX_WAIT_CAP_MS: u64 = 30_000;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: FetchRequest,
    version: i16,
    correlation_id: i32,
) -> Reply {
    if req.session_id != 0 {
        let body: FetchResponseBody<ReadSlice> = FetchResponseBody {
            throttle_time_ms: 0,
            error_code: FETCH_SESSION_ID_NOT_FOUND,
            session_id: 0,
            topics: Vec::new(),
        };
        return Reply::Chunks(body.encode(correlation_id, version));
    }
    let deadline = Instant::now()
        + Duration::from_millis((req.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP_MS));
    let min_bytes = req.min_bytes.max(0) as usize;
    let mut shutdown = broker.shutdown_signal();
    let watched = watched_partitions(broker, &req);
    // A follower broker copying the leader (Kafka's replica fetch): -1 for consumers.
    let replica = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    loop {
        // Register for wake-ups before reading, so an append between the read and the wait
        // is not missed.
        let mut woken: Vec<_> = watched
            .iter()
            .map(|p| Box::pin(p.readers_woken()))
            .collect();
        for w in &mut woken {
            w.as_mut().enable();
        }
        let (mut body, mut bytes, mut had_error, cold) = read_all(broker, &req, replica);
        if !cold.is_empty() {
            let (added, cold_error) = read_cold(broker, &mut body, cold).await;
            bytes += added;
            had_error |= cold_error;
        }
        let now = Instant::now();
        if bytes >= min_bytes || had_error || now >= deadline || *shutdown.borrow() {
            metrics::counter!("strata_fetch_requests_total").increment(1);
            return Reply::Chunks(body.encode(correlation_id, version));
        }
        drop(body);
        let any_woken = async {
            if woken.is_empty() {
                std::future::pending::<()>().await;
            } else {
                futures::future::select_all(woken).await;
            }
        };
        tokio::select! {
            _ = any_woken => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The hosted partitions a fetch asks for (those that exist now), whose wake-ups it waits on.
fn watched_partitions(broker: &Arc<Broker>, req: &FetchRequest) -> Vec<Arc<Partition>> {
    req.topics
        .iter()
        .flat_map(|t| {
            let name = t.topic.0.to_string();
            t.partitions
                .iter()
                .filter_map(move |p| broker.partition(&name, p.partition))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A partition to be read from the remote tier after the local pass: indexes into the
/// response body, the offset, the byte budget it was granted, and the upper bound.
struct ColdRead {
    topic: usize,
    partition: usize,
    topic_id: String,
    offset: i64,
    max_bytes: usize,
    upper: i64,
    /// May exceed `max_bytes` by its first batch (the first partition with data).
    at_least_one: bool,
}

/// Reads the cold partitions from the bucket (concurrently, on the tier's own bounded pool,
/// bounded by `remote.fetch.max.wait.ms`) and fills their records; returns the bytes added and
/// whether a partition got an error (the fetch then answers without waiting for `min_bytes`).
async fn read_cold(
    broker: &Arc<Broker>,
    body: &mut FetchResponseBody<ReadSlice>,
    cold: Vec<ColdRead>,
) -> (usize, bool) {
    let Some(tier) = broker.tier() else {
        return (0, false);
    };
    let requests = cold
        .iter()
        .map(|c| strata_tier::ColdReadRequest {
            topic_id: c.topic_id.clone(),
            partition: body.topics[c.topic].partitions[c.partition].partition_index,
            offset: c.offset,
            max_bytes: c.max_bytes,
            upper_bound: c.upper,
        })
        .collect();
    let results = tier.cold_reads(requests).await;
    let (mut added, mut errored) = (0, false);
    for (c, result) in cold.into_iter().zip(results) {
        let data = &mut body.topics[c.topic].partitions[c.partition];
        match result {
            Ok(Some((_, bytes))) if c.at_least_one || bytes.len() <= c.max_bytes => {
                added += bytes.len();
                data.records = Payload::Bytes(bytes);
            }
            Ok(Some(_)) => {} // its first batch does not fit in what the response has left
            Ok(None) => {
                data.error_code = OFFSET_OUT_OF_RANGE;
                errored = true;
            }
            Err(e) => {
                tracing::warn!(partition = data.partition_index, offset = c.offset, error = %e, "cold read failed; answering the retriable KAFKA_STORAGE_ERROR");
                data.error_code = KAFKA_STORAGE_ERROR;
                errored = true;
            }
        }
    }
    (added, errored)
}

fn read_all(
    broker: &Arc<Broker>,
    req: &FetchRequest,
    replica: i32,
) -> (FetchResponseBody<ReadSlice>, usize, bool, Vec<ColdRead>) {
    let mut cold = Vec::new();
    let mut budget = req.max_bytes.max(0) as usize;
    let mut total = 0usize;
    // Whether a partition has already used the "at least one batch, however large" allowance.
    let mut first_served = false;
    let mut had_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.topic.0.to_string();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = FetchPartitionData {
                partition_index: p.partition,
                error_code: 0,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                aborted_transactions: None,
                preferred_read_replica: -1,
                // Kafka sends an empty record set, never null, even for errored partitions;
                // librdkafka rejects the whole response on a null one.
                records: Payload::Bytes(bytes::Bytes::new()),
            };
            let part = match broker.serving_partition(&name, p.partition) {
                Ok(part) => part,
                Err(code) => {
                    data.error_code = code;
                    had_error = true;
                    partitions.push(data);
                    continue;
                }
            };
            if p.current_leader_epoch >= 0 {
                let epoch = part.leader_epoch();
                if p.current_leader_epoch != epoch {
                    // The asker's metadata is older (or newer) than this leader's epoch.
                    data.error_code = if p.current_leader_epoch < epoch {
                        FENCED_LEADER_EPOCH
                    } else {
                        UNKNOWN_LEADER_EPOCH
                    };
                    had_error = true;
                    partitions.push(data);
                    continue;
                }
            }
            if replica >= 0 {
                // The follower's fetch offset is its log end: it counts toward the high
                // watermark, and the follower reads up to the leader's log end.
                part.record_follower_fetch(replica, p.fetch_offset, crate::broker::now_ms());
            }
            let log = part.log();
            let hw = log.high_watermark();
            let lso = log.last_stable_offset();
            data.high_watermark = hw;
            data.last_stable_offset = lso;
            data.log_start_offset = log.log_start_offset();
            data.aborted_transactions = (req.isolation_level == 1).then(Vec::new);
            let upper = if replica >= 0 {
                log.log_end_offset()
            } else if req.isolation_level == 1 {
                lso
            } else {
                hw
            };
            // The first partition with data may exceed the budget by one batch; later ones
            // must fit in what is left.
            let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
            if first_served && limit == 0 {
                data.records = Payload::Bytes(bytes::Bytes::new());
                partitions.push(data);
                continue;
            }
            let max = if first_served { limit } else { limit.max(1) };
            match log.read(p.fetch_offset, max, upper) {
                Ok(slice) => {
                    drop(log);
                    if first_served && slice.len > limit {
                        data.records = Payload::Bytes(bytes::Bytes::new());
                    } else {
                        first_served |= slice.len > 0;
                        total += slice.len;
                        budget = budget.saturating_sub(slice.len);
                        data.records = payload(slice);
                    }
                }
                Err(LogError::NotLocal { .. }) if broker.tier().is_some() => {
                    drop(log);
                    // Served from the bucket after this pass; reserve its share of the budget.
                    let granted = if first_served { limit } else { max };
                    let at_least_one = !first_served;
                    first_served = true;
                    budget = budget.saturating_sub(granted);
                    cold.push(ColdRead {
                        at_least_one,
                        topic: topics.len(),
                        partition: partitions.len(),
                        topic_id: part.topic_id.clone(),
                        offset: p.fetch_offset,
                        max_bytes: granted,
                        upper,
                    });
                }
                Err(e) => {
                    drop(log);
                    if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                        tracing::error!(topic = %name, partition = p.partition, error = %e, "fetch read failed");
                    }
                    data.error_code = e.kafka_error_code();
                    had_error = true;
                }
            }
            partitions.push(data);
        }
        topics.push(FetchTopicData { name, partitions });
    }
    let body = FetchResponseBody {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        topics,
    };
    (body, total, had_error, cold)
}

/// The records of one partition as a file range; whether it is sent with sendfile(2) or copied
/// is decided when the reply is written (`strata.fetch.zero.copy`).
fn payload(slice: ReadSlice) -> Payload<ReadSlice> {
    if slice.len == 0 {
        return Payload::Bytes(bytes::Bytes::new());
    }
    let len = slice.len;
    Payload::File { handle: slice, len }
}
