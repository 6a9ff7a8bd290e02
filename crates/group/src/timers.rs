//! Time-driven transitions, run by the coordinator's 100 ms tick:
//! - pending MEMBER_ID_REQUIRED ids that did not rejoin within their session timeout are dropped;
//! - members whose session deadline passed (and who have no parked JoinGroup/SyncGroup) are
//!   removed, which rebalances the group;
//! - the join phase's deadline (rebalance timeout or initial delay) completes or extends it;
//! - the sync deadline removes members that never sent SyncGroup and rebalances;
//! - every `offsets.retention.check.interval.ms`, [`expire_offsets`].
//!
//! The coordinator runs these per `__consumer_offsets` partition under its write lock; records
//! they queue are written after the state lock is released, and expired offsets disappear from
//! memory only once their tombstones are durable ([`settle_expired`]).

use crate::coordinator::Shard;
use crate::format::RecordKey;
use crate::group::GroupState;
use crate::rebalance::Ctx;

/// One pass over the deadlines of one partition's groups.
pub(crate) fn tick(shard: &mut Shard, ctx: &mut Ctx<'_>) {
    let clock = ctx.clock;
    for group in shard.groups.values_mut() {
        let ctx = &mut *ctx;
        let expired_pending: Vec<String> = group
            .pending
            .iter()
            .filter(|(_, deadline)| **deadline <= clock.now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            tracing::debug!(group = %group.id, member = %id, "pending member id expired");
            group.remove_pending(&id, ctx);
        }
        let expired: Vec<String> = group
            .members
            .iter()
            .filter(|m| !m.is_parked() && m.session_deadline <= clock.now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            crate::metrics::session_expired(&group.id);
            group.remove_member(&id, ctx, "session timeout expired");
        }
        if group.join_deadline.is_some_and(|d| d <= clock.now) {
            group.on_join_deadline(ctx);
        }
        if group.sync_deadline.is_some_and(|d| d <= clock.now) {
            group.sync_deadline = None;
            if matches!(
                group.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) {
                let missing: Vec<String> = std::mem::take(&mut group.pending_sync)
                    .into_iter()
                    .collect();
                for id in missing {
                    group.remove_member(&id, ctx, "no SyncGroup within the rebalance timeout");
                }
            }
        }
    }
}

/// Offsets of one group whose tombstones were queued, and whether the group goes with them.
pub(crate) struct Expired {
    group: String,
    offsets: Vec<(String, i32)>,
    dead: bool,
}

/// Kafka `removeExpiredOffsets`: offsets of an Empty consumer group expire
/// `offsets.retention.minutes` after it became empty; offsets of a standalone committer (no
/// protocol type) that long after their commit; an explicit expiry (OffsetCommit v2–v4
/// retention) wins. An Empty group left with no offsets is deleted (tombstoned). Only queues
/// the tombstones; [`settle_expired`] removes what they made durable.
pub(crate) fn expire_offsets(shard: &mut Shard, ctx: &mut Ctx<'_>) -> Vec<Expired> {
    let retention = ctx.config.offsets_retention_ms;
    let clock = ctx.clock;
    let mut out = Vec::new();
    for group in shard.groups.values_mut() {
        let consumer_group = group.protocol_type.is_some();
        if consumer_group && group.state != GroupState::Empty {
            continue;
        }
        let empty_since = group.state_since_ms;
        let expired: Vec<(String, i32)> = group
            .offsets
            .iter()
            .filter(|(_, v)| match v.expire_timestamp {
                Some(at) => clock.ms >= at,
                None if consumer_group => clock.ms >= empty_since.saturating_add(retention),
                None => clock.ms >= v.commit_timestamp.saturating_add(retention),
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut writes: Vec<_> = expired
            .iter()
            .map(|(topic, partition)| {
                (
                    RecordKey::Offset {
                        group: group.id.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                    },
                    None,
                )
            })
            .collect();
        let dead = group.state == GroupState::Empty
            && group.pending.is_empty()
            && group.offsets.len() == expired.len();
        if dead {
            writes.push((
                RecordKey::Group {
                    group: group.id.clone(),
                },
                None,
            ));
        }
        if writes.is_empty() {
            continue;
        }
        ctx.journal.push(writes);
        out.push(Expired {
            group: group.id.clone(),
            offsets: expired,
            dead,
        });
    }
    out
}

/// Removes what [`expire_offsets`] tombstoned, if the tombstones are durable.
pub(crate) fn settle_expired(
    shard: &mut Shard,
    ctx: &mut Ctx<'_>,
    expired: Vec<Expired>,
    stored: bool,
) {
    if !stored {
        if !expired.is_empty() {
            tracing::error!(
                groups = expired.len(),
                "storing expired offsets failed; retrying at the next check"
            );
        }
        return;
    }
    for e in expired {
        let Some(group) = shard.groups.get_mut(&e.group) else {
            continue;
        };
        for key in &e.offsets {
            group.offsets.remove(key);
        }
        tracing::info!(group = %e.group, expired = e.offsets.len(), "expired committed offsets");
        if e.dead {
            group.set_state(GroupState::Dead, ctx.clock.ms);
            shard.groups.remove(&e.group);
            tracing::info!(group = %e.group, "removed empty group with no offsets");
        }
    }
}
