//! OffsetDelete: delegated to the group coordinator (topics no member subscribes to).
//!
//! Authorization, as Kafka: DELETE on the group (GROUP_AUTHORIZATION_FAILED for the request),
//! then READ on each topic (its partitions TOPIC_AUTHORIZATION_FAILED, the rest deleted).

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use strata_meta::acl::AclOperation;

use crate::authz::{Authz, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    mut req: OffsetDeleteRequest,
    version: i16,
) -> OffsetDeleteResponse {
    let authz = Authz::new(broker);
    if !authz.group(AclOperation::Delete, &req.group_id) {
        return OffsetDeleteResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
    }
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Read, &t.name));
    req.topics = allowed;
    let mut resp = broker.group.offset_delete(req, version).await;
    if resp.error_code == 0 {
        resp.topics.extend(denied.into_iter().map(|t| {
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                        })
                        .collect(),
                )
        }));
    }
    resp
}
