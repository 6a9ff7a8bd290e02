//! Replaying a `__consumer_offsets` partition into its groups, when this broker becomes its
//! leader (and so the coordinator of its groups).
//!
//! Offsets in a *transactional* batch (TxnOffsetCommit) stay pending for their producer until
//! that producer's COMMIT marker (applied) or ABORT marker (dropped); still pending at the end
//! of the log, they are restored pending (the transaction coordinator will send the marker).
//!
//! The partition is read from its log start to its end, batch by batch, in offset order; for
//! every key the last record wins and a tombstone (null value) deletes. Control batches are
//! skipped. A group whose last metadata record has members is restored `Stable` at its stored
//! generation with fresh session deadlines: members that are alive keep heartbeating (and may
//! commit with that generation); dead ones expire and trigger a rebalance. A group with no
//! members, or with offsets only, is `Empty` (retention counts from its stored state timestamp).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use strata_records::{batches, decode_records};

use crate::coordinator::Clock;
use crate::format::{
    decode_group_value, decode_key, decode_offset_value, GroupValue, OffsetValue, RecordKey,
};
use crate::group::{Group, GroupState};
use crate::member::Member;
use crate::storage::{OffsetsLog, StorageError};

/// Bytes read from a partition at a time.
const READ_CHUNK: usize = 1 << 20;

/// A group's offsets by partition.
type Offsets = BTreeMap<(String, i32), OffsetValue>;

#[derive(Default)]
struct Replayed {
    offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>>,
    metas: HashMap<String, GroupValue>,
    /// Transactional offsets not resolved by a marker yet: producer id → group → offsets.
    txn: HashMap<i64, HashMap<String, Offsets>>,
}

/// Replays one internal partition and builds its groups.
pub(crate) fn replay(
    log: &dyn OffsetsLog,
    clock: Clock,
) -> Result<HashMap<String, Group>, StorageError> {
    let mut replayed = Replayed::default();
    replay_partition(log, &mut replayed)?;
    let mut groups = HashMap::new();
    let ids: Vec<String> = replayed
        .offsets
        .keys()
        .chain(replayed.metas.keys())
        .chain(replayed.txn.values().flat_map(|g| g.keys()))
        .cloned()
        .collect();
    for id in ids {
        if groups.contains_key(&id) {
            continue;
        }
        let mut group = Group::new(&id, clock.ms);
        if let Some(meta) = replayed.metas.remove(&id) {
            restore_metadata(&mut group, meta, clock);
        }
        if let Some(offsets) = replayed.offsets.remove(&id) {
            group.offsets = offsets;
        }
        for (producer_id, by_group) in &mut replayed.txn {
            if let Some(offsets) = by_group.remove(&id) {
                group.pending_txn.insert(*producer_id, offsets);
            }
        }
        groups.insert(id, group);
    }
    Ok(groups)
}

fn replay_partition(log: &dyn OffsetsLog, out: &mut Replayed) -> Result<(), StorageError> {
    let (mut offset, end) = log.bounds();
    while offset < end {
        let buf = log.read(offset, READ_CHUNK)?;
        if buf.is_empty() {
            break;
        }
        let before = offset;
        for item in batches(&buf) {
            let (pos, header) = item?;
            offset = header.last_offset() + 1;
            let records = decode_records(&buf[pos..pos + header.total_len()])?;
            if header.is_control() {
                // A transaction's COMMIT or ABORT marker resolves its offsets.
                if let Some(commit) = records
                    .first()
                    .and_then(|r| r.key.as_deref())
                    .and_then(crate::txn_offsets::marker_is_commit)
                {
                    resolve(out, header.producer_id, commit);
                }
                continue;
            }
            for record in records {
                let Some(key) = record.key else {
                    continue;
                };
                let key = decode_key(&key)?;
                match (header.is_transactional(), key, record.value) {
                    (
                        true,
                        RecordKey::Offset {
                            group,
                            topic,
                            partition,
                        },
                        Some(v),
                    ) => {
                        out.txn
                            .entry(header.producer_id)
                            .or_default()
                            .entry(group)
                            .or_default()
                            .insert((topic, partition), decode_offset_value(&v)?);
                    }
                    (_, key, value) => apply(out, key, value)?,
                }
            }
        }
        if offset == before {
            // Not even one whole batch: the rest is a torn tail the log will not serve.
            break;
        }
    }
    Ok(())
}

/// Applies (commit) or drops (abort) producer `producer_id`'s transactional offsets.
fn resolve(out: &mut Replayed, producer_id: i64, commit: bool) {
    let Some(by_group) = out.txn.remove(&producer_id) else {
        return;
    };
    if commit {
        for (group, offsets) in by_group {
            out.offsets.entry(group).or_default().extend(offsets);
        }
    }
}

fn apply(out: &mut Replayed, key: RecordKey, value: Option<Vec<u8>>) -> Result<(), StorageError> {
    match key {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => match value {
            Some(v) => {
                out.offsets
                    .entry(group)
                    .or_default()
                    .insert((topic, partition), decode_offset_value(&v)?);
            }
            None => {
                if let Some(offsets) = out.offsets.get_mut(&group) {
                    offsets.remove(&(topic, partition));
                    if offsets.is_empty() {
                        out.offsets.remove(&group);
                    }
                }
            }
        },
        RecordKey::Group { group } => match value {
            Some(v) => {
                out.metas.insert(group, decode_group_value(&v)?);
            }
            None => {
                out.metas.remove(&group);
            }
        },
    }
    Ok(())
}

fn restore_metadata(group: &mut Group, meta: GroupValue, clock: Clock) {
    group.protocol_type = (!meta.protocol_type.is_empty()).then_some(meta.protocol_type);
    group.generation = meta.generation;
    group.protocol_name = meta.protocol.clone();
    group.leader = meta.leader;
    for m in meta.members {
        if let Some(instance) = &m.group_instance_id {
            group
                .static_members
                .insert(instance.clone(), m.member_id.clone());
        }
        let protocols = meta
            .protocol
            .as_ref()
            .map(|p| vec![(p.clone(), Bytes::from(m.subscription))])
            .unwrap_or_default();
        let mut member = Member {
            id: m.member_id,
            instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            session_timeout_ms: m.session_timeout_ms,
            protocols,
            assignment: Bytes::from(m.assignment),
            awaiting_join: None,
            awaiting_sync: None,
            session_deadline: clock.now,
        };
        member.touch(clock.now);
        group.members.push(member);
    }
    if group.leader.as_ref().is_some_and(|l| !group.has(l)) {
        group.leader = group.members.first().map(|m| m.id.clone());
    }
    let state = if group.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    group.set_state(state, clock.ms);
    if meta.current_state_timestamp >= 0 {
        group.state_since_ms = meta.current_state_timestamp;
    }
}
