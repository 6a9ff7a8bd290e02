//! The metadata records. Each journal entry holds one record as JSON; the journal's header
//! carries the format version (see `migrations/FORMATS.md`).
//!
//! Invariant: records are facts, not requests: applying a record never fails once it has been
//! validated and written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who leads a partition and who is in sync, as the quorum last agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLeadership {
    /// The leader's node id (-1: no leader, the partition is offline).
    pub leader: i32,
    /// The leader epoch (grows with every leader change).
    pub leader_epoch: i32,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Grows with every change of this partition's leadership or ISR (Kafka's partition
    /// epoch); an ISR change names the epoch it is based on, and a stale one is refused.
    pub partition_epoch: i32,
}

impl PartitionLeadership {
    /// A new partition: its preferred replica leads at epoch 0, every replica in sync.
    pub fn initial(replicas: &[i32]) -> PartitionLeadership {
        PartitionLeadership {
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            isr: replicas.to_vec(),
            partition_epoch: 0,
        }
    }
}

/// A topic as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Topic id (UUID, hyphenated).
    pub topic_id: String,
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor (1 until replication lands).
    pub replication_factor: i16,
    /// Config overrides (Kafka names → values).
    pub configs: BTreeMap<String, String>,
    /// Replica assignment per partition (node ids, preferred leader first). Empty in records
    /// written before the cluster existed: every partition then lives on the node that
    /// initialised the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Vec<i32>>,
    /// Leadership per partition as last changed (empty entries, or none: the initial one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leadership: Vec<PartitionLeadership>,
}

/// An ongoing reassignment of one partition (Kafka's KIP-455): where it came from and where it
/// is going. While it lasts the partition's replicas are `target` followed by the replicas
/// being removed, so both sets are hosted and the new replicas catch up through the normal fetch
/// path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// The replicas before the reassignment started, in their order: what cancelling returns
    /// to.
    pub original: Vec<i32>,
    /// The replicas asked for, preferred leader first: what completing leaves.
    pub target: Vec<i32>,
}

impl Reassignment {
    /// Replicas being added: in the target but not in the original set.
    pub fn adding(&self) -> Vec<i32> {
        self.target
            .iter()
            .copied()
            .filter(|r| !self.original.contains(r))
            .collect()
    }

    /// Replicas being removed from `replicas` (the partition's current set): not in the
    /// target.
    pub fn removing(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| !self.target.contains(r))
            .collect()
    }
}

/// A broker as registered with the quorum: its id and where clients reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised Kafka listener host.
    pub host: String,
    /// Advertised Kafka listener port.
    pub port: i32,
    /// `broker.rack`, if set.
    #[serde(default)]
    pub rack: Option<String>,
    /// Every listener's advertised address, so Metadata answers each client with the
    /// addresses of the listener it came in on. Empty in records written before listeners
    /// were named (and omitted when empty): `host`/`port` then serve every listener.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
}

/// A user's salted SCRAM credential for one mechanism (RFC 5802): never the password. The
/// byte strings are base64 (standard alphabet, padded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// User name.
    pub user: String,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// The salt.
    pub salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: String,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: String,
}

/// One listener's advertised address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The listener's name (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub listener: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

impl BrokerRegistration {
    /// Where clients of `listener` reach this broker: its endpoint for that listener; the
    /// registered host and port when it names no listeners (older records); `None` when it
    /// names listeners but not this one (Kafka leaves such a broker out of Metadata).
    pub fn address_for(&self, listener: &str) -> Option<(&str, i32)> {
        if self.endpoints.is_empty() {
            return Some((&self.host, self.port));
        }
        self.endpoints
            .iter()
            .find(|e| e.listener == listener)
            .map(|e| (e.host.as_str(), e.port))
    }
}

/// One change to cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The cluster was initialised (first record of every journal).
    ClusterInitialized {
        /// Cluster id reported in Metadata and DescribeCluster.
        cluster_id: String,
        /// This node's id.
        node_id: i32,
    },
    /// A topic was created.
    TopicCreated(TopicRecord),
    /// A topic's partition count grew to `partitions`.
    PartitionsIncreased {
        /// Topic id.
        topic_id: String,
        /// New total partition count.
        partitions: i32,
        /// Replica assignment of the new partitions, in order (empty in older records).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        replicas: Vec<Vec<i32>>,
    },
    /// A topic's config overrides were replaced by `configs`.
    TopicConfigsReplaced {
        /// Topic id.
        topic_id: String,
        /// The complete new set of overrides.
        configs: BTreeMap<String, String>,
    },
    /// A partition's leader, leader epoch or ISR changed.
    PartitionChanged {
        /// Topic id.
        topic_id: String,
        /// Partition index.
        partition: i32,
        /// The new leadership.
        leadership: PartitionLeadership,
    },
    /// A partition's replica set changed (AlterPartitionReassignments): a reassignment started
    /// or was replaced (`reassignment` is the ongoing one), or it completed or was cancelled
    /// (`reassignment` absent). Carries the partition's leadership from now on.
    PartitionReassigned {
        /// Topic id.
        topic_id: String,
        /// Partition index.
        partition: i32,
        /// The replica set from now on, preferred leader first.
        replicas: Vec<i32>,
        /// The ongoing reassignment; absent when this record ends one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reassignment: Option<Reassignment>,
        /// The new leadership.
        leadership: PartitionLeadership,
    },
    /// A topic was deleted.
    TopicDeleted {
        /// Topic id.
        topic_id: String,
    },
    /// A broker registered (or changed its listener).
    BrokerRegistered(BrokerRegistration),
    /// A broker missed its heartbeats (or shut down): it leads nothing and is not listed.
    BrokerFenced {
        /// Node id.
        node_id: i32,
    },
    /// A fenced broker is back (it registered or heartbeats again).
    BrokerUnfenced {
        /// Node id.
        node_id: i32,
    },
    /// A user's SCRAM credential for one mechanism was created or replaced.
    ScramCredentialUpserted(ScramCredential),
    /// A user's SCRAM credential for one mechanism was deleted.
    ScramCredentialDeleted {
        /// User name.
        user: String,
        /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
        mechanism: String,
    },
    /// An access-control binding was created (CreateAcls).
    AclCreated(crate::acl::AclBinding),
    /// An access-control binding was deleted (DeleteAcls).
    AclDeleted(crate::acl::AclBinding),
    /// Producer ids below `next` are handed out.
    ProducerIdsAllocated {
        /// First producer id not yet allocated.
        next: i64,
    },
}
