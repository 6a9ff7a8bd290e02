//! TxnOffsetCommit (v0–v3) and the resolution of transactional offsets by their markers.
//!
//! A transactional producer commits its consumer's offsets *inside* its transaction
//! (`send_offsets_to_transaction`): the transaction coordinator has added the group's
//! `__consumer_offsets` partition to the transaction (AddOffsetsToTxn), and TxnOffsetCommit
//! writes the offsets to that partition as a *transactional* batch of the producer (its id and
//! epoch). Invariants:
//! - the offsets are pending for that producer once stored: not visible to OffsetFetch (which
//!   answers UNSTABLE_OFFSET_COMMIT for them when `require_stable` is set), and not applied;
//! - the transaction's COMMIT marker in the partition applies them, its ABORT marker drops
//!   them ([`GroupCoordinator::complete_transaction`], called by the broker once the marker is
//!   stored; on replay, `loader.rs` does the same from the log), so offsets move only with
//!   commits;
//! - validation is OffsetCommit's (generation and member from v3; a generation of -1 skips
//!   it), and an unknown group is created, as Kafka does.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::protocol::StrBytes;
use strata_coordinator::TxnProducer;

use crate::codes;
use crate::group::{Group, GroupState};
use crate::offsets::{mark_unstored, Requested};
use crate::GroupCoordinator;

/// Control record type of a COMMIT marker (the key is `[version i16, type i16]`).
const COMMIT_TYPE: i16 = 1;
/// Control record type of an ABORT marker.
const ABORT_TYPE: i16 = 0;

/// Whether a control record key is a COMMIT (`Some(true)`) or ABORT (`Some(false)`) marker.
pub(crate) fn marker_is_commit(key: &[u8]) -> Option<bool> {
    let kind = i16::from_be_bytes(key.get(2..4)?.try_into().ok()?);
    match kind {
        COMMIT_TYPE => Some(true),
        ABORT_TYPE => Some(false),
        _ => None,
    }
}

impl GroupCoordinator {
    /// Handles TxnOffsetCommit; answers once the transactional offsets are stored (pending).
    pub async fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitResponse {
        let group_id = req.group_id.to_string();
        let requested: Vec<Requested> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        if version >= 2 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        p.committed_metadata.as_deref().unwrap_or("").to_string(),
                    )
                })
            })
            .collect();
        let (generation, member_id, instance) = if version >= 3 {
            (
                req.generation_id,
                req.member_id.to_string(),
                req.group_instance_id.as_ref().map(|s| s.to_string()),
            )
        } else {
            (-1, String::new(), None)
        };
        let producer = TxnProducer {
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
        };
        if let Err(code) = crate::limits::check_group_id(&group_id) {
            return response(&requested, vec![code; requested.len()]);
        }
        if producer.producer_id < 0 || producer.producer_epoch < 0 {
            return response(
                &requested,
                vec![codes::INVALID_PRODUCER_EPOCH; requested.len()],
            );
        }
        let result = self.change(
            &group_id,
            |shard, ctx| {
                let clock = ctx.clock;
                if let Some(group) = shard.groups.get(&group_id) {
                    let verdict = validate(group, generation, &member_id, instance.as_deref());
                    if verdict != codes::NONE {
                        return Err(vec![verdict; requested.len()]);
                    }
                }
                let staged = self.stage_offsets(&group_id, &requested, clock.ms, None);
                let (results, writes, accepted) = (staged.results, staged.writes, staged.accepted);
                ctx.journal.push_transactional(producer, writes);
                Ok((results, accepted))
            },
            |shard, ctx, applied, stored| {
                let (mut results, accepted) = match applied {
                    Ok(applied) => applied,
                    Err(results) => return results,
                };
                if accepted.is_empty() {
                    return results;
                }
                if stored {
                    shard
                        .groups
                        .entry(group_id.clone())
                        .or_insert_with(|| Group::new(&group_id, ctx.clock.ms))
                        .pending_txn
                        .entry(producer.producer_id)
                        .or_default()
                        .extend(accepted);
                } else {
                    mark_unstored(&group_id, &mut results);
                }
                results
            },
        );
        let results = result.unwrap_or_else(|code| vec![code; requested.len()]);
        tracing::debug!(group = %group_id, producer_id = producer.producer_id,
            producer_epoch = producer.producer_epoch, generation, codes = ?results, "TxnOffsetCommit");
        response(&requested, results)
    }

    /// The COMMIT (`commit`) or ABORT marker of producer `producer_id` is stored in internal
    /// partition `partition`: its pending offsets in that partition's groups are applied or
    /// dropped. A partition not coordinated here has nothing to resolve (its next leader
    /// replays the marker). A load in progress finishes first: whether or not its replay saw
    /// the marker, the offsets end up resolved exactly once (resolving is idempotent).
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, commit: bool) {
        let _ = self.with_partition_state(partition, |shard| {
            for group in shard.groups.values_mut() {
                group.complete_txn(producer_id, commit);
            }
        });
    }
}

/// OffsetCommit's member checks; a negative generation skips them (Kafka accepts those from
/// producers that do not pass their consumer's group metadata).
fn validate(group: &Group, generation: i32, member_id: &str, instance: Option<&str>) -> i16 {
    if group.state == GroupState::Dead {
        return codes::COORDINATOR_NOT_AVAILABLE;
    }
    if group.is_static_fenced(instance, member_id) {
        return codes::FENCED_INSTANCE_ID;
    }
    if generation < 0 {
        return codes::NONE;
    }
    if !group.has(member_id) {
        return codes::UNKNOWN_MEMBER_ID;
    }
    if generation != group.generation {
        return codes::ILLEGAL_GENERATION;
    }
    codes::NONE
}

fn response(requested: &[Requested], results: Vec<i16>) -> TxnOffsetCommitResponse {
    let mut topics: Vec<TxnOffsetCommitResponseTopic> = Vec::new();
    for ((topic, partition, ..), code) in requested.iter().zip(results) {
        let part = TxnOffsetCommitResponsePartition::default()
            .with_partition_index(*partition)
            .with_error_code(code);
        match topics.last_mut() {
            Some(t) if t.name.as_str() == topic => t.partitions.push(part),
            _ => topics.push(
                TxnOffsetCommitResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(vec![part]),
            ),
        }
    }
    TxnOffsetCommitResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_keys() {
        assert_eq!(marker_is_commit(&[0, 0, 0, 1]), Some(true));
        assert_eq!(marker_is_commit(&[0, 0, 0, 0]), Some(false));
        assert_eq!(marker_is_commit(&[0, 0, 0, 7]), None);
        assert_eq!(marker_is_commit(&[0, 0]), None);
    }
}
