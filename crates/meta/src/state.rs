//! The in-memory metadata image: the fold of all journal records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{
    BrokerRegistration, MetadataRecord, PartitionLeadership, Reassignment, TopicRecord,
};

/// A topic in the current image.
pub type TopicMeta = TopicRecord;

/// The metadata image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataState {
    /// Cluster id, once initialised.
    pub cluster_id: Option<String>,
    /// Node id, once initialised.
    pub node_id: i32,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMeta>,
    /// First producer id not yet allocated.
    pub next_producer_id: i64,
    /// Registered brokers by node id.
    #[serde(default)]
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// Registered brokers that are fenced (missed heartbeats, or shut down).
    #[serde(default)]
    pub fenced: std::collections::BTreeSet<i32>,
    /// Ongoing partition reassignments: topic id → partition → reassignment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reassignments: BTreeMap<String, BTreeMap<i32, Reassignment>>,
    /// SCRAM credentials: user → mechanism → credential.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scram: BTreeMap<String, BTreeMap<String, crate::record::ScramCredential>>,
    /// Access-control bindings (CreateAcls), each once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub acls: std::collections::BTreeSet<crate::acl::AclBinding>,
}

impl MetadataState {
    /// Applies one record. Records are facts, validated before they were written; a record
    /// naming a topic id that no longer exists changes nothing.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::ClusterInitialized {
                cluster_id,
                node_id,
            } => {
                self.cluster_id = Some(cluster_id.clone());
                self.node_id = *node_id;
            }
            MetadataRecord::TopicCreated(t) => {
                self.topics.insert(t.name.clone(), t.clone());
            }
            MetadataRecord::PartitionsIncreased {
                topic_id,
                partitions,
                replicas,
            } => {
                let legacy = self.node_id;
                if let Some(t) = self.topic_by_id_mut(topic_id) {
                    if !replicas.is_empty() {
                        // Spell out the old partitions' owner before appending the new ones.
                        while (t.replicas.len() as i32) < t.partitions {
                            t.replicas.push(vec![legacy]);
                        }
                        t.replicas.truncate(t.partitions.max(0) as usize);
                        t.replicas.extend(replicas.iter().cloned());
                    }
                    t.partitions = *partitions;
                }
            }
            MetadataRecord::TopicConfigsReplaced { topic_id, configs } => {
                if let Some(t) = self.topic_by_id_mut(topic_id) {
                    t.configs = configs.clone();
                }
            }
            MetadataRecord::PartitionChanged {
                topic_id,
                partition,
                leadership,
            } => {
                let legacy = self.node_id;
                if let Some(t) = self.topic_by_id_mut(topic_id) {
                    if (0..t.partitions).contains(partition) {
                        let p = *partition as usize;
                        while t.leadership.len() <= p {
                            let i = t.leadership.len();
                            let replicas = replicas_of(t, i as i32, legacy);
                            t.leadership.push(PartitionLeadership::initial(&replicas));
                        }
                        t.leadership[p] = leadership.clone();
                    }
                }
            }
            MetadataRecord::PartitionReassigned {
                topic_id,
                partition,
                replicas,
                reassignment,
                leadership,
            } => {
                let legacy = self.node_id;
                let Some(t) = self.topic_by_id_mut(topic_id) else {
                    return;
                };
                if !(0..t.partitions).contains(partition) {
                    return;
                }
                let p = *partition as usize;
                while t.leadership.len() <= p {
                    let i = t.leadership.len();
                    let replicas = replicas_of(t, i as i32, legacy);
                    t.leadership.push(PartitionLeadership::initial(&replicas));
                }
                t.leadership[p] = leadership.clone();
                // Spell out the other partitions' owner before changing this one.
                while (t.replicas.len() as i32) < t.partitions {
                    t.replicas.push(vec![legacy]);
                }
                t.replicas[p] = replicas.clone();
                match reassignment {
                    Some(r) => {
                        self.reassignments
                            .entry(topic_id.clone())
                            .or_default()
                            .insert(*partition, r.clone());
                    }
                    None => {
                        if let Some(parts) = self.reassignments.get_mut(topic_id) {
                            parts.remove(partition);
                            if parts.is_empty() {
                                self.reassignments.remove(topic_id);
                            }
                        }
                    }
                }
            }
            MetadataRecord::TopicDeleted { topic_id } => {
                self.topics.retain(|_, t| &t.topic_id != topic_id);
                self.reassignments.remove(topic_id);
            }
            MetadataRecord::ScramCredentialUpserted(c) => {
                self.scram
                    .entry(c.user.clone())
                    .or_default()
                    .insert(c.mechanism.clone(), c.clone());
            }
            MetadataRecord::ScramCredentialDeleted { user, mechanism } => {
                if let Some(m) = self.scram.get_mut(user) {
                    m.remove(mechanism);
                    if m.is_empty() {
                        self.scram.remove(user);
                    }
                }
            }
            MetadataRecord::AclCreated(b) => {
                self.acls.insert(b.clone());
            }
            MetadataRecord::AclDeleted(b) => {
                self.acls.remove(b);
            }
            MetadataRecord::BrokerRegistered(b) => {
                self.brokers.insert(b.node_id, b.clone());
            }
            MetadataRecord::BrokerFenced { node_id } => {
                self.fenced.insert(*node_id);
            }
            MetadataRecord::BrokerUnfenced { node_id } => {
                self.fenced.remove(node_id);
            }
            MetadataRecord::ProducerIdsAllocated { next } => {
                self.next_producer_id = self.next_producer_id.max(*next);
            }
        }
    }

    /// Looks a topic up by name.
    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    /// The replicas of partition `p` of `topic`, preferred leader first.
    pub fn replicas(&self, topic: &TopicMeta, p: i32) -> Vec<i32> {
        replicas_of(topic, p, self.node_id)
    }

    /// The leadership of partition `p` of `topic` (the initial one until it changed).
    pub fn leadership(&self, topic: &TopicMeta, p: i32) -> PartitionLeadership {
        match topic.leadership.get(p as usize) {
            Some(l) => l.clone(),
            None => PartitionLeadership::initial(&self.replicas(topic, p)),
        }
    }

    /// The ongoing reassignment of partition `p` of `topic`, if any.
    pub fn reassignment(&self, topic: &TopicMeta, p: i32) -> Option<&Reassignment> {
        self.reassignments.get(&topic.topic_id)?.get(&p)
    }

    /// True when `node` holds a replica of partition `p` of `topic`.
    pub fn is_replica(&self, topic: &TopicMeta, p: i32, node: i32) -> bool {
        self.replicas(topic, p).contains(&node)
    }

    /// Partitions with a replica on `node`, over all user topics (internal topics such as
    /// `__consumer_offsets` are not counted against `max.broker.partitions`).
    pub fn partitions_on(&self, node: i32) -> i64 {
        self.topics
            .values()
            .filter(|t| !crate::names::is_internal_topic(&t.name))
            .map(|t| {
                (0..t.partitions)
                    .filter(|&p| self.is_replica(t, p, node))
                    .count() as i64
            })
            .sum()
    }

    /// True when `node` is registered and not fenced.
    pub fn is_live(&self, node: i32) -> bool {
        self.brokers.contains_key(&node) && !self.fenced.contains(&node)
    }

    /// Looks a topic up by id.
    pub fn topic_by_id(&self, topic_id: &str) -> Option<&TopicMeta> {
        self.topics.values().find(|t| t.topic_id == topic_id)
    }

    fn topic_by_id_mut(&mut self, topic_id: &str) -> Option<&mut TopicMeta> {
        self.topics.values_mut().find(|t| t.topic_id == topic_id)
    }
}

fn replicas_of(topic: &TopicMeta, p: i32, legacy_owner: i32) -> Vec<i32> {
    match topic.replicas.get(p as usize) {
        Some(r) if !r.is_empty() => r.clone(),
        _ => vec![legacy_owner],
    }
}
