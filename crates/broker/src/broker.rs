//! The broker's shared state: metadata store, hosted partitions, the group-commit flusher.
//!
//! Invariants:
//! - lock order is `meta` before `partitions`; neither is held across an `.await`;
//! - topic changes are atomic: creating a topic or adding partitions opens (creates) every new
//!   partition log *before* the change is journaled and made visible; if any log cannot be
//!   created, the new directories are removed and nothing is journaled. A crash between the two
//!   leaves unowned directories, which the next start renames aside as stray (never deletes);
//! - a deleted topic is journaled first, then its directories are renamed to `*-delete`
//!   (atomic) and removed, so a topic re-created under the same name never sees old segments;
//! - startup never removes a directory that metadata does not own (see [`crate::dirs`]);
//! - the broker hosts at most `max.broker.partitions` partitions (POLICY_VIOLATION beyond).
//! - a partition whose log fails to open at startup does not stop the broker: it becomes an
//!   offline placeholder (KAFKA_STORAGE_ERROR, `strata_offline_partitions`), its directory
//!   untouched (owned, never swept), until a restart opens it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strata_log::PartitionLog;
use strata_meta::{MetaError, MetaErrorKind, MetadataStore, TopicMeta};
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::dirs::{partition_dir, remove_partition_dir, sweep_unowned};
use crate::error::BrokerError;
use crate::log_config::log_config;
use crate::partition::{OfflinePartitions, Partition, TopicPartition, KAFKA_STORAGE_ERROR};
use crate::producer_ids::ProducerEpochs;
use crate::topic_settings;

/// Name of the metadata directory inside the data dir.
pub const META_DIR: &str = "__cluster_metadata";

/// The broker.
#[derive(Debug)]
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    meta: Mutex<MetadataStore>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Partitions that failed to open at startup (KAFKA_STORAGE_ERROR until restart).
    offline: OfflinePartitions,
    /// The group-commit flusher of the data directory (`flusher.rs`).
    pub flusher: crate::flusher::Flusher,
    shutdown_tx: watch::Sender<bool>,
    /// The consumer-group coordinator (state in `<data dir>/__consumer_offsets-<p>/`).
    pub group: Arc<strata_group::GroupCoordinator>,
    tier: std::sync::OnceLock<Arc<strata_tier::Tier>>,
    producer_epochs: Mutex<ProducerEpochs>,
}

impl Broker {
    /// Opens the data directory: replays metadata, recovers every partition log, and removes
    /// directories no topic owns.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| BrokerError::io(format!("create {}", data_dir.display()), e))?;
        let meta = MetadataStore::open(&data_dir.join(META_DIR), config.node_id)?;
        let now = now_ms();
        let mut partitions = HashMap::new();
        let offline = OfflinePartitions::default();
        let recovery_points = crate::recovery_points::read(&data_dir);
        let high_watermarks = crate::high_watermarks::read(&data_dir);
        for topic in meta.state().topics.values() {
            for p in 0..topic.partitions {
                let tp = (topic.name.clone(), p);
                let rp = recovery_points.get(&tp).copied();
                // One partition that cannot open goes offline; the rest of the broker serves.
                match open_partition(&config, &data_dir, topic, p, now, rp) {
                    Ok(part) => {
                        if let Some(&hw) = high_watermarks.get(&tp) {
                            // Only a replicated log takes its high watermark from outside.
                            let mut log = part.log();
                            if log.is_replicated() {
                                log.set_high_watermark(hw);
                            }
                        }
                        partitions.insert(tp, Arc::new(part));
                    }
                    Err(e) => {
                        tracing::error!(topic = %topic.name, partition = p, error = %e,
                            "partition failed to open: offline (KAFKA_STORAGE_ERROR) until restart");
                        offline.insert((topic.name.clone(), p), e.to_string());
                    }
                }
            }
        }
        let mut owned: std::collections::HashSet<String> =
            partitions.keys().map(|(t, p)| format!("{t}-{p}")).collect();
        owned.extend(offline.dir_names());
        sweep_unowned(&data_dir, &owned)?;
        let oracle = Arc::new(crate::groups::BrokerOracle::default());
        let group_config = crate::groups::group_config(&config.raw).map_err(BrokerError::Config)?;
        let group = strata_group::GroupCoordinator::open(&data_dir, group_config, oracle.clone())
            .map_err(|e| BrokerError::Config(format!("opening __consumer_offsets: {e}")))?;
        let (shutdown_tx, _) = watch::channel(false);
        let flusher = crate::flusher::Flusher::start("data")
            .map_err(|e| BrokerError::io("start the flusher thread".to_string(), e))?;
        let broker = Arc::new(Broker {
            config,
            meta: Mutex::new(meta),
            partitions: RwLock::new(partitions),
            offline,
            flusher,
            shutdown_tx,
            group,
            tier: std::sync::OnceLock::new(),
            producer_epochs: Mutex::new(ProducerEpochs::default()),
        });
        oracle.attach(&broker);
        Ok(broker)
    }

    /// The tiering service, once opened.
    pub fn tier(&self) -> Option<&Arc<strata_tier::Tier>> {
        self.tier.get()
    }

    /// Attaches the tiering service (once, at startup).
    pub fn set_tier(&self, tier: Arc<strata_tier::Tier>) {
        let _ = self.tier.set(tier);
    }

    /// The epochs granted to idempotent producers.
    pub(crate) fn producer_epochs(&self) -> MutexGuard<'_, ProducerEpochs> {
        self.producer_epochs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the metadata store.
    pub fn meta(&self) -> MutexGuard<'_, MetadataStore> {
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hosted partition.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.to_string(), index))
            .cloned()
    }

    /// A partition that can serve, or the Kafka error for it: KAFKA_STORAGE_ERROR (56) if it is
    /// offline, UNKNOWN_TOPIC_OR_PARTITION (3) if it is not hosted.
    pub fn serving_partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>, i16> {
        match self.partition(topic, index) {
            Some(part) if part.is_offline() => Err(KAFKA_STORAGE_ERROR),
            Some(part) => Ok(part),
            None if self.offline.reason(topic, index).is_some() => Err(KAFKA_STORAGE_ERROR),
            None => Err(3), // UNKNOWN_TOPIC_OR_PARTITION
        }
    }

    /// True if the partition failed to open or its log went offline.
    pub fn is_partition_offline(&self, topic: &str, index: i32) -> bool {
        matches!(
            self.serving_partition(topic, index),
            Err(KAFKA_STORAGE_ERROR)
        )
    }

    /// Every hosted partition.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Creates a topic and its partition logs. The logs are created before the topic is
    /// journaled; if one cannot be created, the others are removed and nothing is journaled.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
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

    /// [`Broker::create_topic`] with a given topic id.
    pub fn create_topic_with_id(
        &self,
        name: &str,
        topic_id: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
        let mut meta = self.meta();
        let topic = meta.create_topic_with_id(
            name,
            topic_id,
            partitions,
            replication_factor,
            configs.clone(),
            true,
        )?;
        self.check_partition_limit(&meta, partitions)?;
        if validate_only {
            return Ok(topic);
        }
        let opened = self.prepare_partitions(&topic, 0)?;
        if let Err(e) = meta.create_topic_with_id(
            name,
            topic_id,
            partitions,
            replication_factor,
            configs,
            false,
        ) {
            self.discard_partitions(&topic.name, opened);
            return Err(e.into());
        }
        self.publish_partitions(opened);
        tracing::info!(topic = name, partitions, "created topic");
        if !crate::log_config::deletes_by_retention(&self.config, &topic.configs) {
            tracing::warn!(
                topic = name,
                "cleanup.policy=compact: compaction is not implemented yet, so this topic keeps \
                 every record (it is never trimmed by time or size)"
            );
        }
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, BrokerError> {
        let mut meta = self.meta();
        let topic = meta.delete_topic(name)?;
        let removed: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            (0..topic.partitions)
                .filter_map(|p| map.remove(&(name.to_string(), p)))
                .collect()
        };
        drop(removed);
        self.offline.remove_topic(name);
        for p in 0..topic.partitions {
            remove_partition_dir(&self.config.data_dir, name, p)?;
        }
        if let Some(tier) = self.tier().cloned() {
            let topic_id = topic.topic_id.clone();
            tokio::spawn(async move {
                if let Err(e) = tier.delete_topic(&topic_id).await {
                    tracing::warn!(topic_id, error = %e, "remote data of deleted topic not yet removed");
                }
            });
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `total` partitions.
    pub fn increase_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
        strata_meta::refuse_internal(name, "altered")?;
        let mut meta = self.meta();
        let before = meta.topic(name).map(|t| t.partitions).ok_or_else(|| {
            MetaError::new(
                MetaErrorKind::UnknownTopic,
                format!("Topic {name} not found"),
            )
        })?;
        let topic = meta.increase_partitions(name, total, true)?;
        self.check_partition_limit(&meta, total - before)?;
        if validate_only {
            return Ok(topic);
        }
        let opened = self.prepare_partitions(&topic, before)?;
        if let Err(e) = meta.increase_partitions(name, total, false) {
            self.discard_partitions(&topic.name, opened);
            return Err(e.into());
        }
        self.publish_partitions(opened);
        Ok(topic)
    }

    /// Replaces a topic's config overrides and applies them to its open logs.
    pub fn replace_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
        let mut meta = self.meta();
        if let Some(current) = meta.topic(name) {
            let tiered = |c: &BTreeMap<String, String>| {
                crate::log_config::effective(&self.config, c, "remote.storage.enable")
                    .eq_ignore_ascii_case("true")
            };
            if tiered(&current.configs) && !tiered(&configs) && self.has_remote_data(current) {
                return Err(MetaError::new(
                    MetaErrorKind::InvalidConfig,
                    format!(
                        "remote.storage.enable cannot be turned off for {name}: part of its log lives \
                         only in remote storage and would become unreadable"
                    ),
                )
                .into());
            }
        }
        let topic = meta.replace_configs(name, configs, validate_only)?;
        if !validate_only {
            let settings = Arc::new(topic_settings::resolve(&self.config, &topic.configs));
            for p in 0..topic.partitions {
                if let Some(part) = self.partition(name, p) {
                    part.set_settings(settings.clone());
                }
            }
        }
        Ok(topic)
    }

    /// Whether any partition of `topic` has segments in remote storage.
    fn has_remote_data(&self, topic: &TopicMeta) -> bool {
        let Some(tier) = self.tier() else {
            return false;
        };
        (0..topic.partitions).any(|p| {
            // An unreadable catalog counts as "has data": refusing is the safe answer.
            tier.remote_log_start(&topic.topic_id, p)
                .map_or(true, |start| start.is_some())
        })
    }

    /// Refuses a change that would take the broker past `max.broker.partitions`.
    fn check_partition_limit(&self, meta: &MetadataStore, adding: i32) -> Result<(), BrokerError> {
        let hosted: i64 = meta
            .state()
            .topics
            .values()
            .map(|t| i64::from(t.partitions))
            .sum();
        let limit = self.config.max_broker_partitions;
        if hosted + i64::from(adding) > limit {
            return Err(MetaError::new(
                MetaErrorKind::PolicyViolation,
                format!(
                    "adding {adding} partitions would exceed max.broker.partitions={limit} \
                     (this broker hosts {hosted})"
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Creates (or opens) the logs of partitions `from..topic.partitions` without making them
    /// visible. On failure, removes the directories it created.
    fn prepare_partitions(
        &self,
        topic: &TopicMeta,
        from: i32,
    ) -> Result<Vec<Partition>, BrokerError> {
        let now = now_ms();
        let mut opened = Vec::new();
        for p in from..topic.partitions {
            match open_partition(&self.config, &self.config.data_dir, topic, p, now, None) {
                Ok(part) => opened.push(part),
                Err(e) => {
                    tracing::error!(topic = %topic.name, partition = p, error = %e, "cannot create partition log; rolling the change back");
                    let failed_dir = partition_dir(&self.config.data_dir, &topic.name, p);
                    self.discard_partitions(&topic.name, opened);
                    if failed_dir.exists() {
                        let _ = remove_partition_dir(&self.config.data_dir, &topic.name, p);
                    }
                    return Err(e);
                }
            }
        }
        Ok(opened)
    }

    /// Closes and removes logs prepared for a change that did not happen.
    fn discard_partitions(&self, topic: &str, opened: Vec<Partition>) {
        for part in opened {
            let index = part.index;
            drop(part.into_log());
            if let Err(e) = remove_partition_dir(&self.config.data_dir, topic, index) {
                tracing::error!(topic, partition = index, error = %e, "cannot remove the log of a rolled-back change; it will be renamed aside as stray at the next start");
            }
        }
    }

    /// Makes prepared partitions visible.
    fn publish_partitions(&self, opened: Vec<Partition>) {
        let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        for part in opened {
            map.insert((part.topic.clone(), part.index), Arc::new(part));
        }
    }

    /// A receiver that turns true when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Starts shutdown: listeners stop, connections finish their request and close, long polls
    /// return early.
    pub fn begin_shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        self.group.begin_shutdown();
    }

    /// Flushes and closes every log, writing clean-shutdown markers.
    pub fn close_logs(&self) -> Result<(), BrokerError> {
        if let Err(e) = self.checkpoint_high_watermarks() {
            tracing::warn!(error = %e, "high watermark checkpoint not written at shutdown");
        }
        let parts: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, p)| p).collect()
        };
        let mut first_err = None;
        if let Err(e) = self.group.close() {
            tracing::error!(error = %e, "closing __consumer_offsets failed");
            first_err.get_or_insert(BrokerError::Config(format!(
                "closing __consumer_offsets: {e}"
            )));
        }
        for part in parts {
            let name = format!("{}-{}", part.topic, part.index);
            if part.is_offline() {
                // No clean marker: the next start recovers what the failed write left.
                tracing::warn!(partition = %name, "offline after a storage error; closed without clean marker");
                continue;
            }
            match Arc::try_unwrap(part) {
                Ok(part) => {
                    if let Err(e) = part.into_log().close() {
                        tracing::error!(partition = %name, error = %e, "close failed");
                        first_err.get_or_insert(BrokerError::from(e));
                    }
                }
                Err(shared) => {
                    // A connection still holds it (shutdown timeout hit): flush, skip the marker.
                    if let Err(e) = shared.log().flush() {
                        first_err.get_or_insert(BrokerError::from(e));
                    }
                    tracing::warn!(partition = %name, "still in use at shutdown; flushed without clean marker");
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn open_partition(
    config: &BrokerConfig,
    data_dir: &Path,
    topic: &TopicMeta,
    index: i32,
    now: i64,
    recovery_point: Option<i64>,
) -> Result<Partition, BrokerError> {
    let dir = partition_dir(data_dir, &topic.name, index);
    let log = PartitionLog::open_with_recovery_point(
        &dir,
        &topic.topic_id,
        log_config(config, &topic.configs),
        now,
        recovery_point,
    )?;
    strata_log::record_identity(&dir, &topic.name, index)?;
    let settings = Arc::new(topic_settings::resolve(config, &topic.configs));
    let state = strata_replica::ReplicaState::single_node(config.node_id);
    let part = Partition::new(
        topic.name.clone(),
        topic.topic_id.clone(),
        index,
        log,
        settings,
        state,
    );
    Ok(part)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
