//! One classic group: its state, members, generation and committed offsets.
//!
//! States (Kafka's `ClassicGroupState`) and the transitions `rebalance.rs` makes:
//!
//! ```text
//!            first join              all joined / join deadline       leader's SyncGroup
//!   Empty ──────────────► Preparing ──────────────────────► Completing ──────────────► Stable
//!     ▲                   Rebalance ◄────────────────────── Rebalance ◄────────────────  │
//!     │                      │  member joins/leaves/expires,      member joins/leaves/   │
//!     │  join completes      │  protocol change                   expires, leader rejoins│
//!     └──────with no members─┘                                                           │
//!   Dead: deleted (DeleteGroups, or empty with every offset expired); removed from the map.
//! ```
//!
//! Invariants: `members` is in join order and the leader, when set, is one of them;
//! `static_members` maps each static member's instance id to its current member id; `pending`
//! holds v4+ member ids handed out with MEMBER_ID_REQUIRED that have not rejoined yet; the
//! generation only grows; offsets are keyed by `(topic, partition)`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use crate::format::{GroupValue, MemberValue, OffsetValue};
use crate::member::Member;

/// A group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be committed and kept).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment distributed; members heartbeat.
    Stable,
    /// Being removed.
    Dead,
}

impl GroupState {
    /// Kafka's name, as ListGroups and DescribeGroups report it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A classic group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    /// Wall-clock ms when the group entered `state`.
    pub(crate) state_since_ms: i64,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation: i32,
    pub(crate) leader: Option<String>,
    pub(crate) members: Vec<Member>,
    /// v4+ member ids awaiting their second JoinGroup, with their expiry.
    pub(crate) pending: HashMap<String, Instant>,
    pub(crate) static_members: HashMap<String, String>,
    pub(crate) offsets: BTreeMap<(String, i32), OffsetValue>,
    /// Transactional offsets (TxnOffsetCommit) stored but not yet resolved by their
    /// transaction's marker, per producer id.
    pub(crate) pending_txn: HashMap<i64, BTreeMap<(String, i32), OffsetValue>>,
    /// A member joined during the initial delay (extends it, up to the rebalance timeout).
    pub(crate) new_member_added: bool,
    /// When PreparingRebalance gives up waiting for members.
    pub(crate) join_deadline: Option<Instant>,
    /// Some while the first rebalance of an empty group is delayed: the remaining extension.
    pub(crate) initial_delay_remaining_ms: Option<i64>,
    /// When members that have not sent SyncGroup are removed.
    pub(crate) sync_deadline: Option<Instant>,
    pub(crate) pending_sync: BTreeSet<String>,
}

impl Group {
    pub(crate) fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_since_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            offsets: BTreeMap::new(),
            pending_txn: HashMap::new(),
            new_member_added: false,
            join_deadline: None,
            initial_delay_remaining_ms: None,
            sync_deadline: None,
            pending_sync: BTreeSet::new(),
        }
    }

    /// True if a transaction has stored but not resolved an offset for `(topic, partition)`.
    pub(crate) fn has_pending_txn_offset(&self, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.pending_txn.values().any(|o| o.contains_key(&key))
    }

    /// Resolves producer `producer_id`'s pending offsets: applied on commit, dropped on abort.
    pub(crate) fn complete_txn(&mut self, producer_id: i64, commit: bool) {
        if let Some(offsets) = self.pending_txn.remove(&producer_id) {
            if commit {
                self.offsets.extend(offsets);
            }
        }
    }

    pub(crate) fn set_state(&mut self, state: GroupState, now_ms: i64) {
        if self.state != state {
            tracing::debug!(group = %self.id, from = self.state.name(), to = state.name(), generation = self.generation, "group state");
        }
        self.state = state;
        self.state_since_ms = now_ms;
    }

    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub(crate) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub(crate) fn has(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    pub(crate) fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// Kafka `isStaticMemberFenced`: the instance id is known and maps to another member id.
    pub(crate) fn is_static_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    /// Protocols every member supports, in the first member's order.
    pub(crate) fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.first() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n))
            })
            .collect()
    }

    /// Kafka `supportsProtocols`: an empty group takes any non-empty protocol list; otherwise the
    /// type must match and at least one protocol must be supported by every member.
    pub(crate) fn supports(
        &self,
        protocol_type: &str,
        protocols: &[(String, bytes::Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(p, _)| candidates.contains(p))
    }

    /// Kafka `selectProtocol`: each member votes for its first candidate; most votes wins
    /// (ties go to the earlier candidate in the first member's order).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for m in &self.members {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(p, _)| candidates.iter().position(|c| c == p))
            {
                votes[i] += 1;
            }
        }
        let mut best: Option<usize> = None;
        for (i, v) in votes.iter().enumerate() {
            if best.is_none_or(|b| *v > votes[b]) {
                best = Some(i);
            }
        }
        best.map(|i| candidates[i].clone())
    }

    /// Every member has a parked JoinGroup and no v4+ member is still expected.
    pub(crate) fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    /// Largest rebalance timeout of the members (the join phase waits this long at most).
    pub(crate) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .iter()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// The group as stored in `__consumer_offsets`.
    pub(crate) fn to_value(&self) -> GroupValue {
        let protocol = self.protocol_name.clone();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_since_ms,
            members: self
                .members
                .iter()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol
                        .as_deref()
                        .map(|p| m.metadata(p).to_vec())
                        .unwrap_or_default(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }
}
