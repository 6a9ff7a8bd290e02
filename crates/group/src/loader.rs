//! Replaying a `__consumer_offsets` partition into its groups, when this broker becomes its
//! leader (and so the coordinator of its groups).
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

#[derive(Default)]
struct Replayed {
    offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>>,
    metas: HashMap<String, GroupValue>,
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
            if header.is_control() {
                continue;
            }
            for record in decode_records(&buf[pos..pos + header.total_len()])? {
                let Some(key) = record.key else {
                    continue;
                };
                apply(out, decode_key(&key)?, record.value)?;
            }
        }
        if offset == before {
            // Not even one whole batch: the rest is a torn tail the log will not serve.
            break;
        }
    }
    Ok(())
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
