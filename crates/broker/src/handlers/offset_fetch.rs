//! OffsetFetch (single group, and batched on v8+): delegated to the group coordinator.
//!
//! Authorization, as Kafka: each group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED: the whole
//! response before v8, the group's entry from v8); each named topic needs DESCRIBE (its
//! partitions TOPIC_AUTHORIZATION_FAILED); a fetch of all topics leaves out those the principal
//! may not describe.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use strata_meta::acl::{AclOperation, ResourceType};

use crate::authz::{Authz, GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED};
use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    mut req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    let authz = Authz::new(broker);
    if !authz.enabled() {
        return broker.group.offset_fetch(req, version).await;
    }
    let describe = AclOperation::Describe;
    if version < 8 {
        if !authz.group(describe, &req.group_id) {
            return OffsetFetchResponse::default().with_error_code(GROUP_AUTHORIZATION_FAILED);
        }
        let all = req.topics.is_none();
        let mut denied = Vec::new();
        if let Some(topics) = req.topics.as_mut() {
            let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(topics)
                .into_iter()
                .partition(|t| authz.topic(describe, &t.name));
            *topics = ok;
            denied = no;
        }
        let mut resp = broker.group.offset_fetch(req, version).await;
        if all {
            resp.topics
                .retain(|t| authz.visible(describe, ResourceType::Topic, &t.name));
        }
        resp.topics.extend(denied.into_iter().map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partition_indexes
                        .iter()
                        .map(|&p| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_committed_leader_epoch(-1)
                                .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                        })
                        .collect(),
                )
        }));
        return resp;
    }
    // v8+: per group.
    let mut refused_groups = Vec::new();
    let mut denied_topics = Vec::new();
    let mut all_topics = Vec::new();
    let mut kept = Vec::new();
    for mut g in std::mem::take(&mut req.groups) {
        if !authz.group(describe, &g.group_id) {
            refused_groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_error_code(GROUP_AUTHORIZATION_FAILED),
            );
            continue;
        }
        match g.topics.as_mut() {
            None => all_topics.push(g.group_id.clone()),
            Some(topics) => {
                let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(topics)
                    .into_iter()
                    .partition(|t| authz.topic(describe, &t.name));
                *topics = ok;
                denied_topics.push((g.group_id.clone(), no));
            }
        }
        kept.push(g);
    }
    req.groups = kept;
    let mut resp = if req.groups.is_empty() {
        OffsetFetchResponse::default()
    } else {
        broker.group.offset_fetch(req, version).await
    };
    for g in &mut resp.groups {
        if all_topics.contains(&g.group_id) {
            g.topics
                .retain(|t| authz.visible(describe, ResourceType::Topic, &t.name));
        }
        if let Some((_, denied)) = denied_topics.iter_mut().find(|(id, _)| *id == g.group_id) {
            g.topics.extend(std::mem::take(denied).into_iter().map(|t| {
                OffsetFetchResponseTopics::default()
                    .with_name(t.name)
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_committed_leader_epoch(-1)
                                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                            })
                            .collect(),
                    )
            }));
        }
    }
    resp.groups.extend(refused_groups);
    resp
}
