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
//! The accepted offsets are written as one batch and fsynced before the reply; they are
//! *pending* until then and become visible (OffsetFetch) only once durable — a failed write
//! answers COORDINATOR_NOT_AVAILABLE and changes nothing. Ids, topic names and metadata that
//! do not fit the stored format are refused (`limits.rs`).
//!
//! OffsetFetch answers -1 / "" for partitions without a commit; `topics = null` (v2+) means all
//! of the group's offsets; v8+ batches groups. `require_stable` (v7+): a partition with a
//! transactional offset that is stored but not yet resolved by its transaction's marker is
//! answered UNSTABLE_OFFSET_COMMIT (88), which clients retry, as Kafka does.

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

/// One requested commit: (topic, partition, offset, leader epoch, metadata).
pub(crate) type Requested = (String, i32, i64, i32, String);

/// What a commit request turns into before it is stored: a code per requested offset, the
/// records of the accepted ones, and their values (applied once stored).
pub(crate) struct Staged {
    pub(crate) results: Vec<i16>,
    pub(crate) writes: Vec<crate::storage::Write>,
    pub(crate) accepted: Vec<((String, i32), OffsetValue)>,
}

/// A commit whose write failed: every accepted offset is answered COORDINATOR_NOT_AVAILABLE
/// (retriable; nothing was applied).
pub(crate) fn mark_unstored(group_id: &str, results: &mut [i16]) {
    tracing::error!(group = %group_id, "storing offsets failed");
    for code in results {
        if *code == codes::NONE {
            *code = codes::COORDINATOR_NOT_AVAILABLE;
        }
    }
}

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
        let requested: Vec<Requested> = req
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
        if let Err(code) = crate::limits::check_group_id(&group_id) {
            return commit_response(&requested, vec![code; requested.len()]);
        }
        // Accepted offsets are *pending* until their records are durable: only then are they
        // applied to the group (and visible to OffsetFetch); a failed write leaves the group's
        // offsets as they were and answers COORDINATOR_NOT_AVAILABLE.
        let result = self.change(
            &group_id,
            |shard, ctx| {
                let clock = ctx.clock;
                match shard.groups.get_mut(&group_id) {
                    // Unknown group: only a standalone commit (generation < 0) is accepted.
                    None if generation >= 0 => {
                        return Err(vec![codes::ILLEGAL_GENERATION; requested.len()]);
                    }
                    None => {}
                    Some(group) => {
                        let verdict =
                            validate_commit(group, generation, &member_id, instance.as_deref());
                        if verdict != codes::NONE {
                            return Err(vec![verdict; requested.len()]);
                        }
                        if let Some(m) = group.member_mut(&member_id) {
                            m.touch(clock.now);
                        }
                    }
                }
                let expire = retention.map(|r| clock.ms.saturating_add(r));
                let staged = self.stage_offsets(&group_id, &requested, clock.ms, expire);
                let (results, writes, accepted) = (staged.results, staged.writes, staged.accepted);
                ctx.journal.push(writes);
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
                        .offsets
                        .extend(accepted);
                } else {
                    mark_unstored(&group_id, &mut results);
                }
                results
            },
        );
        let results = result.unwrap_or_else(|code| vec![code; requested.len()]);
        commit_response(&requested, results)
    }

    /// Checks each requested offset (metadata size, partition existence, storable format) and
    /// builds the records of the accepted ones, stamped `now_ms` (expiring at `expire`).
    pub(crate) fn stage_offsets(
        &self,
        group_id: &str,
        requested: &[Requested],
        now_ms: i64,
        expire: Option<i64>,
    ) -> Staged {
        let metadata_max = self
            .config
            .offset_metadata_max_bytes
            .min(crate::format::MAX_STRING_BYTES);
        let mut staged = Staged {
            results: Vec::with_capacity(requested.len()),
            writes: Vec::new(),
            accepted: Vec::new(),
        };
        for (topic, partition, offset, epoch, metadata) in requested {
            let value = OffsetValue {
                offset: *offset,
                leader_epoch: *epoch,
                metadata: metadata.clone(),
                commit_timestamp: now_ms,
                expire_timestamp: expire,
            };
            let code = if metadata.len() > metadata_max {
                codes::OFFSET_METADATA_TOO_LARGE
            } else if !crate::limits::topic_name_fits(topic)
                || !self.oracle.partition_exists(topic, *partition)
            {
                codes::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                match encode_offset_value(&value) {
                    Ok(encoded) => {
                        staged.writes.push((
                            RecordKey::Offset {
                                group: group_id.to_string(),
                                topic: topic.clone(),
                                partition: *partition,
                            },
                            Some(encoded),
                        ));
                        staged.accepted.push(((topic.clone(), *partition), value));
                        codes::NONE
                    }
                    Err(e) => {
                        tracing::warn!(group = %group_id, error = %e, "offset not storable");
                        codes::OFFSET_METADATA_TOO_LARGE
                    }
                }
            };
            staged.results.push(code);
        }
        staged
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
                    let (error, fetched) =
                        self.fetch_offsets(g.group_id.as_str(), topics, req.require_stable);
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
        let (error, fetched) = self.fetch_offsets(
            req.group_id.as_str(),
            topics.clone(),
            version >= 7 && req.require_stable,
        );
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
        require_stable: bool,
    ) -> (i16, FetchedTopics) {
        let unstable = (-1, -1, String::new(), codes::UNSTABLE_OFFSET_COMMIT);
        let result = self.with_shard(group_id, |shard, _| {
            let group = shard.groups.get(group_id);
            let mut out: FetchedTopics = BTreeMap::new();
            match &topics {
                None => {
                    if let Some(g) = group {
                        for ((topic, p), v) in &g.offsets {
                            let fetched = if require_stable && g.has_pending_txn_offset(topic, *p) {
                                unstable.clone()
                            } else {
                                (v.offset, v.leader_epoch, v.metadata.clone(), codes::NONE)
                            };
                            out.entry(topic.clone()).or_default().push((*p, fetched));
                        }
                    }
                }
                Some(list) => {
                    for (topic, parts) in list {
                        let entry = out.entry(topic.clone()).or_default();
                        for p in parts {
                            if require_stable
                                && group.is_some_and(|g| g.has_pending_txn_offset(topic, *p))
                            {
                                entry.push((*p, unstable.clone()));
                                continue;
                            }
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
        let group_id = req.group_id.as_str();
        let result = self.change(
            group_id,
            |shard, ctx| {
                let Some(group) = shard.groups.get_mut(group_id) else {
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
                let deleted: Vec<(String, i32)> = writes
                    .iter()
                    .filter_map(|(key, _)| match key {
                        RecordKey::Offset {
                            topic, partition, ..
                        } => Some((topic.clone(), *partition)),
                        RecordKey::Group { .. } => None,
                    })
                    .collect();
                ctx.journal.push(writes);
                Ok((results, deleted))
            },
            // The offsets disappear from memory only once their tombstones are durable.
            |shard, _, applied, stored| {
                let (results, deleted) = applied?;
                if !stored {
                    tracing::error!(group = %group_id, "storing offset deletions failed");
                    return Err(codes::COORDINATOR_NOT_AVAILABLE);
                }
                if let Some(group) = shard.groups.get_mut(group_id) {
                    for key in &deleted {
                        group.offsets.remove(key);
                    }
                }
                Ok(results)
            },
        );
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

/// The OffsetCommit answer: one code per requested partition, grouped by topic.
fn commit_response(requested: &[Requested], results: Vec<i16>) -> OffsetCommitResponse {
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
