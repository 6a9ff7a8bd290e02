//! OffsetCommit: delegated to the group coordinator, which answers after the offsets are
//! fsynced to `__consumer_offsets`.
//!
//! Authorization, as Kafka: READ on the group (every partition GROUP_AUTHORIZATION_FAILED
//! otherwise), then READ on each topic (its partitions TOPIC_AUTHORIZATION_FAILED, the rest
//! committed).

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use strata_meta::acl::AclOperation;

use crate::authz::{Authz, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    mut req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let authz = Authz::new(broker);
    let group_ok = authz.group(AclOperation::Read, &req.group_id);
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| group_ok && authz.topic(AclOperation::Read, &t.name));
    let code = if group_ok {
        TOPIC_AUTHORIZATION_FAILED
    } else {
        GROUP_AUTHORIZATION_FAILED
    };
    let refused: Vec<_> = denied
        .into_iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    if !group_ok {
        return OffsetCommitResponse::default().with_topics(refused);
    }
    req.topics = allowed;
    let mut resp = broker.group.offset_commit(req, version).await;
    resp.topics.extend(refused);
    resp
}
