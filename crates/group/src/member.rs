//! A group member and the parked replies it may be waiting for.
//!
//! Invariants: a member has at most one parked JoinGroup and one parked SyncGroup reply; a
//! parked reply is always answered (sent, or dropped with the member, which the waiting handler
//! turns into an error); while a reply is parked the member's session does not expire (Kafka's
//! `shouldKeepAlive`), and its session deadline is reset when the reply is sent.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

/// What a parked (or immediate) JoinGroup gets.
#[derive(Debug, Clone, Default)]
pub(crate) struct JoinOutcome {
    pub(crate) error: i16,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    pub(crate) skip_assignment: bool,
    /// `(member id, group instance id, metadata)`; only the leader gets them.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    pub(crate) fn error(code: i16, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error: code,
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinOutcome::default()
        }
    }
}

/// What a parked (or immediate) SyncGroup gets.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncOutcome {
    pub(crate) error: i16,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncOutcome {
    pub(crate) fn error(code: i16) -> SyncOutcome {
        SyncOutcome {
            error: code,
            ..SyncOutcome::default()
        }
    }
}

/// One member of a classic group.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    /// `(assignor name, subscription metadata)` in the member's preference order.
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    pub(crate) awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    pub(crate) awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
    pub(crate) session_deadline: Instant,
}

impl Member {
    /// The member's metadata for `protocol`, empty if it does not support it.
    pub(crate) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// True if `protocols` are exactly the member's current ones (Kafka `MemberMetadata.matches`).
    pub(crate) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Pushes the session deadline to `now + session timeout`.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.session_deadline = now + Duration::from_millis(self.session_timeout_ms.max(0) as u64);
    }

    /// True while a JoinGroup or SyncGroup reply is parked (the session cannot expire then).
    pub(crate) fn is_parked(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }

    /// Answers a parked JoinGroup, if any.
    pub(crate) fn answer_join(&mut self, outcome: JoinOutcome) {
        if let Some(tx) = self.awaiting_join.take() {
            // The receiver is gone only if the client disconnected; nothing to tell then.
            let _ = tx.send(outcome);
        }
    }

    /// Answers a parked SyncGroup, if any.
    pub(crate) fn answer_sync(&mut self, outcome: SyncOutcome) {
        if let Some(tx) = self.awaiting_sync.take() {
            let _ = tx.send(outcome);
        }
    }
}
