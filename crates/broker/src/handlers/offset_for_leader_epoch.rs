//! OffsetForLeaderEpoch: the end offset of the requested epoch, from the leader's epoch cache.
//! Consumers (KIP-320) and followers (truncation, KIP-101) ask the leader; a request naming an
//! older or newer `current_leader_epoch` than the leader's gets FENCED_LEADER_EPOCH or
//! UNKNOWN_LEADER_EPOCH.
//!
//! Authorization, as Kafka: a follower (v3+ with a replica id) needs CLUSTER_ACTION on the
//! cluster (CLUSTER_AUTHORIZATION_FAILED for every partition), a consumer DESCRIBE on each
//! topic (TOPIC_AUTHORIZATION_FAILED).

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
    let authz = crate::authz::Authz::new(broker);
    let cluster_denied =
        req.replica_id.0 >= 0 && !authz.cluster(strata_meta::acl::AclOperation::ClusterAction);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let denied = if cluster_denied {
                Some(crate::authz::CLUSTER_AUTHORIZATION_FAILED)
            } else if req.replica_id.0 < 0
                && !authz.topic(strata_meta::acl::AclOperation::Describe, &name)
            {
                Some(crate::authz::TOPIC_AUTHORIZATION_FAILED)
            } else {
                None
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if let Some(code) = denied {
                        return r.with_error_code(code);
                    }
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
