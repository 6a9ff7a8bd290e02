//! ListOffsets: latest (-1), earliest (-2), max timestamp (-3), earliest local (-4, v8+), or
//! the first offset whose record timestamp is at least T.
//!
//! "Latest" is the high watermark for read_uncommitted and the last stable offset for
//! read_committed; a local timestamp or max-timestamp lookup answers only an offset below that
//! bound (Kafka's `lastFetchableOffset`), else no offset. "Earliest" is the log start across tiers;
//! "earliest local" the first offset on local disk. Timestamp lookups search the remote tier
//! first for offsets below the local start, then the local log.
//!
//! Each topic needs DESCRIBE (TOPIC_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use strata_meta::acl::AclOperation;

use crate::authz::{Authz, TOPIC_AUTHORIZATION_FAILED};
use crate::broker::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == 1;
    let mut topics = Vec::with_capacity(req.topics.len());
    let authz = Authz::new(broker);
    for t in req.topics {
        let name = t.name.0.to_string();
        let denied = !authz.topic(AclOperation::Describe, &name);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            if denied {
                partitions.push(
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1),
                );
                continue;
            }
            let mut r = match remote_answer(broker, &name, p.partition_index, p.timestamp).await {
                Some(r) => r,
                None => answer(
                    broker,
                    &name,
                    p.partition_index,
                    p.timestamp,
                    read_committed,
                ),
            };
            // leader_epoch exists from v4; kafka-protocol refuses to encode it earlier.
            if version < 4 {
                r = r.with_leader_epoch(-1);
            }
            partitions.push(r);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// A timestamp lookup answered by the remote tier, when the first matching record lies below
/// the local log start.
async fn remote_answer(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    timestamp: i64,
) -> Option<ListOffsetsPartitionResponse> {
    if timestamp < 0 {
        return None;
    }
    let tier = broker.tier()?;
    let part = broker.partition(topic, index)?;
    let (log_start, local_start) = {
        let log = part.log();
        (log.log_start_offset(), log.local_log_start_offset())
    };
    if log_start >= local_start {
        return None;
    }
    match tier
        .offset_for_timestamp(&part.topic_id, index, timestamp)
        .await
    {
        Ok(Some((offset, ts))) if offset >= log_start && offset < local_start => Some(
            ListOffsetsPartitionResponse::default()
                .with_partition_index(index)
                .with_offset(offset)
                .with_timestamp(ts)
                .with_leader_epoch(part.leader_epoch()),
        ),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(topic, partition = index, error = %e, "remote timestamp lookup failed");
            Some(
                ListOffsetsPartitionResponse::default()
                    .with_partition_index(index)
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_error_code(56),
            )
        }
    }
}

fn answer(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    timestamp: i64,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let resp = ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_timestamp(-1)
        .with_offset(-1)
        .with_leader_epoch(-1);
    let part = match broker.serving_partition(topic, index) {
        Ok(part) => part,
        Err(code) => return resp.with_error_code(code),
    };
    let epoch = part.leader_epoch();
    let log = part.log();
    // Kafka's `lastFetchableOffset`: what the asker's isolation level may read.
    let fetchable = if read_committed {
        log.last_stable_offset()
    } else {
        log.high_watermark()
    };
    let found = match timestamp {
        LATEST => Ok(Some((fetchable, -1))),
        EARLIEST => Ok(Some((log.log_start_offset(), -1))),
        EARLIEST_LOCAL => Ok(Some((log.local_log_start_offset(), -1))),
        MAX_TIMESTAMP => log
            .max_timestamp()
            .map(|found| found.filter(|&(offset, _)| offset < fetchable)),
        t if t >= 0 => log
            .offset_for_timestamp(t)
            .map(|found| found.filter(|&(offset, _)| offset < fetchable)),
        _ => Ok(None),
    };
    match found {
        Ok(Some((offset, ts))) => resp
            .with_offset(offset)
            .with_timestamp(ts)
            .with_leader_epoch(epoch),
        Ok(None) => resp,
        Err(e) => resp.with_error_code(e.kafka_error_code()),
    }
}
