//! LeaveGroup (v0–v5): v0–v2 name one member; v3+ a batch of `(member id, instance id)`.
//!
//! Each leaving member is removed (a pending MEMBER_ID_REQUIRED id too) and the group reacts as
//! to any removal: Stable/CompletingRebalance start a rebalance, PreparingRebalance may
//! complete. A static member may be named by instance id alone; naming it with another member
//! id is FENCED_INSTANCE_ID. v0–v2 report the single member's error at the top level.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::codes;
use crate::group::{Group, GroupState};
use crate::rebalance::Ctx;
use crate::GroupCoordinator;

impl GroupCoordinator {
    /// Handles LeaveGroup.
    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving: Vec<(String, Option<String>)> = if version >= 3 {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|s| s.to_string()),
                    )
                })
                .collect()
        } else {
            vec![(req.member_id.to_string(), None)]
        };
        if let Err(code) = crate::limits::check_group_id(req.group_id.as_str()) {
            return LeaveGroupResponse::default().with_error_code(code);
        }
        // A rebalance the leave starts may store the group (Empty); that write is best effort,
        // as the leave itself stores nothing.
        let result = self.change(
            req.group_id.as_str(),
            |shard, ctx| {
                let Some(group) = shard.groups.get_mut(req.group_id.as_str()) else {
                    return Ok(vec![codes::UNKNOWN_MEMBER_ID; leaving.len()]);
                };
                if group.state == GroupState::Dead {
                    return Err(codes::COORDINATOR_NOT_AVAILABLE);
                }
                Ok(leaving
                    .iter()
                    .map(|(id, instance)| leave_one(group, id, instance.as_deref(), ctx))
                    .collect())
            },
            |_, _, result, _| result,
        );
        let codes_per_member = match result {
            Ok(Ok(v)) => v,
            Ok(Err(code)) | Err(code) => {
                return LeaveGroupResponse::default().with_error_code(code);
            }
        };
        if version < 3 {
            return LeaveGroupResponse::default()
                .with_error_code(codes_per_member.first().copied().unwrap_or(codes::NONE));
        }
        let members = leaving
            .into_iter()
            .zip(codes_per_member)
            .map(|((id, instance), code)| {
                MemberResponse::default()
                    .with_member_id(StrBytes::from_string(id))
                    .with_group_instance_id(instance.map(StrBytes::from_string))
                    .with_error_code(code)
            })
            .collect();
        LeaveGroupResponse::default().with_members(members)
    }
}

fn leave_one(group: &mut Group, member_id: &str, instance: Option<&str>, ctx: &mut Ctx<'_>) -> i16 {
    let target = match instance {
        Some(instance) => match group.static_members.get(instance) {
            None => return codes::UNKNOWN_MEMBER_ID,
            Some(current) if !member_id.is_empty() && current != member_id => {
                return codes::FENCED_INSTANCE_ID
            }
            Some(current) => current.clone(),
        },
        None => member_id.to_string(),
    };
    if group.remove_pending(&target, ctx) {
        return codes::NONE;
    }
    if !group.has(&target) {
        return codes::UNKNOWN_MEMBER_ID;
    }
    group.remove_member(&target, ctx, "the member left the group");
    codes::NONE
}
