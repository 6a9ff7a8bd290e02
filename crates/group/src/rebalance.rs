//! The rebalance transitions of a group (Kafka's `GroupCoordinator` classic paths):
//! preparing a rebalance, completing the join phase, removing members.
//!
//! Join phase: `prepare_rebalance` enters PreparingRebalance with a deadline — the largest
//! member rebalance timeout, or for an Empty group the initial delay
//! (`group.initial.rebalance.delay.ms`), extended by another delay while new members keep
//! arriving, up to the rebalance timeout. The phase completes as soon as every member has a
//! parked JoinGroup (and no MEMBER_ID_REQUIRED id is outstanding) — except during the initial
//! delay, which always runs out — or at the deadline, when members that did not rejoin are
//! removed. Completion bumps the generation, selects the protocol, keeps or picks the leader,
//! answers every parked JoinGroup (the leader's answer lists the members) and enters
//! CompletingRebalance with a sync deadline; with no members left the group becomes Empty and
//! that is stored.

use crate::codes;
use crate::coordinator::Clock;
use crate::group::{Group, GroupState};
use crate::member::{JoinOutcome, Member, SyncOutcome};
use crate::storage::Journal;
use crate::GroupConfig;

/// What transitions need besides the group.
pub(crate) struct Ctx<'a> {
    /// Records to write once the state lock is released (see `coordinator.rs`).
    pub(crate) journal: &'a mut Journal,
    pub(crate) config: &'a GroupConfig,
    pub(crate) clock: Clock,
}

impl Group {
    /// Queues the group's metadata record; it is appended and fsynced after the state lock is
    /// released, and the caller's settle step learns whether that worked.
    pub(crate) fn persist(&self, ctx: &mut Ctx<'_>) {
        match crate::format::encode_group_value(&self.to_value()) {
            Ok(value) => {
                let key = crate::format::RecordKey::Group {
                    group: self.id.clone(),
                };
                ctx.journal.push(vec![(key, Some(value))]);
            }
            Err(e) => {
                tracing::error!(group = %self.id, error = %e, "the group record cannot be stored");
                ctx.journal.refuse(e);
            }
        }
    }

    /// The JoinGroup answer for `member_id` at the current generation (members for the leader).
    pub(crate) fn join_outcome_for(&self, member_id: &str) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if self.is_leader(member_id) {
            self.members
                .iter()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: codes::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members,
        }
    }

    /// Starts a rebalance if the state allows one (Kafka `maybePrepareRebalance`).
    pub(crate) fn maybe_prepare_rebalance(&mut self, ctx: &mut Ctx<'_>, reason: &str) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(ctx, reason);
        }
    }

    /// Enters PreparingRebalance; see the module docs.
    pub(crate) fn prepare_rebalance(&mut self, ctx: &mut Ctx<'_>, reason: &str) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = bytes::Bytes::new();
                m.answer_sync(SyncOutcome::error(codes::REBALANCE_IN_PROGRESS));
            }
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let timeout = self.rebalance_timeout_ms();
        let delay = ctx.config.initial_rebalance_delay_ms;
        if self.state == GroupState::Empty && delay > 0 {
            self.join_deadline = Some(ctx.clock.after_ms(delay));
            self.initial_delay_remaining_ms = Some((timeout - delay).max(0));
        } else {
            self.join_deadline = Some(ctx.clock.after_ms(timeout));
            self.initial_delay_remaining_ms = None;
        }
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), reason, "preparing to rebalance");
        crate::metrics::rebalance_started(&self.id);
        self.set_state(GroupState::PreparingRebalance, ctx.clock.ms);
        self.try_complete_join(ctx);
    }

    /// Completes the join phase if every member has rejoined (never during the initial delay).
    pub(crate) fn try_complete_join(&mut self, ctx: &mut Ctx<'_>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay_remaining_ms.is_none()
            && self.all_joined()
        {
            self.complete_join(ctx);
        }
    }

    /// The join deadline passed: extend the initial delay or complete the join phase.
    pub(crate) fn on_join_deadline(&mut self, ctx: &mut Ctx<'_>) {
        self.join_deadline = None;
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(remaining) = self.initial_delay_remaining_ms {
            if self.new_member_added && remaining > 0 {
                self.new_member_added = false;
                let delay = ctx.config.initial_rebalance_delay_ms.min(remaining);
                self.initial_delay_remaining_ms = Some(remaining - delay);
                self.join_deadline = Some(ctx.clock.after_ms(delay));
                return;
            }
        }
        self.complete_join(ctx);
    }

    /// Ends the join phase; see the module docs.
    pub(crate) fn complete_join(&mut self, ctx: &mut Ctx<'_>) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time; removed");
            self.detach_member(&id, codes::UNKNOWN_MEMBER_ID);
        }
        self.join_deadline = None;
        self.initial_delay_remaining_ms = None;
        self.new_member_added = false;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.set_state(GroupState::Empty, ctx.clock.ms);
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            self.persist(ctx);
            return;
        }
        self.protocol_name = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.has(l)) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.set_state(GroupState::CompletingRebalance, ctx.clock.ms);
        self.pending_sync = self.members.iter().map(|m| m.id.clone()).collect();
        self.sync_deadline = Some(ctx.clock.after_ms(self.rebalance_timeout_ms()));
        tracing::info!(
            group = %self.id,
            generation = self.generation,
            protocol = self.protocol_name.as_deref().unwrap_or(""),
            leader = self.leader.as_deref().unwrap_or(""),
            members = self.members.len(),
            "join phase complete"
        );
        let outcomes: Vec<(String, JoinOutcome)> = self
            .members
            .iter()
            .map(|m| (m.id.clone(), self.join_outcome_for(&m.id)))
            .collect();
        for (id, outcome) in outcomes {
            if let Some(m) = self.member_mut(&id) {
                m.answer_join(outcome);
                m.touch(ctx.clock.now);
            }
        }
    }

    /// Removes a member without changing the group's state: answers its parked requests with
    /// `code`, drops its static mapping, and moves leadership if needed.
    pub(crate) fn detach_member(&mut self, id: &str, code: i16) -> Option<Member> {
        let index = self.members.iter().position(|m| m.id == id)?;
        let mut member = self.members.remove(index);
        member.answer_join(JoinOutcome::error(code, id));
        member.answer_sync(SyncOutcome::error(code));
        if let Some(instance) = &member.instance_id {
            if self.static_members.get(instance).is_some_and(|m| m == id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(id);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        Some(member)
    }

    /// Removes a member and reacts (Kafka `removeMemberAndUpdateGroup`).
    pub(crate) fn remove_member(&mut self, id: &str, ctx: &mut Ctx<'_>, reason: &str) {
        if self.detach_member(id, codes::UNKNOWN_MEMBER_ID).is_none() {
            return;
        }
        tracing::info!(group = %self.id, member = %id, reason, "member removed");
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(ctx, reason)
            }
            GroupState::PreparingRebalance => self.try_complete_join(ctx),
        }
    }

    /// Removes a pending (MEMBER_ID_REQUIRED) member id.
    pub(crate) fn remove_pending(&mut self, id: &str, ctx: &mut Ctx<'_>) -> bool {
        if self.pending.remove(id).is_none() {
            return false;
        }
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(ctx);
        }
        true
    }
}
