//! Partition reassignment (Kafka's KIP-455, as the KRaft controller runs it), as pure functions
//! of the image: starting, replacing, completing and cancelling the move of one partition's
//! replicas to a new set.
//!
//! A reassignment of a partition from replicas `O` to the target `R`:
//!
//! 1. **Start** (AlterPartitionReassignments, [`crate::Operation::ReassignPartition`]): the
//!    image records the reassignment (`original` O, `target` R) and the replicas become
//!    `R ++ (O − R)`, so both sets are hosted; adding = R − O, removing = replicas − R. Leader
//!    and ISR stay as they are; the partition epoch grows. The brokers of R − O open the
//!    partition (the reconciler follows `is_replica`) and copy it from the leader through the
//!    normal follower fetch path, from offset 0.
//! 2. **Catch-up:** the leader's ISR upkeep (`isr_manager.rs`) adds each new replica whose log
//!    reached the high watermark, with an ordinary AlterIsr.
//! 3. **Completion:** as soon as every target replica is in the ISR — planned together with the
//!    AlterIsr that made it so ([`isr_changed`]), or by the controller's periodic check
//!    ([`complete_ready`], `Operation::CompleteReassignments`) — the replicas become R (R[0]
//!    the preferred leader), the ISR becomes ISR ∩ R, and a leader outside R gives way to the
//!    first live replica of R in the ISR, with a higher leader epoch. The brokers no longer
//!    named stop hosting the partition and delete their copy (the reconciler).
//!
//! **Cancel** (null replicas in the request): the replicas go back to `original`, the ISR to
//! ISR ∩ original, and the leader is chosen the same way. When no original replica is in sync
//! the cancel is refused (INVALID_REPLICA_ASSIGNMENT) unless the topic allows unclean leader
//! election, as Kafka's `PartitionReassignmentRevert` does.
//!
//! Invariants:
//! - while a reassignment lasts, replicas ⊇ original ∪ target, so completing or cancelling only
//!   ever removes replicas, and the ISR (a subset of the replicas) keeps its members that stay;
//! - a new reassignment of a partition that is already moving replaces the target; `original`
//!   stays what it was before the first one, so a cancel returns there;
//! - a target already wholly in the ISR (a reorder, a shrink) completes at once, in one record;
//! - every record bumps the partition epoch (stale AlterIsr requests are refused); only a
//!   leader change bumps the leader epoch;
//! - the target must be non-empty, without duplicates, and name registered brokers only
//!   (INVALID_REPLICA_ASSIGNMENT); a fenced broker is accepted and catches up once back.

use crate::election::{changed, unclean_allowed};
use crate::error::{MetaError, MetaErrorKind};
use crate::record::{MetadataRecord, PartitionLeadership, Reassignment};
use crate::state::{MetadataState, TopicMeta};

/// The records that start, replace or (with `target` `None`) cancel the reassignment of
/// partition `partition` of topic `name`. No records: nothing to change (the partition already
/// has, or is already moving to, exactly `target`).
pub(crate) fn plan(
    state: &MetadataState,
    name: &str,
    partition: i32,
    target: Option<&[i32]>,
) -> Result<Vec<MetadataRecord>, MetaError> {
    let topic = state
        .topic(name)
        .filter(|t| (0..t.partitions).contains(&partition))
        .ok_or_else(|| {
            MetaError::new(
                MetaErrorKind::UnknownTopic,
                format!("Topic {name} or its partition {partition} does not exist."),
            )
        })?;
    let replicas = state.replicas(topic, partition);
    let current = state.leadership(topic, partition);
    let ongoing = state.reassignment(topic, partition);
    let Some(target) = target else {
        let Some(r) = ongoing else {
            return Err(MetaError::new(
                MetaErrorKind::NoReassignmentInProgress,
                format!("No ongoing reassignment for {name}-{partition}."),
            ));
        };
        return cancel(state, topic, partition, r, &current).map(|r| vec![r]);
    };
    validate_target(state, target)?;
    if ongoing.is_none() && replicas == target || ongoing.is_some_and(|r| r.target == target) {
        return Ok(Vec::new());
    }
    let original = ongoing.map_or_else(|| replicas.clone(), |r| r.original.clone());
    let reassignment = Reassignment {
        original,
        target: target.to_vec(),
    };
    if target.iter().all(|r| current.isr.contains(r)) {
        return Ok(vec![complete(
            state,
            topic,
            partition,
            &reassignment,
            &current,
        )]);
    }
    let mut next = target.to_vec();
    next.extend(replicas.iter().copied().filter(|r| !target.contains(r)));
    let leadership = PartitionLeadership {
        partition_epoch: current.partition_epoch + 1,
        ..current
    };
    Ok(vec![reassigned(
        topic,
        partition,
        next,
        Some(reassignment),
        leadership,
    )])
}

/// The record for an ISR change of partition `p` from `current` to `isr` (already validated):
/// the completion of its reassignment when that puts every target replica in sync, otherwise
/// a plain leadership change.
pub(crate) fn isr_changed(
    state: &MetadataState,
    topic: &TopicMeta,
    p: i32,
    current: &PartitionLeadership,
    isr: &[i32],
) -> MetadataRecord {
    let proposed = PartitionLeadership {
        isr: isr.to_vec(),
        ..current.clone()
    };
    match state.reassignment(topic, p) {
        Some(r) if r.target.iter().all(|t| isr.contains(t)) => {
            complete(state, topic, p, r, &proposed)
        }
        _ => changed(
            &topic.topic_id,
            p,
            PartitionLeadership {
                partition_epoch: current.partition_epoch + 1,
                ..proposed
            },
        ),
    }
}

/// The records that complete every ongoing reassignment whose target replicas are all in the
/// ISR (normally the AlterIsr that put the last one there completes it; this catches the rest,
/// e.g. an ISR changed by an unclean election).
pub fn complete_ready(state: &MetadataState) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (topic_id, parts) in &state.reassignments {
        let Some(topic) = state.topic_by_id(topic_id) else {
            continue;
        };
        for (&p, r) in parts {
            let current = state.leadership(topic, p);
            if r.target.iter().all(|t| current.isr.contains(t)) {
                records.push(complete(state, topic, p, r, &current));
            }
        }
    }
    records
}

/// One ongoing reassignment as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The current replicas: the target, then those leaving.
    pub replicas: Vec<i32>,
    /// Replicas being added (target − original).
    pub adding: Vec<i32>,
    /// Replicas being removed (replicas − target).
    pub removing: Vec<i32>,
}

/// Every ongoing reassignment, by topic name and partition.
pub fn ongoing(state: &MetadataState) -> Vec<Ongoing> {
    let mut out = Vec::new();
    for topic in state.topics.values() {
        let Some(parts) = state.reassignments.get(&topic.topic_id) else {
            continue;
        };
        for (&p, r) in parts {
            let replicas = state.replicas(topic, p);
            out.push(Ongoing {
                topic: topic.name.clone(),
                partition: p,
                removing: r.removing(&replicas),
                adding: r.adding(),
                replicas,
            });
        }
    }
    out
}

/// Completion: replicas = target, ISR = ISR ∩ target (in target order), the leader kept if it
/// stays, else elected from the target.
fn complete(
    state: &MetadataState,
    topic: &TopicMeta,
    p: i32,
    r: &Reassignment,
    base: &PartitionLeadership,
) -> MetadataRecord {
    let isr = in_order(&r.target, &base.isr);
    let leadership = settle(state, &r.target, isr, base);
    reassigned(topic, p, r.target.clone(), None, leadership)
}

/// Cancel: replicas = original, ISR = ISR ∩ original; refused when that leaves nobody in sync,
/// unless the topic allows an unclean election.
fn cancel(
    state: &MetadataState,
    topic: &TopicMeta,
    p: i32,
    r: &Reassignment,
    base: &PartitionLeadership,
) -> Result<MetadataRecord, MetaError> {
    let isr = in_order(&r.original, &base.isr);
    if !isr.is_empty() {
        let leadership = settle(state, &r.original, isr, base);
        return Ok(reassigned(topic, p, r.original.clone(), None, leadership));
    }
    let unclean = unclean_allowed(topic)
        .then(|| r.original.iter().copied().find(|&b| state.is_live(b)))
        .flatten();
    let Some(leader) = unclean else {
        return Err(MetaError::new(
            MetaErrorKind::InvalidReplicaAssignment,
            format!(
                "Cannot cancel the reassignment of {}-{p}: none of the original replicas {:?} is \
                 in sync, so reverting would need an unclean leader election.",
                topic.name, r.original
            ),
        ));
    };
    let leadership = PartitionLeadership {
        leader,
        leader_epoch: base.leader_epoch + 1,
        isr: vec![leader],
        partition_epoch: base.partition_epoch + 1,
    };
    Ok(reassigned(topic, p, r.original.clone(), None, leadership))
}

/// The leadership of a partition whose replicas become `replicas` and ISR `isr` (a non-empty
/// subset of them), from `base`: the leader stays if it is still a replica in sync; otherwise
/// the first live replica in the ISR leads (none: -1, offline) with a higher leader epoch.
fn settle(
    state: &MetadataState,
    replicas: &[i32],
    isr: Vec<i32>,
    base: &PartitionLeadership,
) -> PartitionLeadership {
    let stays = base.leader >= 0 && replicas.contains(&base.leader) && isr.contains(&base.leader);
    let (leader, leader_epoch) = if stays {
        (base.leader, base.leader_epoch)
    } else {
        let next = replicas
            .iter()
            .copied()
            .find(|r| isr.contains(r) && state.is_live(*r))
            .unwrap_or(-1);
        if next == base.leader {
            (next, base.leader_epoch)
        } else {
            (next, base.leader_epoch + 1)
        }
    };
    PartitionLeadership {
        leader,
        leader_epoch,
        isr,
        partition_epoch: base.partition_epoch + 1,
    }
}

/// The members of `set` that are in `order`, in `order`'s order.
fn in_order(order: &[i32], set: &[i32]) -> Vec<i32> {
    order.iter().copied().filter(|r| set.contains(r)).collect()
}

fn validate_target(state: &MetadataState, target: &[i32]) -> Result<(), MetaError> {
    let invalid = |msg: String| Err(MetaError::new(MetaErrorKind::InvalidReplicaAssignment, msg));
    if target.is_empty() {
        return invalid("The replica list is empty.".to_string());
    }
    for (i, b) in target.iter().enumerate() {
        if target[..i].contains(b) {
            return invalid(format!(
                "The replica list {target:?} names broker {b} twice."
            ));
        }
        if !state.brokers.contains_key(b) {
            return invalid(format!(
                "The replica list {target:?} names broker {b}, which is not registered."
            ));
        }
    }
    Ok(())
}

fn reassigned(
    topic: &TopicMeta,
    partition: i32,
    replicas: Vec<i32>,
    reassignment: Option<Reassignment>,
    leadership: PartitionLeadership,
) -> MetadataRecord {
    MetadataRecord::PartitionReassigned {
        topic_id: topic.topic_id.clone(),
        partition,
        replicas,
        reassignment,
        leadership,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ops::{plan as plan_op, Operation};
    use crate::record::BrokerRegistration;

    /// Brokers 1..=4; topic "t" (id "id") with 2 partitions of replication factor 2, each
    /// partition's replicas set to [1, 2] (leader 1, ISR [1, 2]).
    fn cluster() -> MetadataState {
        let mut s = MetadataState::default();
        for n in 1..=4 {
            s.apply(&MetadataRecord::BrokerRegistered(BrokerRegistration {
                node_id: n,
                host: "h".into(),
                port: 9000 + n,
                rack: None,
                endpoints: Vec::new(),
            }));
        }
        run(
            &mut s,
            Operation::CreateTopic {
                name: "t".into(),
                topic_id: "id".into(),
                partitions: 2,
                replication_factor: 2,
                configs: BTreeMap::new(),
                validate_only: false,
            },
        )
        .unwrap();
        for p in 0..2 {
            // Whatever round-robin chose, start from [1, 2] led by 1.
            let topic = s.topic("t").unwrap().clone();
            let l = s.leadership(&topic, p);
            s.apply(&MetadataRecord::PartitionReassigned {
                topic_id: "id".into(),
                partition: p,
                replicas: vec![1, 2],
                reassignment: None,
                leadership: PartitionLeadership {
                    leader: 1,
                    leader_epoch: l.leader_epoch,
                    isr: vec![1, 2],
                    partition_epoch: l.partition_epoch,
                },
            });
        }
        s
    }

    fn run(s: &mut MetadataState, op: Operation) -> Result<Vec<MetadataRecord>, MetaError> {
        let (records, _) = plan_op(s, &op)?;
        for r in &records {
            s.apply(r);
        }
        Ok(records)
    }

    fn reassign(s: &mut MetadataState, p: i32, target: Option<&[i32]>) -> Result<usize, MetaError> {
        run(
            s,
            Operation::ReassignPartition {
                topic: "t".into(),
                partition: p,
                replicas: target.map(<[i32]>::to_vec),
            },
        )
        .map(|r| r.len())
    }

    fn view(s: &MetadataState, p: i32) -> (Vec<i32>, PartitionLeadership) {
        let t = s.topic("t").unwrap();
        (s.replicas(t, p), s.leadership(t, p))
    }

    /// The partition's leader asks to change the ISR to `isr`.
    fn alter_isr(s: &mut MetadataState, p: i32, isr: &[i32]) -> Result<(), MetaError> {
        let (_, l) = view(s, p);
        run(
            s,
            Operation::AlterIsr {
                topic_id: "id".into(),
                partition: p,
                leader: l.leader,
                leader_epoch: l.leader_epoch,
                partition_epoch: l.partition_epoch,
                isr: isr.to_vec(),
            },
        )
        .map(|_| ())
    }

    #[test]
    fn a_reassignment_hosts_both_sets_then_completes_when_the_targets_are_in_sync() {
        let mut s = cluster();
        let (_, before) = view(&s, 0);
        assert_eq!(reassign(&mut s, 0, Some(&[2, 3])).unwrap(), 1);
        let (replicas, l) = view(&s, 0);
        assert_eq!(
            replicas,
            vec![2, 3, 1],
            "target first, then the replicas leaving"
        );
        assert_eq!(
            (l.leader, l.isr.clone()),
            (1, vec![1, 2]),
            "leader and ISR stay"
        );
        assert_eq!(l.leader_epoch, before.leader_epoch);
        assert_eq!(l.partition_epoch, before.partition_epoch + 1);
        let t = s.topic("t").unwrap();
        assert!(s.is_replica(t, 0, 3), "the new replica hosts the partition");
        assert_eq!(
            ongoing(&s),
            vec![Ongoing {
                topic: "t".into(),
                partition: 0,
                replicas: vec![2, 3, 1],
                adding: vec![3],
                removing: vec![1],
            }]
        );
        assert!(complete_ready(&s).is_empty(), "3 is not in sync yet");

        // 3 catches up: the AlterIsr that adds it completes the reassignment in one record.
        alter_isr(&mut s, 0, &[2, 3, 1]).unwrap();
        let (replicas, after) = view(&s, 0);
        assert_eq!(replicas, vec![2, 3], "the target, in its order");
        assert_eq!(after.isr, vec![2, 3], "ISR ∩ target");
        assert_eq!(
            after.leader, 2,
            "the leader left: the first target replica in sync leads"
        );
        assert_eq!(after.leader_epoch, l.leader_epoch + 1);
        assert_eq!(after.partition_epoch, l.partition_epoch + 1);
        assert!(ongoing(&s).is_empty());
        assert!(s.reassignments.is_empty());
        let t = s.topic("t").unwrap();
        assert!(!s.is_replica(t, 0, 1));
        // The other partition never moved.
        assert_eq!(view(&s, 1).0, vec![1, 2]);
    }

    #[test]
    fn a_leader_that_stays_keeps_its_epoch() {
        let mut s = cluster();
        reassign(&mut s, 0, Some(&[1, 3])).unwrap();
        let (_, l) = view(&s, 0);
        alter_isr(&mut s, 0, &[1, 3, 2]).unwrap();
        let (replicas, after) = view(&s, 0);
        assert_eq!(replicas, vec![1, 3]);
        assert_eq!((after.leader, after.leader_epoch), (1, l.leader_epoch));
        assert_eq!(after.isr, vec![1, 3]);
    }

    #[test]
    fn an_isr_change_that_does_not_cover_the_target_is_a_plain_change() {
        let mut s = cluster();
        reassign(&mut s, 0, Some(&[3, 4])).unwrap();
        alter_isr(&mut s, 0, &[3, 1, 2]).unwrap();
        let (replicas, l) = view(&s, 0);
        assert_eq!(replicas, vec![3, 4, 1, 2], "still moving");
        assert_eq!(l.isr, vec![3, 1, 2]);
        assert_eq!(ongoing(&s).len(), 1);
        alter_isr(&mut s, 0, &[3, 4, 1, 2]).unwrap();
        let (replicas, l) = view(&s, 0);
        assert_eq!(replicas, vec![3, 4]);
        assert_eq!((l.leader, l.isr), (3, vec![3, 4]));
    }

    #[test]
    fn cancelling_returns_to_the_original_replicas() {
        let mut s = cluster();
        let (_, before) = view(&s, 0);
        reassign(&mut s, 0, Some(&[3, 4])).unwrap();
        alter_isr(&mut s, 0, &[3, 1, 2]).unwrap();
        assert_eq!(reassign(&mut s, 0, None).unwrap(), 1);
        let (replicas, l) = view(&s, 0);
        assert_eq!(replicas, vec![1, 2], "the original order");
        assert_eq!(l.isr, vec![1, 2], "ISR ∩ original");
        assert_eq!((l.leader, l.leader_epoch), (1, before.leader_epoch));
        assert!(s.reassignments.is_empty());
        let err = reassign(&mut s, 0, None).unwrap_err();
        assert_eq!(err.kind, MetaErrorKind::NoReassignmentInProgress);
        assert_eq!(err.kafka_error_code(), 85);
    }

    #[test]
    fn cancelling_with_no_original_replica_in_sync_needs_unclean_election() {
        let mut s = cluster();
        reassign(&mut s, 0, Some(&[3, 4])).unwrap();
        alter_isr(&mut s, 0, &[3, 1, 2]).unwrap();
        // The original replicas drop out of sync: 1 and 2 are fenced, 3 leads alone.
        for n in [1, 2] {
            let r = crate::election::fence(&s, n);
            for rec in &r {
                s.apply(rec);
            }
        }
        let (_, l) = view(&s, 0);
        assert_eq!((l.leader, l.isr.clone()), (3, vec![3]));
        let r = crate::election::unfence(&s, 1);
        for rec in &r {
            s.apply(rec);
        }
        let err = reassign(&mut s, 0, None).unwrap_err();
        assert_eq!(err.kind, MetaErrorKind::InvalidReplicaAssignment);
        let topic = s.topic("t").unwrap().clone();
        let mut configs = topic.configs.clone();
        configs.insert("unclean.leader.election.enable".into(), "true".into());
        s.apply(&MetadataRecord::TopicConfigsReplaced {
            topic_id: "id".into(),
            configs,
        });
        reassign(&mut s, 0, None).unwrap();
        let (replicas, after) = view(&s, 0);
        assert_eq!(replicas, vec![1, 2]);
        assert_eq!((after.leader, after.isr), (1, vec![1]));
        assert_eq!(after.leader_epoch, l.leader_epoch + 1);
    }

    #[test]
    fn a_target_already_in_sync_completes_at_once() {
        let mut s = cluster();
        // A reorder: the preferred leader changes, the leader stays.
        assert_eq!(reassign(&mut s, 0, Some(&[2, 1])).unwrap(), 1);
        let (replicas, l) = view(&s, 0);
        assert_eq!((replicas, l.leader, l.isr), (vec![2, 1], 1, vec![2, 1]));
        assert!(s.reassignments.is_empty());
        // A shrink that drops the leader: a new leader, at once.
        reassign(&mut s, 1, Some(&[2])).unwrap();
        let (replicas, l) = view(&s, 1);
        assert_eq!((replicas, l.leader, l.isr), (vec![2], 2, vec![2]));
        assert!(s.reassignments.is_empty());
        // The same replicas again: nothing to do.
        assert_eq!(reassign(&mut s, 1, Some(&[2])).unwrap(), 0);
    }

    #[test]
    fn a_second_reassignment_replaces_the_target_and_keeps_the_original() {
        let mut s = cluster();
        reassign(&mut s, 0, Some(&[2, 3])).unwrap();
        assert_eq!(
            reassign(&mut s, 0, Some(&[2, 3])).unwrap(),
            0,
            "the same target again changes nothing"
        );
        reassign(&mut s, 0, Some(&[4, 2])).unwrap();
        let (replicas, _) = view(&s, 0);
        assert_eq!(replicas, vec![4, 2, 3, 1]);
        let o = &ongoing(&s)[0];
        assert_eq!(
            (&o.replicas, &o.adding, &o.removing),
            (&vec![4, 2, 3, 1], &vec![4], &vec![3, 1]),
            "adding counts from the original, removing from the replicas now"
        );
        reassign(&mut s, 0, None).unwrap();
        assert_eq!(view(&s, 0).0, vec![1, 2]);
    }

    #[test]
    fn bad_targets_are_refused() {
        let mut s = cluster();
        let before = s.clone();
        for (target, kind) in [
            (Some(vec![]), MetaErrorKind::InvalidReplicaAssignment),
            (Some(vec![2, 2]), MetaErrorKind::InvalidReplicaAssignment),
            (Some(vec![2, 9]), MetaErrorKind::InvalidReplicaAssignment),
            (Some(vec![-1]), MetaErrorKind::InvalidReplicaAssignment),
            (None, MetaErrorKind::NoReassignmentInProgress),
        ] {
            let err = reassign(&mut s, 0, target.as_deref()).unwrap_err();
            assert_eq!(err.kind, kind, "{target:?}");
        }
        assert_eq!(
            MetaError::new(MetaErrorKind::InvalidReplicaAssignment, "").kafka_error_code(),
            39
        );
        for (topic, p) in [("t", 2), ("t", -1), ("nope", 0)] {
            let err = plan(&s, topic, p, Some(&[1][..])).unwrap_err();
            assert_eq!(err.kind, MetaErrorKind::UnknownTopic, "{topic}-{p}");
        }
        assert_eq!(s, before, "a refused reassignment changes nothing");
    }

    #[test]
    fn the_controller_sweep_completes_what_an_election_put_in_sync() {
        let mut s = cluster();
        reassign(&mut s, 0, Some(&[2, 3])).unwrap();
        // The ISR covers the target without an AlterIsr (as an unclean election might).
        let (_, l) = view(&s, 0);
        s.apply(&changed(
            "id",
            0,
            PartitionLeadership {
                isr: vec![2, 3, 1],
                partition_epoch: l.partition_epoch + 1,
                ..l
            },
        ));
        let records = run(&mut s, Operation::CompleteReassignments).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(view(&s, 0).0, vec![2, 3]);
        assert!(run(&mut s, Operation::CompleteReassignments)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn deleting_the_topic_forgets_its_reassignments() {
        let mut s = cluster();
        reassign(&mut s, 0, Some(&[3, 4])).unwrap();
        run(&mut s, Operation::DeleteTopic { name: "t".into() }).unwrap();
        assert!(s.reassignments.is_empty());
    }

    #[test]
    fn the_record_and_the_image_encode_without_empty_reassignments() {
        let s = cluster();
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("reassignments").is_none(), "{json}");
        let done = MetadataRecord::PartitionReassigned {
            topic_id: "id".into(),
            partition: 0,
            replicas: vec![2, 3],
            reassignment: None,
            leadership: PartitionLeadership::initial(&[2, 3]),
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"type":"PartitionReassigned","topic_id":"id","partition":0,"replicas":[2,3],"leadership":{"leader":2,"leader_epoch":0,"isr":[2,3],"partition_epoch":0}}"#
        );
        let mut moving = cluster();
        reassign(&mut moving, 0, Some(&[2, 3])).unwrap();
        let json = serde_json::to_string(&moving).unwrap();
        let back: MetadataState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, moving, "the image (a Raft snapshot) round-trips");
        let record = serde_json::to_string(&MetadataRecord::PartitionReassigned {
            topic_id: "id".into(),
            partition: 0,
            replicas: vec![2, 3, 1],
            reassignment: Some(Reassignment {
                original: vec![1, 2],
                target: vec![2, 3],
            }),
            leadership: PartitionLeadership::initial(&[1, 2]),
        })
        .unwrap();
        assert!(
            record.contains(r#""reassignment":{"original":[1,2],"target":[2,3]}"#),
            "{record}"
        );
    }
}
