//! Metadata operations and their planning: an [`Operation`] is what a client asks for; [`plan`]
//! validates it against the current image and turns it into the records that carry it out.
//!
//! The quorum leader plans every operation against its applied image, one at a time, and
//! commits the records it returns; offline tools plan against the image they replayed. Either
//! way validation lives here once.
//!
//! Invariants:
//! - `plan` is a pure function of the image and the operation (fresh ids and the cluster id come
//!   in the operation, never from inside `plan`), so a forwarded operation plans the same
//!   wherever it runs;
//! - an error means no records; `validate_only` operations always return no records;
//! - the records returned are facts: applying them to the same image cannot fail.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::election;
use crate::error::{MetaError, MetaErrorKind};
use crate::names::{refuse_internal, validate_topic_name};
use crate::record::{BrokerRegistration, MetadataRecord, TopicRecord};
use crate::state::{MetadataState, TopicMeta};
use crate::topic_config;

/// Producer ids are reserved in blocks of this size (as Kafka does).
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// Largest partition count accepted for one topic.
pub const MAX_PARTITIONS: i32 = 10_000;

/// A requested change to cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Operation {
    /// Names the cluster (once; a no-op when it already has an id).
    InitializeCluster {
        /// The new cluster id.
        cluster_id: String,
        /// The node that initialises it (owner of partitions recorded without replicas).
        node_id: i32,
    },
    /// Creates a topic.
    CreateTopic {
        /// Topic name.
        name: String,
        /// Topic id to use (fresh, or kept when restoring from the bucket).
        topic_id: String,
        /// Partition count.
        partitions: i32,
        /// Replication factor.
        replication_factor: i16,
        /// Config overrides.
        configs: BTreeMap<String, String>,
        /// Validate only.
        validate_only: bool,
    },
    /// Creates one of Strata's internal topics (`__consumer_offsets`), which clients may not
    /// create; validated and placed like any topic.
    CreateInternalTopic {
        /// Topic name (one of [`crate::INTERNAL_TOPICS`]).
        name: String,
        /// Topic id to use.
        topic_id: String,
        /// Partition count.
        partitions: i32,
        /// Replication factor.
        replication_factor: i16,
        /// Config overrides.
        configs: BTreeMap<String, String>,
    },
    /// Deletes a topic.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// Grows a topic's partition count.
    IncreasePartitions {
        /// Topic name.
        name: String,
        /// New total.
        total: i32,
        /// Validate only.
        validate_only: bool,
    },
    /// Replaces a topic's config overrides.
    ReplaceConfigs {
        /// Topic name.
        name: String,
        /// The complete new set.
        configs: BTreeMap<String, String>,
        /// Validate only.
        validate_only: bool,
    },
    /// Reserves the next block of producer ids.
    AllocateProducerIds,
    /// Changes a partition's ISR, asked by its leader (Kafka's AlterPartition).
    AlterIsr {
        /// Topic id.
        topic_id: String,
        /// Partition index.
        partition: i32,
        /// The asking leader.
        leader: i32,
        /// The leader epoch it leads in.
        leader_epoch: i32,
        /// The partition epoch its view is based on.
        partition_epoch: i32,
        /// The new ISR.
        isr: Vec<i32>,
    },
    /// Creates or replaces a user's SCRAM credential for one mechanism (AlterUserScramCredentials,
    /// `--add-scram`).
    UpsertScramCredential(crate::record::ScramCredential),
    /// Deletes a user's SCRAM credential for one mechanism.
    DeleteScramCredential {
        /// User name.
        user: String,
        /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
        mechanism: String,
    },
    /// Creates an access-control binding (CreateAcls); creating one that exists changes
    /// nothing.
    CreateAcl(crate::acl::AclBinding),
    /// Deletes an access-control binding (DeleteAcls); deleting one that is gone changes
    /// nothing.
    DeleteAcl(crate::acl::AclBinding),
    /// Registers (or re-registers) a broker and its Kafka listener; a fenced broker is
    /// unfenced and takes back the partitions only it can lead.
    RegisterBroker(BrokerRegistration),
    /// Fences a broker: it missed its heartbeats, or it is shutting down (controlled
    /// shutdown). Its partitions get new leaders from their ISRs.
    FenceBroker {
        /// Node id.
        node_id: i32,
    },
    /// Preferred-leader election for the named partitions (all when `None`).
    ElectPreferred {
        /// `(topic, partition)` pairs, or every partition.
        partitions: Option<Vec<(String, i32)>>,
    },
    /// Starts, replaces or (with `replicas` `None`) cancels the reassignment of one partition
    /// to new replicas (Kafka's AlterPartitionReassignments); see [`crate::reassign`].
    ReassignPartition {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The target replicas, preferred leader first; `None` cancels.
        replicas: Option<Vec<i32>>,
    },
    /// Completes every ongoing reassignment whose target replicas are all in the ISR (the
    /// controller's periodic check; an AlterIsr completes its own partition's).
    CompleteReassignments,
    /// Unfences a broker that heartbeats again.
    UnfenceBroker {
        /// Node id.
        node_id: i32,
    },
    /// Changes nothing: executing it waits until this node has applied everything the leader
    /// had committed (a read barrier).
    Barrier,
    /// Appends records written offline (an upgraded or recovered journal). Planned as-is: the
    /// tool that wrote them validated them against the image it replayed.
    Import {
        /// The records, in order.
        records: Vec<MetadataRecord>,
    },
}

/// What an operation produced, for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Nothing to report.
    Done,
    /// The topic as it is (or would be, when validating only) after the operation.
    Topic(TopicMeta),
    /// A block of producer ids `[first, end)` now belongs to the caller.
    ProducerIds {
        /// First id of the block.
        first: i64,
        /// One past the last id.
        end: i64,
    },
}

/// Validates `op` against `state` and returns the records that carry it out.
pub fn plan(
    state: &MetadataState,
    op: &Operation,
) -> Result<(Vec<MetadataRecord>, Outcome), MetaError> {
    match op {
        Operation::InitializeCluster {
            cluster_id,
            node_id,
        } => {
            if state.cluster_id.is_some() {
                return Ok((Vec::new(), Outcome::Done));
            }
            Ok((
                vec![MetadataRecord::ClusterInitialized {
                    cluster_id: cluster_id.clone(),
                    node_id: *node_id,
                }],
                Outcome::Done,
            ))
        }
        Operation::CreateTopic {
            name,
            topic_id,
            partitions,
            replication_factor,
            configs,
            validate_only,
        } => {
            refuse_internal(name, "created")?;
            let topic = plan_create(
                state,
                name,
                topic_id,
                *partitions,
                *replication_factor,
                configs.clone(),
            )?;
            let records = if *validate_only {
                Vec::new()
            } else {
                vec![MetadataRecord::TopicCreated(topic.clone())]
            };
            Ok((records, Outcome::Topic(topic)))
        }
        Operation::CreateInternalTopic {
            name,
            topic_id,
            partitions,
            replication_factor,
            configs,
        } => {
            if !crate::names::INTERNAL_TOPICS.contains(&name.as_str()) {
                return Err(MetaError::new(
                    MetaErrorKind::InvalidTopic,
                    format!("'{name}' is not an internal topic"),
                ));
            }
            let topic = plan_create(
                state,
                name,
                topic_id,
                *partitions,
                *replication_factor,
                configs.clone(),
            )?;
            Ok((
                vec![MetadataRecord::TopicCreated(topic.clone())],
                Outcome::Topic(topic),
            ))
        }
        Operation::DeleteTopic { name } => {
            refuse_internal(name, "deleted")?;
            let topic = existing(state, name)?.clone();
            Ok((
                vec![MetadataRecord::TopicDeleted {
                    topic_id: topic.topic_id.clone(),
                }],
                Outcome::Topic(topic),
            ))
        }
        Operation::IncreasePartitions {
            name,
            total,
            validate_only,
        } => {
            refuse_internal(name, "altered")?;
            let topic = existing(state, name)?.clone();
            let total = *total;
            if total <= topic.partitions {
                let msg = if total == topic.partitions {
                    format!("Topic already has {total} partitions.")
                } else {
                    format!(
                        "Topic currently has {} partitions, which is higher than the requested {total}.",
                        topic.partitions
                    )
                };
                return Err(MetaError::new(MetaErrorKind::InvalidPartitions, msg));
            }
            check_partition_count(total)?;
            let added = assign(
                &broker_ids(state),
                &topic.topic_id,
                topic.partitions,
                total,
                topic.replication_factor.max(1),
            );
            let mut grown = topic.clone();
            grown.replicas = (0..topic.partitions)
                .map(|p| state.replicas(&topic, p))
                .chain(added.iter().cloned())
                .collect();
            grown.partitions = total;
            let records = if *validate_only {
                Vec::new()
            } else {
                vec![MetadataRecord::PartitionsIncreased {
                    topic_id: topic.topic_id.clone(),
                    partitions: total,
                    replicas: added,
                }]
            };
            Ok((records, Outcome::Topic(grown)))
        }
        Operation::ReplaceConfigs {
            name,
            configs,
            validate_only,
        } => {
            refuse_internal(name, "altered")?;
            let topic = existing(state, name)?.clone();
            let configs = normalize_configs(configs.clone())?;
            let records = if !*validate_only && configs != topic.configs {
                vec![MetadataRecord::TopicConfigsReplaced {
                    topic_id: topic.topic_id.clone(),
                    configs: configs.clone(),
                }]
            } else {
                Vec::new()
            };
            Ok((records, Outcome::Topic(TopicMeta { configs, ..topic })))
        }
        Operation::AllocateProducerIds => {
            let first = state.next_producer_id;
            let end = first + PRODUCER_ID_BLOCK;
            Ok((
                vec![MetadataRecord::ProducerIdsAllocated { next: end }],
                Outcome::ProducerIds { first, end },
            ))
        }
        Operation::UpsertScramCredential(c) => {
            crate::scram::validate(c)?;
            let same = state.scram.get(&c.user).and_then(|m| m.get(&c.mechanism)) == Some(c);
            let records = if same {
                Vec::new()
            } else {
                vec![MetadataRecord::ScramCredentialUpserted(c.clone())]
            };
            Ok((records, Outcome::Done))
        }
        Operation::DeleteScramCredential { user, mechanism } => {
            if state
                .scram
                .get(user)
                .and_then(|m| m.get(mechanism))
                .is_none()
            {
                return Err(MetaError::new(
                    MetaErrorKind::ResourceNotFound,
                    format!("no {mechanism} credential for user {user}"),
                ));
            }
            Ok((
                vec![MetadataRecord::ScramCredentialDeleted {
                    user: user.clone(),
                    mechanism: mechanism.clone(),
                }],
                Outcome::Done,
            ))
        }
        Operation::CreateAcl(b) => {
            crate::acl::validate(b)?;
            let records = if state.acls.contains(b) {
                Vec::new()
            } else {
                vec![MetadataRecord::AclCreated(b.clone())]
            };
            Ok((records, Outcome::Done))
        }
        Operation::DeleteAcl(b) => {
            let records = if state.acls.contains(b) {
                vec![MetadataRecord::AclDeleted(b.clone())]
            } else {
                Vec::new()
            };
            Ok((records, Outcome::Done))
        }
        Operation::RegisterBroker(registration) => {
            let mut records = Vec::new();
            if state.brokers.get(&registration.node_id) != Some(registration) {
                records.push(MetadataRecord::BrokerRegistered(registration.clone()));
            }
            records.extend(election::unfence(state, registration.node_id));
            Ok((records, Outcome::Done))
        }
        Operation::FenceBroker { node_id } => {
            if !state.brokers.contains_key(node_id) || state.fenced.contains(node_id) {
                return Ok((Vec::new(), Outcome::Done));
            }
            Ok((election::fence(state, *node_id), Outcome::Done))
        }
        Operation::ElectPreferred { partitions } => Ok((
            election::elect_preferred(state, partitions.as_deref()),
            Outcome::Done,
        )),
        Operation::UnfenceBroker { node_id } => {
            if !state.fenced.contains(node_id) {
                return Ok((Vec::new(), Outcome::Done));
            }
            Ok((election::unfence(state, *node_id), Outcome::Done))
        }
        Operation::ReassignPartition {
            topic,
            partition,
            replicas,
        } => Ok((
            crate::reassign::plan(state, topic, *partition, replicas.as_deref())?,
            Outcome::Done,
        )),
        Operation::CompleteReassignments => {
            Ok((crate::reassign::complete_ready(state), Outcome::Done))
        }
        Operation::Barrier => Ok((Vec::new(), Outcome::Done)),
        Operation::AlterIsr {
            topic_id,
            partition,
            leader,
            leader_epoch,
            partition_epoch,
            isr,
        } => plan_alter_isr(
            state,
            topic_id,
            *partition,
            *leader,
            *leader_epoch,
            *partition_epoch,
            isr,
        ),
        Operation::Import { records } => Ok((importable(state, records), Outcome::Done)),
    }
}

/// The records of an offline journal that still make sense on top of `state`: a journal written
/// offline names a cluster of its own when it starts empty (the cluster keeps its id), and a
/// topic it creates that the image already has (by name or id) is skipped.
fn importable(state: &MetadataState, records: &[MetadataRecord]) -> Vec<MetadataRecord> {
    let mut image = state.clone();
    let mut out = Vec::new();
    for r in records {
        let keep = match r {
            MetadataRecord::ClusterInitialized { .. } => image.cluster_id.is_none(),
            MetadataRecord::TopicCreated(t) => {
                !image.topics.contains_key(&t.name) && image.topic_by_id(&t.topic_id).is_none()
            }
            _ => true,
        };
        if keep {
            image.apply(r);
            out.push(r.clone());
        }
    }
    out
}

fn plan_alter_isr(
    state: &MetadataState,
    topic_id: &str,
    partition: i32,
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &[i32],
) -> Result<(Vec<MetadataRecord>, Outcome), MetaError> {
    let topic = state
        .topic_by_id(topic_id)
        .filter(|t| (0..t.partitions).contains(&partition))
        .ok_or_else(|| {
            MetaError::new(
                MetaErrorKind::UnknownTopic,
                format!("no partition {partition} of topic id {topic_id}"),
            )
        })?;
    let current = state.leadership(topic, partition);
    if current.leader != leader || current.leader_epoch != leader_epoch {
        return Err(MetaError::new(
            MetaErrorKind::FencedLeaderEpoch,
            format!(
                "node {leader} at epoch {leader_epoch} no longer leads (leader {} at epoch {})",
                current.leader, current.leader_epoch
            ),
        ));
    }
    if current.partition_epoch != partition_epoch {
        return Err(MetaError::new(
            MetaErrorKind::StaleUpdate,
            format!(
                "partition epoch {partition_epoch} is stale (now {})",
                current.partition_epoch
            ),
        ));
    }
    let replicas = state.replicas(topic, partition);
    if !isr.contains(&leader) || isr.iter().any(|r| !replicas.contains(r)) {
        return Err(MetaError::new(
            MetaErrorKind::InvalidRequest,
            format!("ISR {isr:?} must hold the leader and only replicas {replicas:?}"),
        ));
    }
    // An ISR that now holds every target replica of an ongoing reassignment completes it.
    Ok((
        vec![crate::reassign::isr_changed(
            state, topic, partition, &current, isr,
        )],
        Outcome::Done,
    ))
}

fn plan_create(
    state: &MetadataState,
    name: &str,
    topic_id: &str,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
) -> Result<TopicRecord, MetaError> {
    if state.topic_by_id(topic_id).is_some() {
        return Err(MetaError::new(
            MetaErrorKind::TopicExists,
            format!("A topic with id {topic_id} already exists."),
        ));
    }
    validate_topic_name(name)?;
    if state.topics.contains_key(name) {
        return Err(MetaError::new(
            MetaErrorKind::TopicExists,
            format!("Topic '{name}' already exists."),
        ));
    }
    if let Some(other) = colliding_topic(state, name) {
        return Err(MetaError::new(
            MetaErrorKind::InvalidTopic,
            format!("Topic '{name}' collides with existing topic: {other}"),
        ));
    }
    check_partition_count(partitions)?;
    let brokers = broker_ids(state);
    if replication_factor < 1 || replication_factor as usize > brokers.len() {
        return Err(MetaError::new(
            MetaErrorKind::InvalidReplicationFactor,
            format!(
                "Replication factor: {replication_factor} larger than available brokers: {}.",
                brokers.len()
            ),
        ));
    }
    Ok(TopicRecord {
        topic_id: topic_id.to_string(),
        name: name.to_string(),
        partitions,
        replication_factor,
        configs: normalize_configs(configs)?,
        replicas: assign(&brokers, topic_id, 0, partitions, replication_factor),
        leadership: Vec::new(),
    })
}

/// The live (registered, unfenced) brokers' ids, sorted; a cluster with none yet counts its
/// initialising node.
fn broker_ids(state: &MetadataState) -> Vec<i32> {
    let live: Vec<i32> = state
        .brokers
        .keys()
        .copied()
        .filter(|&b| state.is_live(b))
        .collect();
    if live.is_empty() {
        vec![state.node_id]
    } else {
        live
    }
}

/// Round-robin replica assignment of partitions `from..to`, as Kafka's: partition `p`'s
/// preferred leader is broker `(start + p) mod n`, its followers the next brokers in order.
/// `start` comes from the topic id, so topics spread over brokers and planning stays pure.
fn assign(brokers: &[i32], topic_id: &str, from: i32, to: i32, rf: i16) -> Vec<Vec<i32>> {
    let n = brokers.len().max(1);
    let start = topic_id
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
        % n;
    (from..to)
        .map(|p| {
            (0..rf as usize)
                .map(|r| brokers[(start + p as usize + r) % n])
                .collect()
        })
        .collect()
}

fn existing<'a>(state: &'a MetadataState, name: &str) -> Result<&'a TopicMeta, MetaError> {
    state.topics.get(name).ok_or_else(|| {
        MetaError::new(
            MetaErrorKind::UnknownTopic,
            format!("This server does not host this topic: {name}"),
        )
    })
}

/// Kafka refuses topics whose names differ only by '.' vs '_' (metric name collisions).
fn colliding_topic(state: &MetadataState, name: &str) -> Option<String> {
    let norm = name.replace('.', "_");
    state
        .topics
        .keys()
        .find(|k| k.replace('.', "_") == norm)
        .cloned()
}

/// Normalizes every override (see [`topic_config::normalize`]).
fn normalize_configs(
    configs: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, MetaError> {
    configs
        .into_iter()
        .map(|(k, v)| {
            let value = topic_config::normalize(&k, &v)?;
            Ok((k.trim().to_string(), value))
        })
        .collect()
}

fn check_partition_count(n: i32) -> Result<(), MetaError> {
    if !(1..=MAX_PARTITIONS).contains(&n) {
        return Err(MetaError::new(
            MetaErrorKind::InvalidPartitions,
            format!("Number of partitions must be between 1 and {MAX_PARTITIONS}, got {n}."),
        ));
    }
    Ok(())
}

/// A fresh Kafka-style cluster id: a UUID in URL-safe base64 without padding (22 characters).
pub fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = String::with_capacity(22);
    for b in bytes {
        bits = (bits << 8) | b as u32;
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out
}

/// A fresh topic id (UUID, hyphenated).
pub fn new_topic_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
