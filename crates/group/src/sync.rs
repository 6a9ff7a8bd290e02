//! SyncGroup (v0–v5): members wait for the leader's assignment.
//!
//! In CompletingRebalance every member's SyncGroup is parked; the leader's carries the
//! assignments, which are stored (fsynced) with the group; only once that write is durable
//! does the group become Stable and every parked member get its own assignment (empty if the
//! leader left it out). If the write fails, the parked members get COORDINATOR_NOT_AVAILABLE
//! and the group rebalances. In Stable a
//! SyncGroup is answered at once with the member's assignment. Errors: UNKNOWN_MEMBER_ID (25),
//! ILLEGAL_GENERATION (22), REBALANCE_IN_PROGRESS (27) while PreparingRebalance,
//! FENCED_INSTANCE_ID (82), and on v5 INCONSISTENT_GROUP_PROTOCOL (23) for a mismatching
//! protocol type or name.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;

use crate::codes;
use crate::group::{Group, GroupState};
use crate::member::SyncOutcome;
use crate::rebalance::Ctx;
use crate::GroupCoordinator;

enum Answer {
    Now(SyncOutcome),
    Parked(oneshot::Receiver<SyncOutcome>),
}

impl GroupCoordinator {
    /// Handles SyncGroup; parks followers until the leader's assignment arrives.
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        if let Err(code) = crate::limits::check_group_id(req.group_id.as_str()) {
            return SyncGroupResponse::default().with_error_code(code);
        }
        // The leader's assignment is stored first; the group turns Stable (and members get
        // their assignments) only once that record is durable.
        let answer = self
            .change(
                req.group_id.as_str(),
                |shard, ctx| {
                    let clock = ctx.clock;
                    let group_id = req.group_id.as_str();
                    let member_id = req.member_id.as_str();
                    let instance = if version >= 3 {
                        req.group_instance_id.as_deref()
                    } else {
                        None
                    };
                    let Some(group) = shard.groups.get_mut(group_id) else {
                        return (
                            Answer::Now(SyncOutcome::error(codes::UNKNOWN_MEMBER_ID)),
                            false,
                        );
                    };
                    if group.state == GroupState::Dead {
                        return (
                            Answer::Now(SyncOutcome::error(codes::COORDINATOR_NOT_AVAILABLE)),
                            false,
                        );
                    }
                    if group.is_static_fenced(instance, member_id) {
                        return (
                            Answer::Now(SyncOutcome::error(codes::FENCED_INSTANCE_ID)),
                            false,
                        );
                    }
                    if !group.has(member_id) {
                        return (
                            Answer::Now(SyncOutcome::error(codes::UNKNOWN_MEMBER_ID)),
                            false,
                        );
                    }
                    if req.generation_id != group.generation {
                        return (
                            Answer::Now(SyncOutcome::error(codes::ILLEGAL_GENERATION)),
                            false,
                        );
                    }
                    if version >= 5 {
                        let type_ok = req
                            .protocol_type
                            .as_deref()
                            .is_none_or(|t| group.protocol_type.as_deref() == Some(t));
                        let name_ok = req
                            .protocol_name
                            .as_deref()
                            .is_none_or(|n| group.protocol_name.as_deref() == Some(n));
                        if !type_ok || !name_ok {
                            return (
                                Answer::Now(SyncOutcome::error(codes::INCONSISTENT_GROUP_PROTOCOL)),
                                false,
                            );
                        }
                    }
                    match group.state {
                        GroupState::Empty | GroupState::Dead => (
                            Answer::Now(SyncOutcome::error(codes::UNKNOWN_MEMBER_ID)),
                            false,
                        ),
                        GroupState::PreparingRebalance => (
                            Answer::Now(SyncOutcome::error(codes::REBALANCE_IN_PROGRESS)),
                            false,
                        ),
                        GroupState::Stable => {
                            group.pending_sync.remove(member_id);
                            if group.pending_sync.is_empty() {
                                group.sync_deadline = None;
                            }
                            let outcome = group.member_mut(member_id).map(|m| {
                                m.touch(clock.now);
                                m.assignment.clone()
                            });
                            let answer = Answer::Now(SyncOutcome {
                                error: codes::NONE,
                                protocol_type: group.protocol_type.clone(),
                                protocol_name: group.protocol_name.clone(),
                                assignment: outcome.unwrap_or_default(),
                            });
                            (answer, false)
                        }
                        GroupState::CompletingRebalance => {
                            let (tx, rx) = oneshot::channel();
                            if let Some(m) = group.member_mut(member_id) {
                                m.answer_sync(SyncOutcome::error(codes::REBALANCE_IN_PROGRESS));
                                m.awaiting_sync = Some(tx);
                                m.touch(clock.now);
                            }
                            group.pending_sync.remove(member_id);
                            if group.pending_sync.is_empty() {
                                group.sync_deadline = None;
                            }
                            let leader = group.is_leader(member_id);
                            if leader {
                                let assignments: HashMap<&str, Bytes> = req
                                    .assignments
                                    .iter()
                                    .map(|a| (a.member_id.as_str(), a.assignment.clone()))
                                    .collect();
                                for m in &mut group.members {
                                    m.assignment =
                                        assignments.get(m.id.as_str()).cloned().unwrap_or_default();
                                }
                                group.persist(ctx);
                            }
                            (Answer::Parked(rx), leader)
                        }
                    }
                },
                |shard, ctx, (answer, leader), stored| {
                    if leader {
                        if let Some(group) = shard.groups.get_mut(req.group_id.as_str()) {
                            complete_sync(group, ctx, stored);
                        }
                    }
                    answer
                },
            )
            .unwrap_or_else(|code| Answer::Now(SyncOutcome::error(code)));
        let outcome = match answer {
            Answer::Now(o) => o,
            Answer::Parked(rx) => rx
                .await
                .unwrap_or_else(|_| SyncOutcome::error(codes::NOT_COORDINATOR)),
        };
        let (protocol_type, protocol_name) = if version >= 5 && outcome.error == codes::NONE {
            (
                outcome.protocol_type.map(StrBytes::from_string),
                outcome.protocol_name.map(StrBytes::from_string),
            )
        } else {
            (None, None)
        };
        SyncGroupResponse::default()
            .with_error_code(outcome.error)
            .with_protocol_type(protocol_type)
            .with_protocol_name(protocol_name)
            .with_assignment(outcome.assignment)
    }
}

/// After the leader's assignment was written: Stable and every member answered, or — if the
/// write failed — every parked member answered COORDINATOR_NOT_AVAILABLE and a new rebalance.
fn complete_sync(group: &mut Group, ctx: &mut Ctx<'_>, stored: bool) {
    if group.state != GroupState::CompletingRebalance {
        return;
    }
    let clock = ctx.clock;
    if !stored {
        tracing::error!(group = %group.id, "storing the assignment failed");
        for m in &mut group.members {
            m.answer_sync(SyncOutcome::error(codes::COORDINATOR_NOT_AVAILABLE));
        }
        group.prepare_rebalance(ctx, "storing the assignment failed");
        return;
    }
    group.set_state(GroupState::Stable, clock.ms);
    tracing::info!(group = %group.id, generation = group.generation, "group is stable");
    let protocol_type = group.protocol_type.clone();
    let protocol_name = group.protocol_name.clone();
    for m in &mut group.members {
        let outcome = SyncOutcome {
            error: codes::NONE,
            protocol_type: protocol_type.clone(),
            protocol_name: protocol_name.clone(),
            assignment: m.assignment.clone(),
        };
        m.answer_sync(outcome);
        if m.awaiting_join.is_none() {
            m.touch(clock.now);
        }
    }
}
