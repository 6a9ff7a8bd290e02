//! Leader election as the quorum plans it (Kafka's KRaft controller rules), as pure functions
//! of the image: what fencing or unfencing a broker changes in every partition.
//!
//! Invariants:
//! - a new leader is taken from the ISR: the first replica, in assignment order, that is in the
//!   ISR and live;
//! - when no ISR member is live the partition has no leader (-1, offline) and keeps its last
//!   ISR, so the last in-sync replica leads again when it comes back — unless the topic sets
//!   `unclean.leader.election.enable=true` (default false, as Kafka): then the first live
//!   replica leads, alone in the ISR, accepting the loss of what it lacks;
//! - every change bumps the partition epoch; a leader change bumps the leader epoch, which
//!   fences the old leader (FENCED_LEADER_EPOCH, and its acks=all never complete);
//! - a fenced follower leaves the ISR, but the ISR never becomes empty.

use crate::record::{MetadataRecord, PartitionLeadership};
use crate::state::MetadataState;

/// The records that fence `node`: the fence itself, then a new leader (or none) for every
/// partition it led and a smaller ISR for every partition it followed in sync.
pub fn fence(state: &MetadataState, node: i32) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::BrokerFenced { node_id: node }];
    let live = |n: i32| n != node && state.is_live(n);
    for topic in state.topics.values() {
        for p in 0..topic.partitions {
            let current = state.leadership(topic, p);
            if !current.isr.contains(&node) && current.leader != node {
                continue;
            }
            let replicas = state.replicas(topic, p);
            let mut next = current.clone();
            if current.leader == node {
                let clean = replicas
                    .iter()
                    .copied()
                    .find(|r| current.isr.contains(r) && live(*r));
                let unclean = || {
                    unclean_allowed(topic)
                        .then(|| replicas.iter().copied().find(|r| live(*r)))
                        .flatten()
                };
                match (clean, unclean()) {
                    (Some(l), _) => next.leader = l,
                    (None, Some(l)) => {
                        next.leader = l;
                        next.isr = vec![l];
                    }
                    (None, None) => next.leader = -1,
                }
                next.leader_epoch += 1;
            }
            if next.leader >= 0 {
                next.isr.retain(|&r| r != node);
            }
            if next == current {
                continue;
            }
            next.partition_epoch += 1;
            records.push(changed(&topic.topic_id, p, next));
        }
    }
    records
}

/// The records that bring `node` back: the unfence, then leadership for every partition left
/// without a leader whose ISR names it.
pub fn unfence(state: &MetadataState, node: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    if state.fenced.contains(&node) {
        records.push(MetadataRecord::BrokerUnfenced { node_id: node });
    }
    for topic in state.topics.values() {
        for p in 0..topic.partitions {
            let current = state.leadership(topic, p);
            if current.leader >= 0 {
                continue;
            }
            let in_sync = current.isr.contains(&node);
            let unclean =
                !in_sync && unclean_allowed(topic) && state.replicas(topic, p).contains(&node);
            if !in_sync && !unclean {
                continue;
            }
            let next = PartitionLeadership {
                leader: node,
                leader_epoch: current.leader_epoch + 1,
                isr: if in_sync {
                    current.isr.clone()
                } else {
                    vec![node]
                },
                partition_epoch: current.partition_epoch + 1,
            };
            records.push(changed(&topic.topic_id, p, next));
        }
    }
    records
}

/// Preferred-leader election: each named partition (every partition when `only` is `None`)
/// whose first replica is live and in the ISR but does not lead gets it as leader, with a
/// higher leader epoch (Kafka's ElectLeaders PREFERRED, and `auto.leader.rebalance.enable`).
pub fn elect_preferred(
    state: &MetadataState,
    only: Option<&[(String, i32)]>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in state.topics.values() {
        for p in 0..topic.partitions {
            if only.is_some_and(|o| !o.iter().any(|(t, q)| t == &topic.name && *q == p)) {
                continue;
            }
            let current = state.leadership(topic, p);
            let Some(&preferred) = state.replicas(topic, p).first() else {
                continue;
            };
            if current.leader == preferred
                || !current.isr.contains(&preferred)
                || !state.is_live(preferred)
            {
                continue;
            }
            let next = PartitionLeadership {
                leader: preferred,
                leader_epoch: current.leader_epoch + 1,
                isr: current.isr.clone(),
                partition_epoch: current.partition_epoch + 1,
            };
            records.push(changed(&topic.topic_id, p, next));
        }
    }
    records
}

/// The controller's `unclean.leader.election.enable` (its static broker config), for topics
/// that do not set it: the planner runs in the process of the quorum leader, whose broker
/// sets it once at start ([`set_unclean_leader_election_default`]). False until then.
static UNCLEAN_DEFAULT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets this process's broker-level `unclean.leader.election.enable` (see [`UNCLEAN_DEFAULT`]).
pub fn set_unclean_leader_election_default(enabled: bool) {
    UNCLEAN_DEFAULT.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// The topic allows electing an out-of-sync replica (`unclean.leader.election.enable`: the
/// topic's override, else the broker-level default).
pub(crate) fn unclean_allowed(topic: &crate::state::TopicMeta) -> bool {
    match topic.configs.get("unclean.leader.election.enable") {
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
        None => UNCLEAN_DEFAULT.load(std::sync::atomic::Ordering::Relaxed),
    }
}

pub(crate) fn changed(
    topic_id: &str,
    partition: i32,
    leadership: PartitionLeadership,
) -> MetadataRecord {
    MetadataRecord::PartitionChanged {
        topic_id: topic_id.to_string(),
        partition,
        leadership,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ops::{plan, Operation};
    use crate::record::BrokerRegistration;

    fn cluster() -> MetadataState {
        let mut s = MetadataState::default();
        for n in 1..=3 {
            s.apply(&MetadataRecord::BrokerRegistered(BrokerRegistration {
                node_id: n,
                host: "h".into(),
                port: 9000 + n,
                rack: None,
                endpoints: Vec::new(),
            }));
        }
        let (records, _) = plan(
            &s,
            &Operation::CreateTopic {
                name: "t".into(),
                topic_id: "id".into(),
                partitions: 3,
                replication_factor: 3,
                configs: BTreeMap::new(),
                validate_only: false,
            },
        )
        .unwrap();
        for r in &records {
            s.apply(r);
        }
        s
    }

    fn lead(s: &MetadataState, p: i32) -> PartitionLeadership {
        s.leadership(s.topic("t").unwrap(), p)
    }

    fn apply(s: &mut MetadataState, records: &[MetadataRecord]) {
        for r in records {
            s.apply(r);
        }
    }

    #[test]
    fn fencing_moves_leadership_within_the_isr_and_unfencing_does_not_steal_it() {
        let mut s = cluster();
        let led_by_1: Vec<i32> = (0..3).filter(|&p| lead(&s, p).leader == 1).collect();
        assert_eq!(led_by_1.len(), 1);
        let p = led_by_1[0];
        let before = lead(&s, p);
        let r = fence(&s, 1);
        apply(&mut s, &r);
        let after = lead(&s, p);
        assert_ne!(after.leader, 1);
        assert!(before.isr.contains(&after.leader));
        assert_eq!(after.leader_epoch, before.leader_epoch + 1);
        assert_eq!(after.partition_epoch, before.partition_epoch + 1);
        assert!(!after.isr.contains(&1));
        // Node 1 is out of every ISR, and its return changes no leader.
        for q in 0..3 {
            assert!(!lead(&s, q).isr.contains(&1));
        }
        let r = unfence(&s, 1);
        apply(&mut s, &r);
        assert!(!s.fenced.contains(&1));
        assert_eq!(lead(&s, p).leader, after.leader);
    }

    #[test]
    fn unclean_election_only_when_the_topic_allows_it() {
        let mut s = cluster();
        let t = s.topic("t").unwrap().clone();
        let mut configs = t.configs.clone();
        configs.insert("unclean.leader.election.enable".into(), "true".into());
        s.apply(&MetadataRecord::TopicConfigsReplaced {
            topic_id: t.topic_id.clone(),
            configs,
        });
        // Fence two nodes: every partition is led by the third, alone in sync.
        for n in [2, 3] {
            let r = fence(&s, n);
            apply(&mut s, &r);
        }
        let r = unfence(&s, 2);
        apply(&mut s, &r);
        // Node 1 (the only ISR member) dies; node 2, out of sync but live, is elected.
        let r = fence(&s, 1);
        apply(&mut s, &r);
        for p in 0..3 {
            let l = lead(&s, p);
            assert_eq!((l.leader, l.isr.clone()), (2, vec![2]), "p{p}: {l:?}");
        }
    }

    /// The broker-level default applies to topics without an override, and a topic's `false`
    /// overrides a `true` default. (The default is process-wide: nextest runs each test in its
    /// own process.)
    #[test]
    fn the_broker_default_allows_unclean_election_unless_the_topic_refuses() {
        set_unclean_leader_election_default(true);
        let mut s = cluster();
        for n in [2, 3] {
            let r = fence(&s, n);
            apply(&mut s, &r);
        }
        let r = unfence(&s, 2);
        apply(&mut s, &r);
        let mut refusing = s.clone();
        let t = refusing.topic("t").unwrap().clone();
        let mut configs = t.configs.clone();
        configs.insert("unclean.leader.election.enable".into(), "false".into());
        refusing.apply(&MetadataRecord::TopicConfigsReplaced {
            topic_id: t.topic_id.clone(),
            configs,
        });
        let r = fence(&s, 1);
        apply(&mut s, &r);
        let r = fence(&refusing, 1);
        apply(&mut refusing, &r);
        set_unclean_leader_election_default(false);
        for p in 0..3 {
            let l = lead(&s, p);
            assert_eq!(
                (l.leader, l.isr.clone()),
                (2, vec![2]),
                "default: p{p}: {l:?}"
            );
            assert_eq!(lead(&refusing, p).leader, -1, "topic false: p{p}");
        }
    }

    #[test]
    fn preferred_election_gives_leadership_back_once_in_sync() {
        let mut s = cluster();
        let p = (0..3).find(|&p| lead(&s, p).leader == 1).unwrap();
        let r = fence(&s, 1);
        apply(&mut s, &r);
        let r = unfence(&s, 1);
        apply(&mut s, &r);
        // Node 1 is back but not in sync: no election.
        assert!(elect_preferred(&s, None).is_empty());
        let mut l = lead(&s, p);
        l.isr.push(1);
        l.partition_epoch += 1;
        apply(&mut s, &[changed("id", p, l.clone())]);
        let r = elect_preferred(&s, Some(&[("t".to_string(), p)]));
        assert_eq!(r.len(), 1);
        apply(&mut s, &r);
        let after = lead(&s, p);
        assert_eq!(after.leader, 1);
        assert_eq!(after.leader_epoch, l.leader_epoch + 1);
        assert!(elect_preferred(&s, None).is_empty(), "idempotent");
    }

    #[test]
    fn no_unclean_election_the_last_isr_member_leads_again() {
        let mut s = cluster();
        for n in [2, 3, 1] {
            let r = fence(&s, n);
            apply(&mut s, &r);
        }
        let mut last = Vec::new();
        for p in 0..3 {
            let l = lead(&s, p);
            assert_eq!(
                l.leader, -1,
                "p{p}: offline, never an out-of-sync leader: {l:?} {:?}",
                s.fenced
            );
            assert_eq!(l.isr.len(), 1, "p{p}: the last ISR member is kept");
            last.push(l.isr[0]);
        }
        // An out-of-sync replica coming back does not lead; the last in-sync one does.
        for p in 0..3 {
            let other = [1, 2, 3]
                .into_iter()
                .find(|n| *n != last[p as usize])
                .unwrap();
            let mut probe = s.clone();
            let r = unfence(&probe, other);
            apply(&mut probe, &r);
            assert_eq!(lead(&probe, p).leader, -1);
            let r = unfence(&probe, last[p as usize]);
            apply(&mut probe, &r);
            assert_eq!(lead(&probe, p).leader, last[p as usize]);
        }
    }
}
