//! The broker's shared state: the metadata quorum member, hosted partitions, the group-commit
//! flusher.
//!
//! Invariants:
//! - lock order is `changes` before `partitions`; neither is held across an `.await`;
//! - metadata changes only through the quorum; the broker hosts the partitions of which the
//!   applied image names it a replica (the reconciler, `reconcile.rs`, follows the image);
//! - topic changes made through this broker are atomic here: creating a topic or adding
//!   partitions opens (creates) every new local partition log *before* the change is committed
//!   and made visible; if any log cannot be created, the new directories are removed and
//!   nothing is committed. A crash between the two leaves unowned directories, which the next
//!   start renames aside as stray (never deletes);
//! - a deleted topic is journaled first, then its directories are renamed to `*-delete`
//!   (atomic) and removed, so a topic re-created under the same name never sees old segments;
//! - startup never removes a directory that metadata does not own (see [`crate::dirs`]);
//! - a partition the image no longer places here (a reassignment moved it away) is closed and
//!   its directory removed — by the reconciler as soon as the image says so, or at the next
//!   start if the broker was down then (only when the directory's own `partition.metadata`
//!   names the topic's id);
//! - the broker hosts at most `max.broker.partitions` partitions (POLICY_VIOLATION beyond).
//! - a partition whose log fails to open at startup does not stop the broker: it becomes an
//!   offline placeholder (KAFKA_STORAGE_ERROR, `strata_offline_partitions`), its directory
//!   untouched (owned, never swept), until a restart opens it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strata_log::PartitionLog;
use strata_meta::{MetaError, MetaErrorKind, MetadataState, Operation, Outcome, TopicMeta};
use strata_quorum::Quorum;
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::dirs::{partition_dir, remove_partition_dir, sweep_unowned};
use crate::error::BrokerError;
use crate::log_config::log_config;
use crate::metadata_quorum::{self, execute, unexpected};
use crate::partition::{OfflinePartitions, Partition, TopicPartition, KAFKA_STORAGE_ERROR};
use crate::producer_ids::ProducerEpochs;
use crate::topic_settings;

/// The replica state the image gives `node` for partition `p` of `topic`.
pub fn replica_state(
    image: &MetadataState,
    topic: &TopicMeta,
    p: i32,
    node: i32,
) -> strata_replica::ReplicaState {
    let l = image.leadership(topic, p);
    strata_replica::ReplicaState::from_metadata(
        node,
        image.replicas(topic, p),
        l.leader,
        l.leader_epoch,
        l.isr,
        l.partition_epoch,
    )
}

/// NOT_LEADER_OR_FOLLOWER: the partition exists, but this broker does not lead it.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;

/// Name of the metadata directory inside the data dir.
pub const META_DIR: &str = "__cluster_metadata";

/// The broker.
#[derive(Debug)]
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    quorum: Arc<Quorum>,
    /// Held across a local partition change (prepare, commit, publish) and a reconcile pass.
    changes: Mutex<()>,
    /// Follower fetch tasks: partition → (leader, leader epoch, task).
    fetchers: Mutex<HashMap<TopicPartition, (i32, i32, tokio::task::AbortHandle)>>,
    /// The producer-id block this broker hands out from: `[next, end)`.
    producer_ids: Mutex<(i64, i64)>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Partitions that failed to open at startup (KAFKA_STORAGE_ERROR until restart).
    offline: OfflinePartitions,
    /// The group-commit flusher of the data directory (`flusher.rs`).
    pub flusher: crate::flusher::Flusher,
    shutdown_tx: watch::Sender<bool>,
    /// The consumer-group coordinator of the `__consumer_offsets` partitions this broker
    /// leads (`internal_topics.rs`).
    pub group: Arc<strata_group::GroupCoordinator>,
    /// The transaction coordinator of the `__transaction_state` partitions this broker leads
    /// (`internal_topics.rs`).
    pub txn: Arc<strata_txn::TxnCoordinator>,
    tier: std::sync::OnceLock<Arc<strata_tier::Tier>>,
    producer_epochs: Mutex<ProducerEpochs>,
    /// Creation of each internal topic was started (`internal_topics::request`), indexed by
    /// `InternalTopic as usize`.
    pub(crate) internal_topics_requested: [std::sync::atomic::AtomicBool; 2],
    /// Set (under this lock) when [`Broker::close_logs`] begins: from then on the reconciler
    /// opens no partition, so none is re-hosted while the logs are being closed.
    logs_closed: Mutex<bool>,
}

impl Broker {
    /// Opens the data directory: replays metadata, recovers every partition log, and removes
    /// directories no topic owns.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let data_dir = config.data_dir.clone();
        // The controller's default for topics without an override (this process plans
        // elections while its node leads the quorum).
        strata_meta::election::set_unclean_leader_election_default(
            config
                .raw
                .get("unclean.leader.election.enable")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        );
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| BrokerError::io(format!("create {}", data_dir.display()), e))?;
        let quorum =
            metadata_quorum::block_on(metadata_quorum::start(&config, &data_dir.join(META_DIR)))?;
        let image = quorum.image();
        let now = now_ms();
        let mut partitions = HashMap::new();
        let offline = OfflinePartitions::default();
        let recovery_points = crate::recovery_points::read(&data_dir);
        let high_watermarks = crate::high_watermarks::read(&data_dir);
        for topic in image.topics.values() {
            for p in 0..topic.partitions {
                if !image.is_replica(topic, p, config.node_id) {
                    continue;
                }
                let tp = (topic.name.clone(), p);
                let rp = recovery_points.get(&tp).copied();
                // One partition that cannot open goes offline; the rest of the broker serves.
                match open_partition(&config, &data_dir, topic, p, now, rp) {
                    Ok(part) => {
                        part.set_replica_state(replica_state(&image, topic, p, config.node_id));
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
        remove_moved_away(&config, &image)?;
        let mut owned: std::collections::HashSet<String> =
            partitions.keys().map(|(t, p)| format!("{t}-{p}")).collect();
        owned.extend(offline.dir_names());
        sweep_unowned(&data_dir, &owned)?;
        let oracle = Arc::new(crate::groups::BrokerOracle::default());
        let mut group_config =
            crate::groups::group_config(&config.raw).map_err(BrokerError::Config)?;
        if let Some(t) = image.topic(strata_group::OFFSETS_TOPIC) {
            // The topic's own partition count decides where groups live.
            group_config.offsets_topic_num_partitions = t.partitions;
        }
        let group = strata_group::GroupCoordinator::new(group_config, oracle.clone());
        let mut txn_config = config.txn.clone();
        if let Some(t) = image.topic(strata_txn::TRANSACTION_STATE_TOPIC) {
            txn_config.num_partitions = t.partitions;
        }
        let txn_host = crate::txn_markers::BrokerTxnHost::new();
        let txn = strata_txn::TxnCoordinator::new(txn_config, txn_host.clone());
        let (shutdown_tx, _) = watch::channel(false);
        let flusher = crate::flusher::Flusher::start("data")
            .map_err(|e| BrokerError::io("start the flusher thread".to_string(), e))?;
        let broker = Arc::new(Broker {
            config,
            quorum,
            changes: Mutex::new(()),
            fetchers: Mutex::new(HashMap::new()),
            producer_ids: Mutex::new((0, 0)),
            partitions: RwLock::new(partitions),
            offline,
            flusher,
            shutdown_tx,
            group,
            txn,
            tier: std::sync::OnceLock::new(),
            producer_epochs: Mutex::new(ProducerEpochs::default()),
            internal_topics_requested: Default::default(),
            logs_closed: Mutex::new(false),
        });
        oracle.attach(&broker);
        txn_host.attach(&broker);
        crate::internal_topics::ensure_if_present(&broker);
        crate::internal_topics::follow_all(&broker);
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

    /// The applied metadata image.
    pub fn meta(&self) -> Arc<MetadataState> {
        self.quorum.image()
    }

    /// The metadata quorum member.
    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// Serialises local partition changes with the reconciler.
    pub(crate) fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands out a producer id, taking a new block from the quorum when this one is used up.
    pub fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            match execute(&self.quorum, Operation::AllocateProducerIds)? {
                Outcome::ProducerIds { first, end } => *ids = (first, end),
                other => return Err(unexpected(other)),
            }
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    fn topic_op(&self, op: Operation) -> Result<TopicMeta, MetaError> {
        match execute(&self.quorum, op)? {
            Outcome::Topic(t) => Ok(t),
            other => Err(unexpected(other)),
        }
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
            // A follower copy serves only its leader's followers' reads, never clients.
            Some(part) if part.following().is_some() => Err(NOT_LEADER_OR_FOLLOWER),
            Some(part) => Ok(part),
            None if self.offline.reason(topic, index).is_some() => Err(KAFKA_STORAGE_ERROR),
            None => {
                let meta = self.meta();
                match meta.topic(topic) {
                    // Another broker hosts it: the client's metadata is stale.
                    Some(t) if (0..t.partitions).contains(&index) => Err(NOT_LEADER_OR_FOLLOWER),
                    _ => Err(3), // UNKNOWN_TOPIC_OR_PARTITION
                }
            }
        }
    }

    /// A partition whose copy here may answer a consumer's Fetch (v11+, which names the
    /// client's rack): as [`Broker::serving_partition`], except that with
    /// `replica.selector.class` set a follower's copy serves too, up to its own high watermark
    /// (KIP-392). Produce, ListOffsets, replica fetches and older consumers keep
    /// `serving_partition`: leaders only.
    pub fn readable_partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>, i16> {
        if self.config.replica_selector.is_some() {
            if let Some(part) = self.partition(topic, index) {
                if !part.is_offline() {
                    return Ok(part);
                }
            }
        }
        self.serving_partition(topic, index)
    }

    /// True if the partition failed to open or its log went offline.
    pub fn is_partition_offline(&self, topic: &str, index: i32) -> bool {
        matches!(
            self.serving_partition(topic, index),
            Err(KAFKA_STORAGE_ERROR)
        )
    }

    /// The placeholders of partitions that failed to open.
    pub(crate) fn offline_partitions(&self) -> Vec<TopicPartition> {
        self.offline.list()
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
        let op = |validate_only| Operation::CreateTopic {
            name: name.to_string(),
            topic_id: topic_id.to_string(),
            partitions,
            replication_factor,
            configs: configs.clone(),
            validate_only,
        };
        let _changes = self.lock_changes();
        let topic = self.change_partitions(op, 0, validate_only)?;
        if validate_only {
            return Ok(topic);
        }
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, BrokerError> {
        let _changes = self.lock_changes();
        let topic = self.topic_op(Operation::DeleteTopic {
            name: name.to_string(),
        })?;
        self.remove_local_topic(&topic)?;
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Closes and removes this broker's partitions of a deleted topic (and its remote data).
    pub(crate) fn remove_local_topic(&self, topic: &TopicMeta) -> Result<(), BrokerError> {
        let name = topic.name.as_str();
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
        // A read replica's topics are the writers' data: it never deletes from the bucket.
        if let Some(tier) = self.tier().cloned().filter(|_| !self.config.read_replica) {
            let topic_id = topic.topic_id.clone();
            tokio::spawn(async move {
                if let Err(e) = tier.delete_topic(&topic_id).await {
                    tracing::warn!(topic_id, error = %e, "remote data of deleted topic not yet removed");
                }
            });
        }
        Ok(())
    }

    /// Stops hosting partition `p` of `topic`, which the image no longer places here (a
    /// reassignment moved it away): resigns its group coordinator (`__consumer_offsets`),
    /// stops its fetcher, closes its log and removes its directory (renamed to `-delete`, then
    /// removed, as for a deleted topic). Its remote (tiered) data stays: that belongs to the
    /// partition, not to this copy. The caller holds `changes`.
    pub(crate) fn remove_local_partition(&self, topic: &str, p: i32) -> Result<(), BrokerError> {
        let tp = (topic.to_string(), p);
        match crate::internal_topics::InternalTopic::of(topic) {
            Some(crate::internal_topics::InternalTopic::Offsets) => self.group.resign(p),
            Some(crate::internal_topics::InternalTopic::Transactions) => self.txn.resign(p),
            None => {}
        }
        let removed = self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&tp);
        if let Some((_, _, task)) = self
            .fetchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&tp)
        {
            task.abort();
        }
        // The last holder closes the log; an in-flight read keeps its files open until done.
        drop(removed);
        self.offline.remove(topic, p);
        remove_partition_dir(&self.config.data_dir, topic, p)
    }

    /// Grows a topic to `total` partitions.
    pub fn increase_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
        strata_meta::refuse_internal(name, "altered")?;
        let _changes = self.lock_changes();
        let before = self
            .meta()
            .topic(name)
            .map(|t| t.partitions)
            .ok_or_else(|| {
                MetaError::new(
                    MetaErrorKind::UnknownTopic,
                    format!("Topic {name} not found"),
                )
            })?;
        let op = |validate_only| Operation::IncreasePartitions {
            name: name.to_string(),
            total,
            validate_only,
        };
        self.change_partitions(op, before, validate_only)
    }

    /// A change that adds partitions `from..`: validate it (and the partition limit), create
    /// this broker's new logs, commit it, then publish them — or discard them if the commit
    /// fails. `op(validate_only)` builds the operation. The caller holds `changes`.
    fn change_partitions(
        &self,
        op: impl Fn(bool) -> Operation,
        from: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
        let topic = self.topic_op(op(true))?;
        self.check_partition_limit(&topic, from)?;
        if validate_only {
            return Ok(topic);
        }
        let opened = self.prepare_partitions(&topic, from)?;
        let topic = match self.topic_op(op(false)) {
            Ok(t) => t,
            Err(e) => {
                self.discard_partitions(&topic.name, opened);
                return Err(e.into());
            }
        };
        self.publish_committed(&topic, opened);
        Ok(topic)
    }

    /// Replaces a topic's config overrides and applies them to its open logs.
    pub fn replace_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, BrokerError> {
        let _changes = self.lock_changes();
        let meta = self.meta();
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
        let topic = self.topic_op(Operation::ReplaceConfigs {
            name: name.to_string(),
            configs,
            validate_only,
        })?;
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

    /// Refuses a change that would take the broker past `max.broker.partitions`: `topic` as
    /// it would be, whose partitions from `from` on are new.
    fn check_partition_limit(&self, topic: &TopicMeta, from: i32) -> Result<(), BrokerError> {
        let meta = self.meta();
        let node = self.config.node_id;
        let hosted = meta.partitions_on(node);
        let adding = (from..topic.partitions)
            .filter(|&p| {
                topic
                    .replicas
                    .get(p as usize)
                    .is_none_or(|r| r.contains(&node))
            })
            .count() as i64;
        let limit = self.config.max_broker_partitions;
        if hosted + adding > limit {
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
        let node = self.config.node_id;
        for p in from..topic.partitions {
            if topic
                .replicas
                .get(p as usize)
                .is_some_and(|r| !r.contains(&node))
            {
                continue;
            }
            match open_partition(&self.config, &self.config.data_dir, topic, p, now, None) {
                Ok(part) => {
                    let replicas = topic
                        .replicas
                        .get(p as usize)
                        .cloned()
                        .unwrap_or_else(|| vec![node]);
                    let l = strata_meta::PartitionLeadership::initial(&replicas);
                    part.set_replica_state(strata_replica::ReplicaState::from_metadata(
                        node,
                        replicas,
                        l.leader,
                        l.leader_epoch,
                        l.isr,
                        l.partition_epoch,
                    ));
                    opened.push(part)
                }
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

    /// Opens (creating if need be) partition `p` of `topic`, which the image places here, and
    /// publishes it; a failure makes it an offline placeholder.
    pub(crate) fn open_assigned(&self, image: &MetadataState, topic: &TopicMeta, p: i32, now: i64) {
        let closed = self.logs_closed.lock().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return; // shutting down: the logs are being closed
        }
        match open_partition(&self.config, &self.config.data_dir, topic, p, now, None) {
            Ok(part) => {
                part.set_replica_state(replica_state(image, topic, p, self.config.node_id));
                tracing::info!(topic = %topic.name, partition = p, "hosting partition");
                self.publish_partitions(vec![part]);
            }
            Err(e) => {
                tracing::error!(topic = %topic.name, partition = p, error = %e,
                    "partition failed to open: offline (KAFKA_STORAGE_ERROR) until restart");
                self.offline.insert((topic.name.clone(), p), e.to_string());
            }
        }
    }

    /// Makes a hosted partition's fetcher match its role: a follower copies its leader in its
    /// current epoch (a new task when either changed), a leader runs none.
    pub(crate) fn sync_fetcher(self: &Arc<Self>, part: &Arc<Partition>) {
        let tp = (part.topic.clone(), part.index);
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        let want = part.following().map(|l| (l, part.leader_epoch()));
        match (fetchers.get(&tp), want) {
            (Some((l, e, _)), Some(w)) if (*l, *e) == w => {}
            (_, Some((leader, epoch))) => {
                if let Some((_, _, old)) = fetchers.remove(&tp) {
                    old.abort();
                }
                let task = crate::replica_fetcher::spawn(self.clone(), part.clone(), leader, epoch);
                fetchers.insert(tp, (leader, epoch, task));
            }
            (_, None) => {
                if let Some((_, _, old)) = fetchers.remove(&tp) {
                    old.abort();
                }
            }
        }
    }

    /// Stops the fetchers of partitions this broker no longer hosts.
    pub(crate) fn drop_stale_fetchers(&self) {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        fetchers.retain(|(t, p), (_, _, task)| {
            let keep = self.partition(t, *p).is_some();
            if !keep {
                task.abort();
            }
            keep
        });
    }

    /// Publishes prepared partitions that `topic` (as committed) still places here, and
    /// discards the rest (the assignment moved between validation and commit).
    fn publish_committed(&self, topic: &TopicMeta, opened: Vec<Partition>) {
        let node = self.config.node_id;
        let (keep, drop): (Vec<_>, Vec<_>) = opened.into_iter().partition(|part| {
            topic
                .replicas
                .get(part.index as usize)
                .is_none_or(|r| r.contains(&node))
        });
        self.discard_partitions(&topic.name, drop);
        self.publish_partitions(keep);
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
        *self.logs_closed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        if let Err(e) = self.checkpoint_high_watermarks() {
            tracing::warn!(error = %e, "high watermark checkpoint not written at shutdown");
        }
        let parts: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, p)| p).collect()
        };
        let mut first_err = None;
        if let Err(e) = self.txn.close() {
            tracing::error!(error = %e, "closing __transaction_state failed");
        }
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

/// Startup: removes the directories of partitions that a reassignment moved away from this
/// broker while it was down — the topic still exists, the directory's own `partition.metadata`
/// names that topic's id, and the image no longer lists this broker as a replica. Anything
/// else this broker does not host is left to [`sweep_unowned`] (renamed aside, never deleted).
fn remove_moved_away(config: &BrokerConfig, image: &MetadataState) -> Result<(), BrokerError> {
    for topic in image.topics.values() {
        for p in 0..topic.partitions {
            if image.is_replica(topic, p, config.node_id) {
                continue;
            }
            let dir = partition_dir(&config.data_dir, &topic.name, p);
            if !dir.is_dir() {
                continue;
            }
            let same_topic = strata_log::read_identity(&dir)
                .ok()
                .flatten()
                .is_some_and(|id| id.topic_id == topic.topic_id);
            if same_topic {
                remove_partition_dir(&config.data_dir, &topic.name, p)?;
                tracing::info!(topic = %topic.name, partition = p,
                    "removed the copy of a partition reassigned away from this broker");
            }
        }
    }
    Ok(())
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
