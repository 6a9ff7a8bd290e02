//! Time-driven transitions, run by the coordinator's 100 ms tick:
//! - pending MEMBER_ID_REQUIRED ids that did not rejoin within their session timeout are dropped;
//! - members whose session deadline passed (and who have no parked JoinGroup/SyncGroup) are
//!   removed, which rebalances the group;
//! - the join phase's deadline (rebalance timeout or initial delay) completes or extends it;
//! - the sync deadline removes members that never sent SyncGroup and rebalances;
//! - every `offsets.retention.check.interval.ms`, [`expire_offsets`].

use crate::coordinator::{Clock, State};
use crate::format::RecordKey;
use crate::group::GroupState;
use crate::rebalance::Ctx;
use crate::GroupConfig;

/// One pass over every group's deadlines.
pub(crate) fn tick(state: &mut State, config: &GroupConfig, clock: Clock) {
    let State { groups, store } = state;
    for group in groups.values_mut() {
        let mut ctx = Ctx {
            store,
            config,
            clock,
        };
        let expired_pending: Vec<String> = group
            .pending
            .iter()
            .filter(|(_, deadline)| **deadline <= clock.now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            tracing::debug!(group = %group.id, member = %id, "pending member id expired");
            group.remove_pending(&id, &mut ctx);
        }
        let expired: Vec<String> = group
            .members
            .iter()
            .filter(|m| !m.is_parked() && m.session_deadline <= clock.now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            crate::metrics::session_expired(&group.id);
            group.remove_member(&id, &mut ctx, "session timeout expired");
        }
        if group.join_deadline.is_some_and(|d| d <= clock.now) {
            group.on_join_deadline(&mut ctx);
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
                    group.remove_member(&id, &mut ctx, "no SyncGroup within the rebalance timeout");
                }
            }
        }
    }
}

/// Kafka `removeExpiredOffsets`: offsets of an Empty consumer group expire
/// `offsets.retention.minutes` after it became empty; offsets of a standalone committer (no
/// protocol type) that long after their commit; an explicit expiry (OffsetCommit v2–v4
/// retention) wins. An Empty group left with no offsets is deleted (tombstoned).
pub(crate) fn expire_offsets(state: &mut State, config: &GroupConfig, clock: Clock) {
    let retention = config.offsets_retention_ms;
    let mut dead = Vec::new();
    for group in state.groups.values_mut() {
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
        let becomes_dead = group.state == GroupState::Empty
            && group.pending.is_empty()
            && group.offsets.len() == expired.len();
        if becomes_dead {
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
        if let Err(e) = state.store.write(&group.id, &writes, clock.ms) {
            tracing::error!(group = %group.id, error = %e, "storing expired offsets failed");
            continue;
        }
        for key in &expired {
            group.offsets.remove(key);
        }
        tracing::info!(group = %group.id, expired = expired.len(), "expired committed offsets");
        if becomes_dead {
            group.set_state(GroupState::Dead, clock.ms);
            dead.push(group.id.clone());
        }
    }
    for id in dead {
        state.groups.remove(&id);
        tracing::info!(group = %id, "removed empty group with no offsets");
    }
}
