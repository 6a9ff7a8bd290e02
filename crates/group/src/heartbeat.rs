//! Heartbeat (v0–v4): keeps a member's session alive and tells it to rejoin.
//!
//! Answers, in Kafka's order: COORDINATOR_NOT_AVAILABLE for a dead group, FENCED_INSTANCE_ID,
//! UNKNOWN_MEMBER_ID (unknown group or member, or an Empty group), ILLEGAL_GENERATION, then by
//! state: PreparingRebalance → REBALANCE_IN_PROGRESS (the signal to rejoin); CompletingRebalance
//! and Stable → NONE. Every accepted heartbeat pushes the session deadline forward.
//!
//! A heartbeat takes only its partition's state lock (`coordinator.rs`): it is never queued
//! behind a write or an fsync.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::codes;
use crate::group::GroupState;
use crate::GroupCoordinator;

impl GroupCoordinator {
    /// Handles Heartbeat.
    pub async fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        if let Err(code) = crate::limits::check_group_id(req.group_id.as_str()) {
            return HeartbeatResponse::default().with_error_code(code);
        }
        let code = self
            .with_shard(req.group_id.as_str(), |shard, clock| {
                let member_id = req.member_id.as_str();
                let instance = if version >= 3 {
                    req.group_instance_id.as_deref()
                } else {
                    None
                };
                let Some(group) = shard.groups.get_mut(req.group_id.as_str()) else {
                    return codes::UNKNOWN_MEMBER_ID;
                };
                if group.state == GroupState::Dead {
                    return codes::COORDINATOR_NOT_AVAILABLE;
                }
                if group.is_static_fenced(instance, member_id) {
                    return codes::FENCED_INSTANCE_ID;
                }
                if !group.has(member_id) {
                    return codes::UNKNOWN_MEMBER_ID;
                }
                if req.generation_id != group.generation {
                    return codes::ILLEGAL_GENERATION;
                }
                let code = match group.state {
                    GroupState::Empty | GroupState::Dead => return codes::UNKNOWN_MEMBER_ID,
                    GroupState::PreparingRebalance => codes::REBALANCE_IN_PROGRESS,
                    GroupState::CompletingRebalance | GroupState::Stable => codes::NONE,
                };
                if let Some(m) = group.member_mut(member_id) {
                    m.touch(clock.now);
                }
                code
            })
            .unwrap_or_else(|code| code);
        HeartbeatResponse::default().with_error_code(code)
    }
}
