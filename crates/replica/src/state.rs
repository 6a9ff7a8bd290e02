//! A partition's replica state: its role, leader epoch, replica set, in-sync replicas and, on
//! the leader, each follower's progress.
//!
//! Invariants:
//! - the leader epoch only grows;
//! - the ISR is a subset of the replicas and, on the leader, contains this broker;
//! - on a single node the state is `Leader`, epoch [`INITIAL_LEADER_EPOCH`], replicas and ISR
//!   `[this node]`, until the metadata quorum (issue 8) assigns it.

use std::collections::BTreeMap;

/// The leader epoch a partition starts with (Kafka's first epoch).
pub const INITIAL_LEADER_EPOCH: i32 = 0;

/// Leader or follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This broker leads the partition: it takes produce requests and sets the high watermark.
    Leader,
    /// This broker copies the partition from `leader`.
    Follower {
        /// The leader's broker id.
        leader: i32,
    },
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FollowerProgress {
    /// The follower's log end offset, as its last fetch reported (durable there when
    /// `strata.replica.fsync` is on).
    pub log_end: i64,
    /// When the follower last reached the leader's log end (for `replica.lag.time.max.ms`).
    pub last_caught_up_ms: i64,
}

/// A partition's replica state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// This broker's node id.
    pub node: i32,
    /// Leader or follower.
    pub role: Role,
    /// The current leader epoch.
    pub leader_epoch: i32,
    /// Every replica's broker id, preferred leader first.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// On the leader: each follower's progress, by broker id.
    pub followers: BTreeMap<i32, FollowerProgress>,
    /// The partition epoch of the metadata this state came from (ISR changes name it).
    pub partition_epoch: i32,
}

impl ReplicaState {
    /// The state of a partition that only `node` hosts: its leader, at the initial epoch.
    pub fn single_node(node: i32) -> ReplicaState {
        ReplicaState {
            node,
            role: Role::Leader,
            leader_epoch: INITIAL_LEADER_EPOCH,
            replicas: vec![node],
            isr: vec![node],
            followers: BTreeMap::new(),
            partition_epoch: 0,
        }
    }

    /// The state metadata gives `node` for a partition led by `leader`.
    pub fn from_metadata(
        node: i32,
        replicas: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
        partition_epoch: i32,
    ) -> ReplicaState {
        ReplicaState {
            node,
            role: if leader == node {
                Role::Leader
            } else {
                Role::Follower { leader }
            },
            leader_epoch,
            replicas,
            isr,
            followers: BTreeMap::new(),
            partition_epoch,
        }
    }

    /// True if this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// Number of in-sync replicas (what acks=all and `min.insync.replicas` count).
    pub fn isr_size(&self) -> i32 {
        i32::try_from(self.isr.len()).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_partition_leads_with_itself_in_sync() {
        let s = ReplicaState::single_node(3);
        assert!(s.is_leader());
        assert_eq!((s.leader_epoch, s.isr_size()), (0, 1));
        assert_eq!(
            (s.replicas.as_slice(), s.isr.as_slice()),
            (&[3][..], &[3][..])
        );
    }
}
