//! JoinGroup (v0–v9): new, known and static members; MEMBER_ID_REQUIRED on v4+.
//!
//! Paths (Kafka `GroupCoordinator.handleJoinGroup` / `GroupMetadataManager.classicGroupJoin`):
//! - unknown member, dynamic, v4+: a member id `<client id>-<uuid>` is handed out with
//!   MEMBER_ID_REQUIRED and kept *pending* for one session timeout; the client rejoins with it.
//! - unknown member, dynamic, v0–v3, or a pending id rejoining: added; a rebalance starts (or
//!   the running one waits for it).
//! - unknown member with a known `group.instance.id`: the static member gets a fresh id that
//!   replaces the old one (requests with the old id get FENCED_INSTANCE_ID). In Stable, if the
//!   selected protocol would not change, the answer is the current generation at once — no
//!   rebalance; the leader is answered with the member list (and `skip_assignment` on v9). That
//!   answer waits until the group record with the new id is durable; if the write fails the
//!   replacement is undone (the old id stays valid) and the answer is COORDINATOR_NOT_AVAILABLE.
//! - known member: in PreparingRebalance it is parked until the join phase ends; in
//!   CompletingRebalance or Stable a follower with unchanged protocols gets the current
//!   generation back, while the leader or a member with changed protocols triggers a rebalance.

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;

use crate::codes;
use crate::group::{Group, GroupState};
use crate::member::{JoinOutcome, Member};
use crate::rebalance::Ctx;
use crate::GroupCoordinator;

/// A JoinGroup as the state machine sees it.
struct Join {
    group_id: String,
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    version: i16,
}

enum Answer {
    Now(JoinOutcome),
    Parked(oneshot::Receiver<JoinOutcome>),
    /// The answer, to be given only once the records queued with it are durable; if they are
    /// not, the static member replacement is undone.
    Durable(JoinOutcome, Box<StaticRevert>),
}

/// What a static member replacement changed, to undo it when its record cannot be stored
/// (Kafka reverts the replacement when the append fails).
struct StaticRevert {
    instance: String,
    old_id: String,
    new_id: String,
    protocols: Vec<(String, Bytes)>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    was_leader: bool,
    was_pending_sync: bool,
}

impl StaticRevert {
    fn undo(self, group: &mut Group) {
        let Some(m) = group.member_mut(&self.new_id) else {
            return;
        };
        m.id = self.old_id.clone();
        m.protocols = self.protocols;
        m.client_id = self.client_id;
        m.client_host = self.client_host;
        m.rebalance_timeout_ms = self.rebalance_timeout_ms;
        m.session_timeout_ms = self.session_timeout_ms;
        group
            .static_members
            .insert(self.instance, self.old_id.clone());
        if self.was_leader {
            group.leader = Some(self.old_id.clone());
        }
        group.pending_sync.remove(&self.new_id);
        if self.was_pending_sync {
            group.pending_sync.insert(self.old_id);
        }
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl GroupCoordinator {
    /// Handles JoinGroup; parks until the join phase completes when the protocol requires it.
    /// `client_host` is shown by DescribeGroups (Kafka's form is `/127.0.0.1`).
    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let join = Join {
            group_id: req.group_id.to_string(),
            member_id: req.member_id.to_string(),
            instance_id: if version >= 5 {
                req.group_instance_id.as_ref().map(|s| s.to_string())
            } else {
                None
            },
            client_id: client_id.to_string(),
            client_host: client_host.to_string(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: if version >= 1 {
                req.rebalance_timeout_ms
            } else {
                req.session_timeout_ms
            },
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.to_string(), p.metadata.clone()))
                .collect(),
            version,
        };
        let member_id = join.member_id.clone();
        let answer = self.join_now(join);
        let outcome = match answer {
            Answer::Now(o) | Answer::Durable(o, _) => o,
            Answer::Parked(rx) => rx
                .await
                .unwrap_or_else(|_| JoinOutcome::error(codes::NOT_COORDINATOR, &member_id)),
        };
        join_response(outcome, version)
    }

    fn join_now(&self, join: Join) -> Answer {
        if let Err(code) = crate::limits::check_group_id(&join.group_id) {
            return Answer::Now(JoinOutcome::error(code, ""));
        }
        let strings = [
            Some(join.member_id.as_str()),
            join.instance_id.as_deref(),
            Some(join.client_id.as_str()),
            Some(join.protocol_type.as_str()),
        ];
        let too_long = strings
            .into_iter()
            .flatten()
            .chain(join.protocols.iter().map(|(name, _)| name.as_str()))
            .any(|s| crate::limits::check_stored(s).is_err());
        if too_long {
            return Answer::Now(JoinOutcome::error(codes::INVALID_REQUEST, ""));
        }
        if join.session_timeout_ms < self.config.min_session_timeout_ms
            || join.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Answer::Now(JoinOutcome::error(
                codes::INVALID_SESSION_TIMEOUT,
                &join.member_id,
            ));
        }
        let result = self.change(
            &join.group_id,
            |shard, ctx| {
                let groups = &mut shard.groups;
                let created = !groups.contains_key(&join.group_id);
                if created && !join.member_id.is_empty() {
                    return Answer::Now(JoinOutcome::error(
                        codes::UNKNOWN_MEMBER_ID,
                        &join.member_id,
                    ));
                }
                let group = groups
                    .entry(join.group_id.clone())
                    .or_insert_with(|| Group::new(&join.group_id, ctx.clock.ms));
                let answer = join_group(group, &join, ctx);
                if created
                    && group.members.is_empty()
                    && group.pending.is_empty()
                    && group.offsets.is_empty()
                {
                    groups.remove(&join.group_id);
                }
                answer
            },
            |shard, _, answer, stored| match answer {
                Answer::Durable(outcome, revert) if !stored => {
                    tracing::error!(group = %join.group_id, "storing the static member replacement failed; undone");
                    if let Some(group) = shard.groups.get_mut(&join.group_id) {
                        revert.undo(group);
                    }
                    Answer::Now(JoinOutcome::error(
                        codes::COORDINATOR_NOT_AVAILABLE,
                        &outcome.member_id,
                    ))
                }
                answer => answer,
            },
        );
        result.unwrap_or_else(|code| Answer::Now(JoinOutcome::error(code, &join.member_id)))
    }
}

fn join_group(group: &mut Group, join: &Join, ctx: &mut Ctx<'_>) -> Answer {
    if group.state == GroupState::Dead {
        return Answer::Now(JoinOutcome::error(
            codes::COORDINATOR_NOT_AVAILABLE,
            &join.member_id,
        ));
    }
    if !group.supports(&join.protocol_type, &join.protocols) {
        return Answer::Now(JoinOutcome::error(
            codes::INCONSISTENT_GROUP_PROTOCOL,
            &join.member_id,
        ));
    }
    if join.member_id.is_empty() {
        join_unknown_member(group, join, ctx)
    } else {
        join_known_member(group, join, ctx)
    }
}

fn join_unknown_member(group: &mut Group, join: &Join, ctx: &mut Ctx<'_>) -> Answer {
    if let Some(instance) = &join.instance_id {
        if let Some(old_id) = group.static_members.get(instance).cloned() {
            return replace_static_member(group, join, &old_id, ctx);
        }
        return add_member_and_rebalance(group, join, crate::limits::new_member_id(instance), ctx);
    }
    let id = crate::limits::new_member_id(&join.client_id);
    if join.version >= 4 {
        let deadline = ctx.clock.after_ms(i64::from(join.session_timeout_ms));
        group.pending.insert(id.clone(), deadline);
        tracing::debug!(group = %group.id, member = %id, "new member: MEMBER_ID_REQUIRED");
        return Answer::Now(JoinOutcome::error(codes::MEMBER_ID_REQUIRED, &id));
    }
    add_member_and_rebalance(group, join, id, ctx)
}

fn join_known_member(group: &mut Group, join: &Join, ctx: &mut Ctx<'_>) -> Answer {
    let id = join.member_id.as_str();
    if join.instance_id.is_none() && group.pending.contains_key(id) {
        return add_member_and_rebalance(group, join, id.to_string(), ctx);
    }
    if group.is_static_fenced(join.instance_id.as_deref(), id) {
        return Answer::Now(JoinOutcome::error(codes::FENCED_INSTANCE_ID, id));
    }
    let Some(member) = group.member(id) else {
        return Answer::Now(JoinOutcome::error(codes::UNKNOWN_MEMBER_ID, id));
    };
    let unchanged = member.matches(&join.protocols);
    match group.state {
        GroupState::PreparingRebalance => update_member_and_rebalance(group, join, ctx),
        GroupState::CompletingRebalance if unchanged => {
            touch(group, id, ctx);
            Answer::Now(group.join_outcome_for(id))
        }
        GroupState::Stable if unchanged && !group.is_leader(id) => {
            touch(group, id, ctx);
            Answer::Now(group.join_outcome_for(id))
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member_and_rebalance(group, join, ctx)
        }
        GroupState::Empty | GroupState::Dead => {
            Answer::Now(JoinOutcome::error(codes::UNKNOWN_MEMBER_ID, id))
        }
    }
}

fn touch(group: &mut Group, id: &str, ctx: &Ctx<'_>) {
    if let Some(m) = group.member_mut(id) {
        m.touch(ctx.clock.now);
    }
}

fn add_member_and_rebalance(
    group: &mut Group,
    join: &Join,
    id: String,
    ctx: &mut Ctx<'_>,
) -> Answer {
    let (tx, rx) = oneshot::channel();
    let mut member = Member {
        id: id.clone(),
        instance_id: join.instance_id.clone(),
        client_id: join.client_id.clone(),
        client_host: join.client_host.clone(),
        rebalance_timeout_ms: join.rebalance_timeout_ms,
        session_timeout_ms: join.session_timeout_ms,
        protocols: join.protocols.clone(),
        assignment: Bytes::new(),
        awaiting_join: Some(tx),
        awaiting_sync: None,
        session_deadline: ctx.clock.now,
    };
    member.touch(ctx.clock.now);
    if group.state == GroupState::PreparingRebalance && group.generation == 0 {
        group.new_member_added = true;
    }
    if let Some(instance) = &join.instance_id {
        group.static_members.insert(instance.clone(), id.clone());
    }
    group.pending.remove(&id);
    if group.members.is_empty() {
        group.protocol_type = Some(join.protocol_type.clone());
    }
    group.members.push(member);
    if group.leader.is_none() {
        group.leader = Some(id.clone());
    }
    tracing::info!(group = %group.id, member = %id, client = %join.client_id, "member joined");
    group.maybe_prepare_rebalance(ctx, "a member joined");
    group.try_complete_join(ctx);
    Answer::Parked(rx)
}

fn update_member_and_rebalance(group: &mut Group, join: &Join, ctx: &mut Ctx<'_>) -> Answer {
    let (tx, rx) = oneshot::channel();
    let id = join.member_id.as_str();
    if let Some(m) = group.member_mut(id) {
        m.protocols = join.protocols.clone();
        m.rebalance_timeout_ms = join.rebalance_timeout_ms;
        m.session_timeout_ms = join.session_timeout_ms;
        m.answer_join(JoinOutcome::error(codes::REBALANCE_IN_PROGRESS, id));
        m.awaiting_join = Some(tx);
        m.touch(ctx.clock.now);
    }
    group.maybe_prepare_rebalance(ctx, "a member rejoined");
    group.try_complete_join(ctx);
    Answer::Parked(rx)
}

/// Kafka `updateStaticMemberThenRebalanceOrCompleteJoin`.
fn replace_static_member(
    group: &mut Group,
    join: &Join,
    old_id: &str,
    ctx: &mut Ctx<'_>,
) -> Answer {
    let instance = join.instance_id.clone().unwrap_or_default();
    let new_id = crate::limits::new_member_id(&instance);
    let Some(member) = group.member_mut(old_id) else {
        return add_member_and_rebalance(group, join, new_id, ctx);
    };
    let previous = StaticRevert {
        instance: instance.clone(),
        old_id: old_id.to_string(),
        new_id: new_id.clone(),
        protocols: member.protocols.clone(),
        client_id: member.client_id.clone(),
        client_host: member.client_host.clone(),
        rebalance_timeout_ms: member.rebalance_timeout_ms,
        session_timeout_ms: member.session_timeout_ms,
        was_leader: false,
        was_pending_sync: false,
    };
    member.answer_join(JoinOutcome::error(codes::FENCED_INSTANCE_ID, old_id));
    member.answer_sync(crate::member::SyncOutcome::error(codes::FENCED_INSTANCE_ID));
    member.id = new_id.clone();
    member.protocols = join.protocols.clone();
    member.client_id = join.client_id.clone();
    member.client_host = join.client_host.clone();
    member.rebalance_timeout_ms = join.rebalance_timeout_ms;
    member.session_timeout_ms = join.session_timeout_ms;
    member.touch(ctx.clock.now);
    group
        .static_members
        .insert(instance.clone(), new_id.clone());
    let was_leader = group.is_leader(old_id);
    if was_leader {
        group.leader = Some(new_id.clone());
    }
    let was_pending_sync = group.pending_sync.remove(old_id);
    if was_pending_sync {
        group.pending_sync.insert(new_id.clone());
    }
    let previous = StaticRevert {
        was_leader,
        was_pending_sync,
        ..previous
    };
    tracing::info!(group = %group.id, instance = %instance, old = %old_id, new = %new_id, "static member rejoined with a new member id");
    let (tx, rx) = oneshot::channel();
    match group.state {
        GroupState::Stable if group.select_protocol() == group.protocol_name => {
            group.persist(ctx);
            let mut outcome = group.join_outcome_for(&new_id);
            outcome.skip_assignment = group.is_leader(&new_id) && join.version >= 9;
            Answer::Durable(outcome, Box::new(previous))
        }
        GroupState::Stable | GroupState::CompletingRebalance | GroupState::PreparingRebalance => {
            if let Some(m) = group.member_mut(&new_id) {
                m.awaiting_join = Some(tx);
            }
            group.maybe_prepare_rebalance(ctx, "a static member rejoined with new protocols");
            group.try_complete_join(ctx);
            Answer::Parked(rx)
        }
        GroupState::Empty | GroupState::Dead => {
            Answer::Now(JoinOutcome::error(codes::UNKNOWN_MEMBER_ID, &new_id))
        }
    }
}

/// Encodes an outcome for `version`, setting only the fields that version has.
pub(crate) fn join_response(o: JoinOutcome, version: i16) -> JoinGroupResponse {
    let protocol_name = match (&o.protocol_name, version >= 7) {
        (Some(p), _) => Some(sb(p)),
        (None, true) => None,
        (None, false) => Some(StrBytes::default()),
    };
    let members = o
        .members
        .iter()
        .map(|(id, instance, metadata)| {
            JoinGroupResponseMember::default()
                .with_member_id(sb(id))
                .with_group_instance_id(if version >= 5 {
                    instance.as_deref().map(sb)
                } else {
                    None
                })
                .with_metadata(metadata.clone())
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(o.error)
        .with_generation_id(o.generation)
        .with_protocol_type(if version >= 7 {
            o.protocol_type.as_deref().map(sb)
        } else {
            None
        })
        .with_protocol_name(protocol_name)
        .with_leader(sb(&o.leader))
        .with_skip_assignment(version >= 9 && o.skip_assignment)
        .with_member_id(sb(&o.member_id))
        .with_members(members)
}
