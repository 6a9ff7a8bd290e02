//! OffsetForLeaderEpoch: the end offset of the requested epoch, from the leader's epoch cache.
//! Consumers (KIP-320) and followers (truncation, KIP-101) ask the leader; a request naming an
//! older or newer `current_leader_epoch` than the leader's gets FENCED_LEADER_EPOCH or
//! UNKNOWN_LEADER_EPOCH.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;

const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    match broker.serving_partition(&name, p.partition) {
                        Err(code) => r.with_error_code(code),
                        Ok(part) => {
                            let current = part.leader_epoch();
                            if p.current_leader_epoch >= 0 && p.current_leader_epoch < current {
                                r.with_error_code(FENCED_LEADER_EPOCH)
                            } else if p.current_leader_epoch > current {
                                r.with_error_code(UNKNOWN_LEADER_EPOCH)
                            } else {
                                let (epoch, end) = part.log().end_offset_for_epoch(p.leader_epoch);
                                r.with_leader_epoch(epoch).with_end_offset(end)
                            }
                        }
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
