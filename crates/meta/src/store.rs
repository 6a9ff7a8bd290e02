//! The metadata store: journal plus image, and the validated operations that change them.
//!
//! Invariant: every method validates first, then appends the record durably, then applies it.
//! `validate_only` runs the validation and stops.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{MetaError, MetaErrorKind};
use crate::journal::Journal;
use crate::names::{refuse_internal, validate_topic_name};
use crate::record::{MetadataRecord, TopicRecord};
use crate::state::{MetadataState, TopicMeta};
use crate::topic_config;

/// Producer ids are reserved in the journal in blocks of this size (as Kafka does).
const PRODUCER_ID_BLOCK: i64 = 1000;
/// Largest partition count accepted for one topic.
const MAX_PARTITIONS: i32 = 10_000;

/// The durable metadata store of one node.
#[derive(Debug)]
pub struct MetadataStore {
    journal: Journal,
    state: MetadataState,
    next_producer_id: i64,
}

impl MetadataStore {
    /// Opens the journal under `dir` (created if missing), replays it, and initialises the
    /// cluster on first start.
    pub fn open(dir: &Path, node_id: i32) -> Result<MetadataStore, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::io(format!("create {}", dir.display()), e))?;
        let (journal, records) = Journal::open(&dir.join("metadata.log"))?;
        let mut state = MetadataState::default();
        for r in &records {
            state.apply(r);
        }
        let next_producer_id = state.next_producer_id;
        let mut store = MetadataStore {
            journal,
            state,
            next_producer_id,
        };
        if store.state.cluster_id.is_none() {
            store.commit(MetadataRecord::ClusterInitialized {
                cluster_id: new_cluster_id(),
                node_id,
            })?;
        }
        tracing::info!(
            records = records.len(),
            topics = store.state.topics.len(),
            "metadata replayed"
        );
        Ok(store)
    }

    /// The current image.
    pub fn state(&self) -> &MetadataState {
        &self.state
    }

    /// Looks a topic up by name.
    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.state.topics.get(name)
    }

    /// Creates a topic with a fresh topic id.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, MetaError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.create_topic_with_id(
            name,
            &id,
            partitions,
            replication_factor,
            configs,
            validate_only,
        )
    }

    /// Creates a topic with a given id (restoring a topic whose data lives in the bucket under
    /// that id).
    pub fn create_topic_with_id(
        &mut self,
        name: &str,
        topic_id: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, MetaError> {
        if self.state.topic_by_id(topic_id).is_some() {
            return Err(MetaError::new(
                MetaErrorKind::TopicExists,
                format!("A topic with id {topic_id} already exists."),
            ));
        }
        validate_topic_name(name)?;
        refuse_internal(name, "created")?;
        if self.state.topics.contains_key(name) {
            return Err(MetaError::new(
                MetaErrorKind::TopicExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        if let Some(other) = self.colliding_topic(name) {
            return Err(MetaError::new(
                MetaErrorKind::InvalidTopic,
                format!("Topic '{name}' collides with existing topic: {other}"),
            ));
        }
        check_partition_count(partitions)?;
        if replication_factor != 1 {
            return Err(MetaError::new(
                MetaErrorKind::InvalidReplicationFactor,
                format!(
                    "Replication factor: {replication_factor} larger than available brokers: 1."
                ),
            ));
        }
        let configs = normalize_configs(configs)?;
        let topic = TopicRecord {
            topic_id: topic_id.to_string(),
            name: name.to_string(),
            partitions,
            replication_factor,
            configs,
        };
        if !validate_only {
            self.commit(MetadataRecord::TopicCreated(topic.clone()))?;
        }
        Ok(topic)
    }

    /// Deletes a topic, returning what it was.
    pub fn delete_topic(&mut self, name: &str) -> Result<TopicMeta, MetaError> {
        refuse_internal(name, "deleted")?;
        let topic = self.existing(name)?.clone();
        self.commit(MetadataRecord::TopicDeleted {
            topic_id: topic.topic_id.clone(),
        })?;
        Ok(topic)
    }

    /// Grows a topic to `total` partitions.
    pub fn increase_partitions(
        &mut self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, MetaError> {
        refuse_internal(name, "altered")?;
        let topic = self.existing(name)?.clone();
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
        if !validate_only {
            self.commit(MetadataRecord::PartitionsIncreased {
                topic_id: topic.topic_id.clone(),
                partitions: total,
            })?;
        }
        Ok(TopicMeta {
            partitions: total,
            ..topic
        })
    }

    /// Replaces a topic's config overrides with `configs` (validated).
    pub fn replace_configs(
        &mut self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, MetaError> {
        refuse_internal(name, "altered")?;
        let topic = self.existing(name)?.clone();
        let configs = normalize_configs(configs)?;
        if !validate_only && configs != topic.configs {
            self.commit(MetadataRecord::TopicConfigsReplaced {
                topic_id: topic.topic_id.clone(),
                configs: configs.clone(),
            })?;
        }
        Ok(TopicMeta { configs, ..topic })
    }

    /// Hands out a new producer id, reserving a block in the journal when needed.
    pub fn allocate_producer_id(&mut self) -> Result<i64, MetaError> {
        if self.next_producer_id >= self.state.next_producer_id {
            self.commit(MetadataRecord::ProducerIdsAllocated {
                next: self.next_producer_id + PRODUCER_ID_BLOCK,
            })?;
        }
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        Ok(id)
    }

    fn existing(&self, name: &str) -> Result<&TopicMeta, MetaError> {
        self.state.topics.get(name).ok_or_else(|| {
            MetaError::new(
                MetaErrorKind::UnknownTopic,
                format!("This server does not host this topic: {name}"),
            )
        })
    }

    /// Kafka refuses topics whose names differ only by '.' vs '_' (metric name collisions).
    fn colliding_topic(&self, name: &str) -> Option<String> {
        let norm = name.replace('.', "_");
        self.state
            .topics
            .keys()
            .find(|k| k.replace('.', "_") == norm)
            .cloned()
    }

    fn commit(&mut self, record: MetadataRecord) -> Result<(), MetaError> {
        self.journal.append(&record)?;
        self.state.apply(&record);
        Ok(())
    }
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

/// Kafka cluster ids are a UUID in URL-safe base64 without padding (22 characters).
fn new_cluster_id() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operations_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cluster_id;
        let pid;
        {
            let mut s = MetadataStore::open(dir.path(), 0).unwrap();
            cluster_id = s.state().cluster_id.clone().unwrap();
            assert_eq!(cluster_id.len(), 22);
            s.create_topic("a", 2, 1, cfg(&[("retention.ms", "1000")]), false)
                .unwrap();
            s.create_topic("b", 1, 1, BTreeMap::new(), false).unwrap();
            s.create_topic("v", 1, 1, BTreeMap::new(), true).unwrap();
            s.increase_partitions("a", 5, false).unwrap();
            s.replace_configs("a", cfg(&[("cleanup.policy", "compact")]), false)
                .unwrap();
            s.delete_topic("b").unwrap();
            assert_eq!(s.allocate_producer_id().unwrap(), 0);
            pid = s.allocate_producer_id().unwrap();
            assert_eq!(pid, 1);
        }
        let mut s = MetadataStore::open(dir.path(), 0).unwrap();
        assert_eq!(s.state().cluster_id.as_deref(), Some(cluster_id.as_str()));
        let names: Vec<_> = s.state().topics.keys().cloned().collect();
        assert_eq!(names, vec!["a".to_string()]);
        let a = s.topic("a").unwrap();
        assert_eq!(a.partitions, 5);
        assert_eq!(a.configs, cfg(&[("cleanup.policy", "compact")]));
        // The unused rest of the reserved block is skipped, never reissued.
        assert_eq!(s.allocate_producer_id().unwrap(), 1000);
    }

    #[test]
    fn validation_errors_carry_kafka_codes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MetadataStore::open(dir.path(), 0).unwrap();
        let code = |r: Result<TopicMeta, MetaError>| r.unwrap_err().kafka_error_code();
        assert_eq!(
            code(s.create_topic("bad/name", 1, 1, BTreeMap::new(), false)),
            17
        );
        assert_eq!(code(s.create_topic("t", 0, 1, BTreeMap::new(), false)), 37);
        assert_eq!(code(s.create_topic("t", 1, 3, BTreeMap::new(), false)), 38);
        assert_eq!(
            code(s.create_topic("t", 1, 1, cfg(&[("x.y", "1")]), false)),
            40
        );
        s.create_topic("t.x", 1, 1, BTreeMap::new(), false).unwrap();
        assert_eq!(
            code(s.create_topic("t.x", 1, 1, BTreeMap::new(), false)),
            36
        );
        assert_eq!(
            code(s.create_topic("t_x", 1, 1, BTreeMap::new(), false)),
            17
        );
        assert_eq!(code(s.increase_partitions("t.x", 1, false)), 37);
        assert_eq!(code(s.delete_topic("nope")), 3);
    }
}
