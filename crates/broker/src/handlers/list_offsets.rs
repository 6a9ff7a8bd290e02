//! ListOffsets: latest (-1), earliest (-2), max timestamp (-3), or the first offset whose
//! record timestamp is at least T.
//!
//! "Latest" is the high watermark for read_uncommitted and the last stable offset for
//! read_committed (equal until transactions exist).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = answer(
                        broker,
                        &name,
                        p.partition_index,
                        p.timestamp,
                        read_committed,
                    );
                    // leader_epoch exists from v4; kafka-protocol refuses to encode it earlier.
                    if version < 4 {
                        r.with_leader_epoch(-1)
                    } else {
                        r
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
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
    let Some(part) = broker.partition(topic, index) else {
        return resp.with_error_code(UNKNOWN_TOPIC_OR_PARTITION);
    };
    let log = part.log();
    let found = match timestamp {
        LATEST => Ok(Some((
            if read_committed {
                log.last_stable_offset()
            } else {
                log.high_watermark()
            },
            -1,
        ))),
        EARLIEST => Ok(Some((log.log_start_offset(), -1))),
        MAX_TIMESTAMP => log.max_timestamp(),
        t if t >= 0 => log.offset_for_timestamp(t),
        _ => Ok(None),
    };
    match found {
        Ok(Some((offset, ts))) => resp
            .with_offset(offset)
            .with_timestamp(ts)
            .with_leader_epoch(LEADER_EPOCH),
        Ok(None) => resp,
        Err(e) => resp.with_error_code(e.kafka_error_code()),
    }
}
