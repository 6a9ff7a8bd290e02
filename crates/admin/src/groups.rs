//! Group calls: ListGroups and DescribeGroup (with lag), as `strata group list|describe`
//! compute them.
//!
//! - ListGroups (v4) goes to every broker in Metadata (each lists the groups it coordinates);
//!   the answer is the union, by group id. A broker that cannot be asked fails the call: the
//!   list would silently miss its groups.
//! - DescribeGroup joins DescribeGroups v5 (state, members, assignments) and OffsetFetch v7
//!   (committed offsets), both at the group's coordinator, with ListOffsets latest at each
//!   partition's leader. `lag = max(0, log end − committed)`, -1 when either is unknown. A
//!   group that is `Dead` with nothing committed does not exist: GROUP_ID_NOT_FOUND.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{
    DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::assignment::decode_assignment;
use crate::cluster_client::{ClusterClient, TopicPartition};
use crate::error::{invalid_request, KafkaError};
use crate::proto;

/// Kafka's GROUP_ID_NOT_FOUND.
const GROUP_ID_NOT_FOUND: i16 = 69;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// ListGroups.
pub(crate) async fn list_groups(
    client: &mut ClusterClient,
) -> anyhow::Result<proto::ListGroupsResponse> {
    let mut groups: BTreeMap<String, proto::GroupSummary> = BTreeMap::new();
    for (node, addr) in client.brokers().await? {
        let resp = client
            .call_node(node, ListGroupsRequest::default(), 4)
            .await
            .map_err(|e| e.context(format!("ListGroups of broker {node} ({addr})")))?;
        KafkaError::check(
            resp.error_code,
            &format!("ListGroups of broker {node}"),
            None,
        )?;
        for g in &resp.groups {
            groups.insert(
                g.group_id.to_string(),
                proto::GroupSummary {
                    group_id: g.group_id.to_string(),
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                },
            );
        }
    }
    Ok(proto::ListGroupsResponse {
        groups: groups.into_values().collect(),
    })
}

/// DescribeGroup.
pub(crate) async fn describe_group(
    client: &mut ClusterClient,
    group: &str,
) -> anyhow::Result<proto::DescribeGroupResponse> {
    if group.is_empty() {
        return Err(invalid_request("DescribeGroups", "the group id is empty"));
    }
    let resp = client
        .coordinator_call(
            group,
            DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
            5,
            |r| r.groups.first().map_or(0, |g| g.error_code),
        )
        .await?;
    let g = resp
        .groups
        .first()
        .ok_or_else(|| anyhow::anyhow!("DescribeGroups answered no group"))?;
    KafkaError::check(g.error_code, "DescribeGroups", None)?;
    let members: Vec<proto::GroupMember> = g
        .members
        .iter()
        .map(|m| proto::GroupMember {
            member_id: m.member_id.to_string(),
            client_id: m.client_id.to_string(),
            client_host: m.client_host.to_string(),
            assignment: decode_assignment(&m.member_assignment)
                .into_iter()
                .map(|(topic, partition)| proto::TopicPartition { topic, partition })
                .collect(),
        })
        .collect();
    let fetched = client
        .coordinator_call(
            group,
            OffsetFetchRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_topics(None),
            7,
            |r| r.error_code,
        )
        .await?;
    KafkaError::check(fetched.error_code, "OffsetFetch", None)?;
    let committed: BTreeMap<TopicPartition, i64> = fetched
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.committed_offset >= 0)
                .map(|p| ((t.name.to_string(), p.partition_index), p.committed_offset))
        })
        .collect();
    if g.group_state.as_str() == "Dead" && committed.is_empty() {
        return Err(KafkaError::new(
            GROUP_ID_NOT_FOUND,
            "DescribeGroups",
            Some(&format!("group {group}")),
        )
        .into());
    }
    let mut owner: BTreeMap<TopicPartition, String> = BTreeMap::new();
    for m in &members {
        for tp in &m.assignment {
            owner.insert((tp.topic.clone(), tp.partition), m.member_id.clone());
        }
    }
    let partitions: BTreeSet<TopicPartition> =
        committed.keys().chain(owner.keys()).cloned().collect();
    let [ends] = client.list_offsets(&partitions, [-1]).await?;
    let mut total_lag = 0;
    let rows = partitions
        .into_iter()
        .map(|tp| {
            let current = committed.get(&tp).copied();
            let end = ends.get(&tp).copied();
            let lag = match (current, end) {
                (Some(c), Some(e)) => (e - c).max(0),
                _ => -1,
            };
            total_lag += lag.max(0);
            proto::GroupPartition {
                member_id: owner.get(&tp).cloned().unwrap_or_default(),
                topic: tp.0,
                partition: tp.1,
                committed_offset: current.unwrap_or(-1),
                log_end_offset: end.unwrap_or(-1),
                lag,
            }
        })
        .collect();
    Ok(proto::DescribeGroupResponse {
        group_id: group.to_string(),
        state: g.group_state.to_string(),
        protocol_type: g.protocol_type.to_string(),
        members,
        partitions: rows,
        total_lag,
    })
}
