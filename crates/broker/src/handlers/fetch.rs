//! Fetch: read whole batches from partition logs and answer with file ranges.
//!
//! Steps (docs/architecture.md, "Fetch path"):
//! 1. a non-zero `session_id` gets FETCH_SESSION_ID_NOT_FOUND: Strata keeps no fetch sessions,
//!    and every client then falls back to full fetches (session id 0);
//! 2. for each requested partition, in request order: a leader with `replica.selector.class`
//!    set may answer a consumer (Fetch v11+, which names the client's rack) with a
//!    `preferred_read_replica` in the client's rack and no records, as Kafka does (KIP-392;
//!    see `crate::replica_selector`), and the fetch is then answered at once; with it set a
//!    follower serves consumers (v11+) up to its own high watermark, whereas without it, and
//!    for replica fetches and older consumers, only the leader serves
//!    (NOT_LEADER_OR_FOLLOWER); a follower asking a tiered partition for an offset below the
//!    first local one gets OFFSET_MOVED_TO_TIERED_STORAGE (KIP-405: it restarts its copy there,
//!    see `tier_restart.rs`) rather than the bucket's history through this leader; otherwise the log returns the batch containing
//!    `fetch_offset` and following whole batches, up to `partition_max_bytes` and the response's
//!    remaining `max_bytes`, and never past the high watermark (the last stable offset for
//!    `read_committed`, which also gets the aborted transactions overlapping the returned
//!    batches from the segments' `.txnindex`; every answer reports the LSO, which librdkafka
//!    needs even for read_uncommitted); the first non-empty partition
//!    always gets at least one whole batch, even above the limits;
//!    a partition whose offset is below the local log start (tiered away) is read from the
//!    bucket after this local pass, on the tier's own bounded pool, with the budget it was
//!    granted here (for `read_committed` with the same LSO bound, and the aborted transactions
//!    from the uploaded `.txnindex` objects, then the local ones if the remote search is not
//!    conclusive); the cold partitions of one fetch are read concurrently and waited for at
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
//!
//! Authorization (before step 2), as Kafka: a consumer needs READ on each topic, a follower
//! CLUSTER_ACTION on the cluster; a denied partition is TOPIC_AUTHORIZATION_FAILED.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::FetchRequest;
use strata_log::{LogError, ReadSlice};
use strata_meta::acl::AclOperation;
use strata_wire::{FetchPartitionData, FetchResponseBody, FetchTopicData, Payload};

use crate::authz::{Authz, TOPIC_AUTHORIZATION_FAILED};

use crate::broker::Broker;
use crate::partition::Partition;
use crate::replica_selector::{FollowerView, ReplicaSelector};
use crate::reply::Reply;

const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const KAFKA_STORAGE_ERROR: i16 = 56;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// A follower asked for an offset that only the remote tier holds (KIP-405).
const OFFSET_MOVED_TO_TIERED_STORAGE: i16 = 109;
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
    // A follower broker copying the leader (Kafka's replica fetch): -1 for consumers.
    let replica = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let denied = denied_topics(broker, &req, replica);
    let watched = watched_partitions(broker, &req, &denied);
    // A consumer that names its rack (Fetch v11+, KIP-392), possibly as "".
    let client_rack = (replica < 0 && version >= 11).then(|| req.rack_id.to_string());
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
        let Pass {
            mut body,
            mut bytes,
            mut answer_now,
            cold,
            follower_reads,
        } = read_all(broker, &req, replica, client_rack.as_deref(), &denied);
        if !cold.is_empty() {
            let (added, cold_error) = read_cold(broker, &mut body, cold).await;
            bytes += added;
            answer_now |= cold_error;
        }
        let now = Instant::now();
        if bytes >= min_bytes || answer_now || now >= deadline || *shutdown.borrow() {
            metrics::counter!("strata_fetch_requests_total").increment(1);
            if follower_reads > 0 {
                metrics::counter!("strata_fetch_follower_reads_total").increment(follower_reads);
            }
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

/// The topics the request may not read, as Kafka authorizes a fetch: a follower needs
/// CLUSTER_ACTION on the cluster (every topic is denied without it), a consumer READ on each
/// topic. Denied partitions are answered TOPIC_AUTHORIZATION_FAILED.
fn denied_topics(broker: &Arc<Broker>, req: &FetchRequest, replica: i32) -> HashSet<String> {
    let authz = Authz::new(broker);
    if !authz.enabled() {
        return HashSet::new();
    }
    let follower_ok = replica >= 0 && authz.cluster(AclOperation::ClusterAction);
    req.topics
        .iter()
        .map(|t| t.topic.0.to_string())
        .filter(|name| {
            if replica >= 0 {
                !follower_ok
            } else {
                !authz.topic(AclOperation::Read, name)
            }
        })
        .collect()
}

/// The hosted partitions a fetch asks for (those that exist now and it may read), whose
/// wake-ups it waits on.
fn watched_partitions(
    broker: &Arc<Broker>,
    req: &FetchRequest,
    denied: &HashSet<String>,
) -> Vec<Arc<Partition>> {
    req.topics
        .iter()
        .filter(|t| !denied.contains(t.topic.0.as_str()))
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
    /// A read_committed consumer: the answer lists the aborted transactions overlapping the
    /// returned batches, from the remote transaction indexes and, when the remote search is
    /// not conclusive, the local ones (a transaction begun in the bucket may end locally).
    read_committed: bool,
    /// The partition (for the local transaction indexes).
    part: Arc<Partition>,
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
            read_committed: c.read_committed,
        })
        .collect();
    let results = tier.cold_reads(requests).await;
    let (mut added, mut errored) = (0, false);
    for (c, result) in cold.into_iter().zip(results) {
        let data = &mut body.topics[c.topic].partitions[c.partition];
        match result {
            Ok(Some(answer)) if c.at_least_one || answer.records.len() <= c.max_bytes => {
                if c.read_committed && !answer.records.is_empty() {
                    let mut aborted = answer.aborted;
                    if !answer.aborted_complete {
                        let local = c
                            .part
                            .log()
                            .aborted_transactions(c.offset, answer.next_offset);
                        for a in local {
                            if !aborted.contains(&a) {
                                aborted.push(a);
                            }
                        }
                    }
                    data.aborted_transactions = Some(
                        aborted
                            .into_iter()
                            .map(|a| (a.producer_id, a.first_offset))
                            .collect(),
                    );
                }
                added += answer.records.len();
                data.records = Payload::Bytes(answer.records);
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

/// One pass over the requested partitions.
struct Pass {
    body: FetchResponseBody<ReadSlice>,
    /// Record bytes read locally.
    bytes: usize,
    /// A partition failed or was redirected to a preferred read replica: answer without
    /// waiting for `min_bytes`.
    answer_now: bool,
    /// Partitions to read from the remote tier.
    cold: Vec<ColdRead>,
    /// Partitions whose records this broker served to a consumer from a follower copy.
    follower_reads: u64,
}

/// Reads every requested partition once. `client_rack` is set for consumers that name their
/// rack (Fetch v11+): only they may read from followers, or be sent to one.
fn read_all(
    broker: &Arc<Broker>,
    req: &FetchRequest,
    replica: i32,
    client_rack: Option<&str>,
    denied: &HashSet<String>,
) -> Pass {
    let mut cold = Vec::new();
    let mut budget = req.max_bytes.max(0) as usize;
    let mut total = 0usize;
    // Whether a partition has already used the "at least one batch, however large" allowance.
    let mut first_served = false;
    // Set by an error or a redirect: the fetch is answered without waiting for `min_bytes`.
    let mut answer_now = false;
    let mut follower_reads = 0u64;
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
            if denied.contains(&name) {
                data.error_code = TOPIC_AUTHORIZATION_FAILED;
                answer_now = true;
                partitions.push(data);
                continue;
            }
            let found = if client_rack.is_some() {
                broker.readable_partition(&name, p.partition)
            } else {
                broker.serving_partition(&name, p.partition)
            };
            let part = match found {
                Ok(part) => part,
                Err(code) => {
                    data.error_code = code;
                    answer_now = true;
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
                    answer_now = true;
                    partitions.push(data);
                    continue;
                }
            }
            if replica >= 0 {
                // The follower's fetch offset is its log end: it counts toward the high
                // watermark, and the follower reads up to the leader's log end.
                part.record_follower_fetch(replica, p.fetch_offset, crate::broker::now_ms());
            }
            let from_follower = part.following().is_some();
            let preferred = match (broker.config.replica_selector, client_rack) {
                (Some(selector), Some(rack)) if !from_follower => {
                    preferred_read_replica(broker, selector, &part, rack, p.fetch_offset)
                }
                _ => -1,
            };
            let log = part.log();
            let hw = log.high_watermark();
            let lso = log.last_stable_offset();
            data.high_watermark = hw;
            data.last_stable_offset = lso;
            data.log_start_offset = log.log_start_offset();
            data.aborted_transactions = (req.isolation_level == 1).then(Vec::new);
            if replica >= 0
                && log.config().remote_storage_enable
                && p.fetch_offset >= log.log_start_offset()
                && p.fetch_offset < log.local_log_start_offset()
            {
                // A follower is not copied the bucket through the leader: it restarts its copy
                // at this log's first local offset (KIP-405), see replica_fetcher.rs.
                drop(log);
                data.error_code = OFFSET_MOVED_TO_TIERED_STORAGE;
                answer_now = true;
                partitions.push(data);
                continue;
            }
            if preferred >= 0 {
                // Kafka's answer: no records, and the replica to read from instead.
                drop(log);
                metrics::counter!("strata_fetch_preferred_replica_redirects_total").increment(1);
                data.preferred_read_replica = preferred;
                answer_now = true;
                partitions.push(data);
                continue;
            }
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
                    if req.isolation_level == 1 && replica < 0 && !slice.is_empty() {
                        // The aborted transactions overlapping the returned batches (Kafka's
                        // upper bound: the offset after the last returned batch).
                        let aborted = log.aborted_transactions(p.fetch_offset, slice.end_offset);
                        data.aborted_transactions = Some(
                            aborted
                                .into_iter()
                                .map(|a| (a.producer_id, a.first_offset))
                                .collect(),
                        );
                    }
                    drop(log);
                    if first_served && slice.len > limit {
                        data.records = Payload::Bytes(bytes::Bytes::new());
                    } else {
                        first_served |= slice.len > 0;
                        if from_follower && slice.len > 0 {
                            follower_reads += 1;
                        }
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
                        read_committed: req.isolation_level == 1 && replica < 0,
                        part: part.clone(),
                    });
                }
                Err(e) => {
                    drop(log);
                    if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                        tracing::error!(topic = %name, partition = p.partition, error = %e, "fetch read failed");
                    }
                    data.error_code = e.kafka_error_code();
                    answer_now = true;
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
    Pass {
        body,
        bytes: total,
        answer_now,
        cold,
        follower_reads,
    }
}

/// On the leader: the replica a consumer in `rack` fetching `fetch_offset` should read from
/// instead (-1: this leader), from the replica state and the racks and liveness of the image.
fn preferred_read_replica(
    broker: &Broker,
    selector: ReplicaSelector,
    part: &Partition,
    rack: &str,
    fetch_offset: i64,
) -> i32 {
    if rack.is_empty() {
        return -1;
    }
    let state = part.replica_state();
    let meta = broker.meta();
    let followers: Vec<FollowerView<'_>> = state
        .replicas
        .iter()
        .filter(|&&id| id != state.node)
        .map(|&id| {
            let registered = meta.brokers.get(&id);
            FollowerView {
                id,
                rack: registered.and_then(|b| b.rack.as_deref()),
                in_sync: state.isr.contains(&id),
                live: registered.is_some() && !meta.fenced.contains(&id),
                log_end: state.followers.get(&id).map_or(-1, |f| f.log_end),
            }
        })
        .collect();
    selector.preferred_read_replica(
        rack,
        broker.config.rack.as_deref(),
        fetch_offset,
        &followers,
    )
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

#[cfg(test)]
mod tests {
    //! Fetch from follower (KIP-392) against a real broker state in a temp dir: a partition is
    //! made a leader or a follower by setting its replica state, as the reconciler does.

    use std::collections::BTreeMap;

    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use strata_meta::{BrokerRegistration, Operation};
    use strata_replica::ReplicaState;

    use super::*;
    use crate::broker::NOT_LEADER_OR_FOLLOWER;
    use crate::config::BrokerConfig;
    use crate::replica_selector::RACK_AWARE_SELECTOR;

    /// Node 0 in rack `r1`, with or without the rack-aware selector, hosting topic `t`
    /// (one partition) with ten one-record batches at offsets 0..10.
    fn broker(dir: &std::path::Path, selector: bool) -> (Arc<Broker>, Arc<Partition>) {
        let mut raw = BTreeMap::new();
        raw.insert("log.dirs".to_string(), dir.display().to_string());
        raw.insert("listeners".to_string(), "127.0.0.1:0".to_string());
        raw.insert("broker.rack".to_string(), "r1".to_string());
        if selector {
            raw.insert(
                "replica.selector.class".to_string(),
                RACK_AWARE_SELECTOR.to_string(),
            );
        }
        let b = Broker::open(BrokerConfig::from_map(raw).unwrap()).unwrap();
        b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
        let part = b.partition("t", 0).unwrap();
        for i in 0..10u8 {
            let mut batch = strata_records::testing::build_batch(
                1000,
                &[(Some(b"k"), Some(&[i][..]), 0)],
                -1,
                -1,
                -1,
            );
            part.log().append(&mut batch, 0, 1000).unwrap();
        }
        (b, part)
    }

    /// Makes node 0's copy a follower of node 1 (epoch 1) that knows high watermark `hw`.
    fn make_follower(part: &Partition, hw: i64) {
        part.set_replica_state(ReplicaState::from_metadata(
            0,
            vec![1, 0, 2],
            1,
            1,
            vec![1, 0, 2],
            1,
        ));
        part.log().set_high_watermark(hw);
    }

    /// Registers node `id` in `rack` with the quorum.
    fn register(b: &Broker, id: i32, rack: &str) {
        crate::metadata_quorum::execute(
            b.quorum(),
            Operation::RegisterBroker(BrokerRegistration {
                node_id: id,
                host: "127.0.0.1".to_string(),
                port: 9000 + id,
                rack: Some(rack.to_string()),
                endpoints: Vec::new(),
            }),
        )
        .unwrap();
    }

    fn request(replica: i32, offset: i64) -> FetchRequest {
        FetchRequest::default()
            .with_replica_id(BrokerId(replica))
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])])
    }

    /// The one partition's answer, and the offsets of the batches it carries.
    fn fetch(
        b: &Arc<Broker>,
        replica: i32,
        offset: i64,
        rack: Option<&str>,
    ) -> (Pass, FetchPartitionData<ReadSlice>, Vec<i64>) {
        let mut pass = read_all(b, &request(replica, offset), replica, rack, &HashSet::new());
        let data = pass.body.topics[0].partitions.remove(0);
        let bytes = match &data.records {
            Payload::File { handle, .. } => handle.read_to_vec().unwrap(),
            Payload::Bytes(b) => b.to_vec(),
            Payload::None => Vec::new(),
        };
        let offsets = strata_records::batches(&bytes)
            .map(|h| h.unwrap().1.base_offset)
            .collect();
        (pass, data, offsets)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_selector_a_follower_refuses_consumers() {
        let dir = tempfile::tempdir().unwrap();
        let (b, part) = broker(dir.path(), false);
        make_follower(&part, 5);
        for rack in [Some("r1"), Some(""), None] {
            let (pass, data, offsets) = fetch(&b, -1, 0, rack);
            assert_eq!(data.error_code, NOT_LEADER_OR_FOLLOWER, "{rack:?}");
            assert!(pass.answer_now && offsets.is_empty());
            assert_eq!(pass.follower_reads, 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_a_selector_a_follower_serves_consumers_up_to_its_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let (b, part) = broker(dir.path(), true);
        make_follower(&part, 5);
        let (pass, data, offsets) = fetch(&b, -1, 0, Some("r1"));
        assert_eq!((data.error_code, data.high_watermark), (0, 5));
        assert_eq!(data.preferred_read_replica, -1);
        assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        assert_eq!(pass.follower_reads, 1);
        // Any rack (or none) may read from it: the leader decided where to send the client.
        let (_, data, offsets) = fetch(&b, -1, 3, Some(""));
        assert_eq!((data.error_code, offsets), (0, vec![3, 4]));
        // Past its high watermark but within its log: no records yet, no error.
        for offset in [5, 7, 10] {
            let (pass, data, offsets) = fetch(&b, -1, offset, Some("r1"));
            assert_eq!((data.error_code, data.high_watermark), (0, 5), "{offset}");
            assert!(offsets.is_empty() && !pass.answer_now && pass.follower_reads == 0);
        }
        // Past its log end: OFFSET_OUT_OF_RANGE with its high watermark, from which librdkafka
        // tells it lags and goes back to the leader.
        let (_, data, _) = fetch(&b, -1, 11, Some("r1"));
        assert_eq!(
            (data.error_code, data.high_watermark),
            (OFFSET_OUT_OF_RANGE, 5)
        );
        // Consumers older than Fetch v11 (no rack) and other brokers' replica fetches are
        // answered by leaders only.
        let (_, data, _) = fetch(&b, -1, 0, None);
        assert_eq!(data.error_code, NOT_LEADER_OR_FOLLOWER);
        let (_, data, _) = fetch(&b, 2, 0, None);
        assert_eq!(data.error_code, NOT_LEADER_OR_FOLLOWER);
        // The consumer's leader epoch is checked against the follower's, as on a leader.
        let mut req = request(-1, 0);
        req.topics[0].partitions[0].current_leader_epoch = 0;
        let pass = read_all(&b, &req, -1, Some("r1"), &HashSet::new());
        assert_eq!(
            pass.body.topics[0].partitions[0].error_code,
            FENCED_LEADER_EPOCH
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_sends_consumers_to_an_in_sync_follower_in_their_rack() {
        let dir = tempfile::tempdir().unwrap();
        let (b, part) = broker(dir.path(), true);
        register(&b, 1, "r2");
        register(&b, 2, "r3");
        part.set_replica_state(ReplicaState::from_metadata(
            0,
            vec![0, 1, 2],
            0,
            0,
            vec![0, 1, 2],
            0,
        ));
        part.record_follower_fetch(1, 4, crate::broker::now_ms());
        part.record_follower_fetch(2, 10, crate::broker::now_ms());

        // A client in node 2's rack is sent there, with no records.
        let (pass, data, offsets) = fetch(&b, -1, 0, Some("r3"));
        assert_eq!((data.error_code, data.preferred_read_replica), (0, 2));
        assert_eq!(data.high_watermark, 10);
        assert!(offsets.is_empty() && pass.answer_now && pass.bytes == 0);
        // Node 1 has offsets below 4 only.
        let (_, data, offsets) = fetch(&b, -1, 3, Some("r2"));
        assert_eq!((data.preferred_read_replica, offsets.len()), (1, 0));
        let (_, data, offsets) = fetch(&b, -1, 6, Some("r2"));
        assert_eq!(
            (data.preferred_read_replica, offsets),
            (-1, vec![6, 7, 8, 9])
        );
        // The leader's own rack, an unknown rack, no rack, an old consumer, a replica fetch:
        // served here.
        for (replica, rack) in [
            (-1, Some("r1")),
            (-1, Some("r9")),
            (-1, Some("")),
            (-1, None),
        ] {
            let (pass, data, offsets) = fetch(&b, replica, 8, rack);
            assert_eq!(
                (data.error_code, data.preferred_read_replica, offsets),
                (0, -1, vec![8, 9]),
                "{rack:?}"
            );
            assert_eq!(pass.follower_reads, 0);
        }
        let (_, data, offsets) = fetch(&b, 2, 8, None);
        assert_eq!((data.preferred_read_replica, offsets), (-1, vec![8, 9]));
        // A fenced follower is not chosen.
        crate::metadata_quorum::execute(b.quorum(), Operation::FenceBroker { node_id: 2 }).unwrap();
        let (_, data, offsets) = fetch(&b, -1, 0, Some("r3"));
        assert_eq!((data.preferred_read_replica, offsets.len()), (-1, 10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_selector_a_leader_never_redirects() {
        let dir = tempfile::tempdir().unwrap();
        let (b, part) = broker(dir.path(), false);
        register(&b, 1, "r2");
        part.set_replica_state(ReplicaState::from_metadata(
            0,
            vec![0, 1],
            0,
            0,
            vec![0, 1],
            0,
        ));
        part.record_follower_fetch(1, 10, crate::broker::now_ms());
        let (_, data, offsets) = fetch(&b, -1, 0, Some("r2"));
        assert_eq!((data.preferred_read_replica, offsets.len()), (-1, 10));
    }
}
