//! The offline metadata store: a version-1 journal of records plus its image, changed through
//! the same [`plan`] the quorum uses.
//!
//! The broker keeps metadata in the quorum's Raft log (`strata-quorum`); this store is for
//! tools that run with the broker stopped (`strata meta recover`), and for journals written
//! before the quorum existed. The broker imports the records of a `metadata.log` it finds at
//! start (an upgrade, or a recovery), and renames the file aside.
//!
//! Invariant: every method plans first (validation), then appends the records durably, then
//! applies them. `validate_only` runs the validation and stops.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{MetaError, MetaErrorKind};
use crate::journal::Journal;
use crate::ops::{new_cluster_id, new_topic_id, plan, Operation, Outcome};
use crate::record::MetadataRecord;
use crate::state::{MetadataState, TopicMeta};

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
        Self::open_with_base(dir, node_id, MetadataState::default())
    }

    /// [`MetadataStore::open`] on top of `base`, the image the quorum's log holds (so that an
    /// offline tool validates against the real cluster; what it writes here is imported by the
    /// broker at its next start).
    pub fn open_with_base(
        dir: &Path,
        node_id: i32,
        base: MetadataState,
    ) -> Result<MetadataStore, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::io(format!("create {}", dir.display()), e))?;
        let (journal, records) = Journal::open(&dir.join("metadata.log"))?;
        let mut state = base;
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
            store.commit(vec![MetadataRecord::ClusterInitialized {
                cluster_id: new_cluster_id(),
                node_id,
            }])?;
        }
        tracing::info!(
            records = records.len(),
            topics = store.state.topics.len(),
            "metadata replayed"
        );
        Ok(store)
    }

    /// Opens the journal at `path` read-only and returns its records (for import).
    pub fn read_records(path: &Path) -> Result<Vec<MetadataRecord>, MetaError> {
        let (_, records) = Journal::open(path)?;
        Ok(records)
    }

    /// The current image.
    pub fn state(&self) -> &MetadataState {
        &self.state
    }

    /// Looks a topic up by name.
    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.state.topics.get(name)
    }

    /// Plans `op`, journals its records and applies them.
    pub fn execute(&mut self, op: &Operation) -> Result<Outcome, MetaError> {
        let (records, outcome) = plan(&self.state, op)?;
        self.commit(records)?;
        Ok(outcome)
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
        self.create_topic_with_id(
            name,
            &new_topic_id(),
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
        topic_of(self.execute(&Operation::CreateTopic {
            name: name.to_string(),
            topic_id: topic_id.to_string(),
            partitions,
            replication_factor,
            configs,
            validate_only,
        })?)
    }

    /// Deletes a topic, returning what it was.
    pub fn delete_topic(&mut self, name: &str) -> Result<TopicMeta, MetaError> {
        topic_of(self.execute(&Operation::DeleteTopic {
            name: name.to_string(),
        })?)
    }

    /// Grows a topic to `total` partitions.
    pub fn increase_partitions(
        &mut self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, MetaError> {
        topic_of(self.execute(&Operation::IncreasePartitions {
            name: name.to_string(),
            total,
            validate_only,
        })?)
    }

    /// Replaces a topic's config overrides with `configs` (validated).
    pub fn replace_configs(
        &mut self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, MetaError> {
        topic_of(self.execute(&Operation::ReplaceConfigs {
            name: name.to_string(),
            configs,
            validate_only,
        })?)
    }

    /// Hands out a new producer id, reserving a block in the journal when needed.
    pub fn allocate_producer_id(&mut self) -> Result<i64, MetaError> {
        if self.next_producer_id >= self.state.next_producer_id {
            if let Outcome::ProducerIds { first, .. } =
                self.execute(&Operation::AllocateProducerIds)?
            {
                self.next_producer_id = self.next_producer_id.max(first);
            }
        }
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        Ok(id)
    }

    fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<(), MetaError> {
        for record in &records {
            self.journal.append(record)?;
            self.state.apply(record);
        }
        Ok(())
    }
}

fn topic_of(outcome: Outcome) -> Result<TopicMeta, MetaError> {
    match outcome {
        Outcome::Topic(t) => Ok(t),
        other => Err(MetaError::new(
            MetaErrorKind::InvalidRequest,
            format!("unexpected outcome {other:?}"),
        )),
    }
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
