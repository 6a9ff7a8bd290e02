//! ListGroups (v0–v5), DescribeGroups (v0–v5), DeleteGroups (v0–v2).
//!
//! DescribeGroups reports an unknown group as state `Dead` with no error (v0–v5, as Kafka
//! does) and shows member metadata and assignments only while the group is Stable.
//! DeleteGroups refuses groups with members (NON_EMPTY_GROUP) and unknown ones
//! (GROUP_ID_NOT_FOUND); deleting writes tombstones for every offset and the group record, and
//! the group leaves memory only once they are durable (a failed write answers
//! COORDINATOR_NOT_AVAILABLE and keeps it). ListGroups and DescribeGroups only read: they take
//! one partition's state lock at a time and never wait for a write.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::codes;
use crate::format::RecordKey;
use crate::group::GroupState;
use crate::GroupCoordinator;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The only group type Strata has (ListGroups v5 `types_filter`).
const CLASSIC: &str = "classic";

impl GroupCoordinator {
    /// Handles ListGroups.
    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let states: Vec<String> = if version >= 4 {
            req.states_filter.iter().map(|s| s.to_lowercase()).collect()
        } else {
            Vec::new()
        };
        let types_ok = version < 5
            || req.types_filter.is_empty()
            || req
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(CLASSIC));
        let mut groups: Vec<(String, String, &'static str)> = Vec::new();
        let result = self
            .each_shard(|shard| {
                groups.extend(
                    shard
                        .groups
                        .values()
                        .filter(|g| g.state != GroupState::Dead)
                        .filter(|g| {
                            states.is_empty() || states.contains(&g.state.name().to_lowercase())
                        })
                        .map(|g| {
                            (
                                g.id.clone(),
                                g.protocol_type.clone().unwrap_or_default(),
                                g.state.name(),
                            )
                        }),
                );
            })
            .map(|()| {
                groups.sort();
                groups
            });
        match result {
            Ok(groups) => ListGroupsResponse::default().with_groups(
                groups
                    .into_iter()
                    .filter(|_| types_ok)
                    .map(|(id, protocol_type, state)| {
                        let mut g = ListedGroup::default()
                            .with_group_id(GroupId(sb(&id)))
                            .with_protocol_type(sb(&protocol_type));
                        if version >= 4 {
                            g = g.with_group_state(sb(state));
                        }
                        if version >= 5 {
                            g = g.with_group_type(sb(CLASSIC));
                        }
                        g
                    })
                    .collect(),
            ),
            Err(code) => ListGroupsResponse::default().with_error_code(code),
        }
    }

    /// Handles DescribeGroups.
    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let described = req
            .groups
            .iter()
            .map(|id| {
                self.with_shard(id.as_str(), |shard, _| {
                    let Some(g) = shard
                        .groups
                        .get(id.as_str())
                        .filter(|g| g.state != GroupState::Dead)
                    else {
                        return DescribedGroup::default()
                            .with_group_id(id.clone())
                            .with_group_state(sb(GroupState::Dead.name()));
                    };
                    let stable = g.state == GroupState::Stable;
                    let protocol = g.protocol_name.clone().unwrap_or_default();
                    let members = g
                        .members
                        .iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(sb(&m.id))
                                .with_group_instance_id(if version >= 4 {
                                    m.instance_id.as_deref().map(sb)
                                } else {
                                    None
                                })
                                .with_client_id(sb(&m.client_id))
                                .with_client_host(sb(&m.client_host))
                                .with_member_metadata(if stable {
                                    m.metadata(&protocol)
                                } else {
                                    Default::default()
                                })
                                .with_member_assignment(if stable {
                                    m.assignment.clone()
                                } else {
                                    Default::default()
                                })
                        })
                        .collect();
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(sb(g.state.name()))
                        .with_protocol_type(sb(g.protocol_type.as_deref().unwrap_or("")))
                        .with_protocol_data(sb(if stable { &protocol } else { "" }))
                        .with_members(members)
                })
                .unwrap_or_else(|code| {
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_error_code(code)
                })
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(described)
    }

    /// Handles DeleteGroups.
    pub async fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        let results = req
            .groups_names
            .iter()
            .map(|id| {
                let code = self
                    .change(
                        id.as_str(),
                        |shard, ctx| {
                            let Some(group) = shard.groups.get_mut(id.as_str()) else {
                                return codes::GROUP_ID_NOT_FOUND;
                            };
                            match group.state {
                                GroupState::Dead => return codes::GROUP_ID_NOT_FOUND,
                                GroupState::Empty => {}
                                _ => return codes::NON_EMPTY_GROUP,
                            }
                            let mut writes: Vec<_> = group
                                .offsets
                                .keys()
                                .map(|(topic, partition)| {
                                    (
                                        RecordKey::Offset {
                                            group: group.id.clone(),
                                            topic: topic.clone(),
                                            partition: *partition,
                                        },
                                        None,
                                    )
                                })
                                .collect();
                            writes.push((RecordKey::Group { group: group.id.clone() }, None));
                            ctx.journal.push(writes);
                            codes::NONE
                        },
                        // The group goes from memory only once its tombstones are durable.
                        |shard, ctx, code, stored| {
                            if code != codes::NONE {
                                return code;
                            }
                            if !stored {
                                tracing::error!(group = %id.as_str(), "storing the group deletion failed");
                                return codes::COORDINATOR_NOT_AVAILABLE;
                            }
                            if let Some(mut g) = shard.groups.remove(id.as_str()) {
                                g.set_state(GroupState::Dead, ctx.clock.ms);
                            }
                            tracing::info!(group = %id.as_str(), "group deleted");
                            codes::NONE
                        },
                    )
                    .unwrap_or_else(|code| code);
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(code)
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }
}
