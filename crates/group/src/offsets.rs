//! OffsetCommit (v2–v9), OffsetFetch (v1–v9) and OffsetDelete (v0).
//!
//! Commit validation (Kafka `ClassicGroup.validateOffsetCommit`): a dead group is
//! COORDINATOR_NOT_AVAILABLE; a fenced static member FENCED_INSTANCE_ID; generation < 0 on an
//! Empty (or unknown) group is a standalone commit and accepted — an unknown group is created
//! for it; otherwise CompletingRebalance is REBALANCE_IN_PROGRESS, an unknown member
//! UNKNOWN_MEMBER_ID and another generation ILLEGAL_GENERATION (commits during
//! PreparingRebalance with the current generation are accepted: that is how consumers commit
//! before they rejoin). Per partition: metadata longer than `offset.metadata.max.bytes` is
//! OFFSET_METADATA_TOO_LARGE, a partition that does not exist UNKNOWN_TOPIC_OR_PARTITION.
//! The accepted offsets are written as one batch and fsynced before the reply.
//!
//! OffsetFetch answers -1 / "" for partitions without a commit; `topics = null` (v2+) means all
//! of the group's offsets; v8+ batches groups. `require_stable` (v7+) waits for pending
//! transactional commits — there are none until transactions exist, so it never waits.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::codes;
use crate::format::{encode_offset_value, OffsetValue, RecordKey};
use crate::group::{Group, GroupState};
use crate::GroupCoordinator;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// One partition's committed offset as OffsetFetch reports it: (offset, epoch, metadata, error).
type Fetched = (i64, i32, String, i16);

/// `topic -> [(partition, fetched)]`.
type FetchedTopics = BTreeMap<String, Vec<(i32, Fetched)>>;

impl GroupCoordinator {
    /// Handles OffsetCommit; answers only after the offsets are fsynced.
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        let group_id = req.group_id.to_string();
        let generation = req.generation_id_or_member_epoch;
        let member_id = req.member_id.to_string();
        let instance = if version >= 7 {
            req.group_instance_id.as_ref().map(|s| s.to_string())
        } else {
            None
        };
        let requested: Vec<(String, i32, i64, i32, String)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        p.committed_metadata.as_deref().unwrap_or("").to_string(),
                    )
                })
            })
            .collect();
        let retention = if version <= 4 && req.retention_time_ms >= 0 {
            Some(req.retention_time_ms)
        } else {
            None
        };
        let result = self.with_state(|state, clock| {
            if group_id.is_empty() {
                return vec![codes::INVALID_GROUP_ID; requested.len()];
            }
            let created = !state.groups.contains_key(&group_id);
            if created {
                if generation >= 0 {
                    return vec![codes::ILLEGAL_GENERATION; requested.len()];
                }
                state
                    .groups
                    .insert(group_id.clone(), Group::new(&group_id, clock.ms));
            }
            let Some(group) = state.groups.get_mut(&group_id) else {
                return vec![codes::COORDINATOR_NOT_AVAILABLE; requested.len()];
            };
            let verdict = validate_commit(group, generation, &member_id, instance.as_deref());
            if verdict != codes::NONE {
                return vec![verdict; requested.len()];
            }
            if let Some(m) = group.member_mut(&member_id) {
                m.touch(clock.now);
            }
            let mut results = Vec::with_capacity(requested.len());
            let mut writes = Vec::new();
            let mut accepted = Vec::new();
            for (topic, partition, offset, epoch, metadata) in &requested {
                let code = if metadata.len() > self.config.offset_metadata_max_bytes {
                    codes::OFFSET_METADATA_TOO_LARGE
                } else if self.oracle.log_end_offset(topic, *partition).is_none() {
                    codes::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    let value = OffsetValue {
                        offset: *offset,
                        leader_epoch: *epoch,
                        metadata: metadata.clone(),
                        commit_timestamp: clock.ms,
                        expire_timestamp: retention.map(|r| clock.ms.saturating_add(r)),
                    };
                    writes.push((
                        RecordKey::Offset {
                            group: group_id.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                        },
                        Some(encode_offset_value(&value)),
                    ));
                    accepted.push(((topic.clone(), *partition), value));
                    codes::NONE
                };
                results.push(code);
            }
            match state.store.write(&group_id, &writes, clock.ms) {
                Ok(()) => {
                    let group = state
                        .groups
                        .get_mut(&group_id)
                        .expect("group checked above");
                    group.offsets.extend(accepted);
                }
                Err(e) => {
                    tracing::error!(group = %group_id, error = %e, "storing offsets failed");
                    for code in &mut results {
                        if *code == codes::NONE {
                            *code = codes::COORDINATOR_NOT_AVAILABLE;
                        }
                    }
                }
            }
            if created
                && state
                    .groups
                    .get(&group_id)
                    .is_some_and(|g| g.offsets.is_empty())
            {
                state.groups.remove(&group_id);
            }
            results
        });
        let results = result.unwrap_or_else(|code| vec![code; requested.len()]);
        let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
        for ((topic, partition, ..), code) in requested.iter().zip(results) {
            let part = OffsetCommitResponsePartition::default()
                .with_partition_index(*partition)
                .with_error_code(code);
            match topics.last_mut() {
                Some(t) if t.name.as_str() == topic => t.partitions.push(part),
                _ => topics.push(
                    OffsetCommitResponseTopic::default()
                        .with_name(TopicName(sb(topic)))
                        .with_partitions(vec![part]),
                ),
            }
        }
        OffsetCommitResponse::default().with_topics(topics)
    }

    /// Handles OffsetFetch (single group on v1–v7, batched on v8+).
    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        if version >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                            .collect::<Vec<_>>()
                    });
                    let (error, fetched) = self.fetch_offsets(g.group_id.as_str(), topics);
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(error)
                        .with_topics(
                            fetched
                                .into_iter()
                                .map(|(topic, parts)| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(sb(&topic)))
                                        .with_partitions(
                                            parts
                                                .into_iter()
                                                .map(|(p, (offset, epoch, meta, code))| {
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p)
                                                        .with_committed_offset(offset)
                                                        .with_committed_leader_epoch(epoch)
                                                        .with_metadata(Some(sb(&meta)))
                                                        .with_error_code(code)
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let topics = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        let (error, fetched) = self.fetch_offsets(req.group_id.as_str(), topics.clone());
        let fetched = if version < 2 && error != codes::NONE {
            // v1 has no top-level error: report it on every requested partition.
            topics
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| {
                    (
                        t,
                        ps.into_iter()
                            .map(|p| (p, (-1, -1, String::new(), error)))
                            .collect(),
                    )
                })
                .collect()
        } else {
            fetched
        };
        let topics = fetched
            .into_iter()
            .map(|(topic, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(sb(&topic)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, (offset, epoch, meta, code))| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(if version >= 5 {
                                        epoch
                                    } else {
                                        -1
                                    })
                                    .with_metadata(Some(sb(&meta)))
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default()
            .with_topics(topics)
            .with_error_code(if version >= 2 { error } else { codes::NONE })
    }

    /// `(group error, topic -> [(partition, fetched)])`; `topics = None` means every commit.
    fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> (i16, FetchedTopics) {
        let result = self.with_state(|state, _| {
            let group = state.groups.get(group_id);
            let mut out: FetchedTopics = BTreeMap::new();
            match &topics {
                None => {
                    if let Some(g) = group {
                        for ((topic, p), v) in &g.offsets {
                            out.entry(topic.clone()).or_default().push((
                                *p,
                                (v.offset, v.leader_epoch, v.metadata.clone(), codes::NONE),
                            ));
                        }
                    }
                }
                Some(list) => {
                    for (topic, parts) in list {
                        let entry = out.entry(topic.clone()).or_default();
                        for p in parts {
                            let fetched = group
                                .and_then(|g| g.offsets.get(&(topic.clone(), *p)))
                                .map(|v| {
                                    (v.offset, v.leader_epoch, v.metadata.clone(), codes::NONE)
                                })
                                .unwrap_or((-1, -1, String::new(), codes::NONE));
                            entry.push((*p, fetched));
                        }
                    }
                }
            }
            out
        });
        match result {
            Ok(out) => (codes::NONE, out),
            Err(code) => (code, BTreeMap::new()),
        }
    }

    /// Handles OffsetDelete: removes committed offsets of topics no member is subscribed to.
    pub async fn offset_delete(
        &self,
        req: OffsetDeleteRequest,
        _version: i16,
    ) -> OffsetDeleteResponse {
        let requested: Vec<(String, Vec<i32>)> = req
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect();
        let result = self.with_state(|state, clock| {
            let group_id = req.group_id.as_str();
            let Some(group) = state.groups.get_mut(group_id) else {
                return Err(codes::GROUP_ID_NOT_FOUND);
            };
            if group.state == GroupState::Dead {
                return Err(codes::GROUP_ID_NOT_FOUND);
            }
            let subscribed = if group.state == GroupState::Empty {
                BTreeSet::new()
            } else if group.protocol_type.as_deref() == Some("consumer") {
                subscribed_topics(group)
            } else {
                return Err(codes::NON_EMPTY_GROUP);
            };
            let mut writes = Vec::new();
            let mut results = Vec::new();
            for (topic, parts) in &requested {
                let mut codes_for_topic = Vec::new();
                for p in parts {
                    if subscribed.contains(topic) {
                        codes_for_topic.push((*p, codes::GROUP_SUBSCRIBED_TO_TOPIC));
                        continue;
                    }
                    if group.offsets.contains_key(&(topic.clone(), *p)) {
                        writes.push((
                            RecordKey::Offset {
                                group: group_id.to_string(),
                                topic: topic.clone(),
                                partition: *p,
                            },
                            None,
                        ));
                    }
                    codes_for_topic.push((*p, codes::NONE));
                }
                results.push((topic.clone(), codes_for_topic));
            }
            if let Err(e) = state.store.write(group_id, &writes, clock.ms) {
                tracing::error!(group = %group_id, error = %e, "storing offset deletions failed");
                return Err(codes::COORDINATOR_NOT_AVAILABLE);
            }
            if let Some(group) = state.groups.get_mut(group_id) {
                for (key, _) in &writes {
                    if let RecordKey::Offset {
                        topic, partition, ..
                    } = key
                    {
                        group.offsets.remove(&(topic.clone(), *partition));
                    }
                }
            }
            Ok(results)
        });
        match result {
            Ok(Ok(results)) => OffsetDeleteResponse::default().with_topics(
                results
                    .into_iter()
                    .map(|(topic, parts)| {
                        OffsetDeleteResponseTopic::default()
                            .with_name(TopicName(sb(&topic)))
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, code)| {
                                        OffsetDeleteResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
            Ok(Err(code)) | Err(code) => OffsetDeleteResponse::default().with_error_code(code),
        }
    }
}

/// Kafka `ClassicGroup.validateOffsetCommit` (see the module docs).
fn validate_commit(group: &Group, generation: i32, member_id: &str, instance: Option<&str>) -> i16 {
    if group.state == GroupState::Dead {
        return codes::COORDINATOR_NOT_AVAILABLE;
    }
    if group.is_static_fenced(instance, member_id) {
        return codes::FENCED_INSTANCE_ID;
    }
    if generation < 0 && group.state == GroupState::Empty {
        return codes::NONE;
    }
    if group.state == GroupState::CompletingRebalance {
        return codes::REBALANCE_IN_PROGRESS;
    }
    if !group.has(member_id) {
        return codes::UNKNOWN_MEMBER_ID;
    }
    if generation != group.generation {
        return codes::ILLEGAL_GENERATION;
    }
    codes::NONE
}

/// Topics named in the members' consumer-protocol subscriptions.
pub(crate) fn subscribed_topics(group: &Group) -> BTreeSet<String> {
    let mut topics = BTreeSet::new();
    for m in &group.members {
        let metadata = match &group.protocol_name {
            Some(p) => m.metadata(p),
            None => m
                .protocols
                .first()
                .map(|(_, md)| md.clone())
                .unwrap_or_default(),
        };
        if let Some(sub) = decode_subscription(&metadata) {
            topics.extend(sub.topics.iter().map(|t| t.to_string()));
        }
    }
    topics
}

/// Decodes ConsumerProtocol subscription bytes (`int16 version` + struct).
pub(crate) fn decode_subscription(bytes: &[u8]) -> Option<ConsumerProtocolSubscription> {
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)).ok()
}
