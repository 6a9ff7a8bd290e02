//! The internal topic `__consumer_offsets` as a replicated topic, and the group coordinator
//! following its leadership.
//!
//! Invariants:
//! - the topic is created through the quorum, once, with the fixed id
//!   [`strata_group::OFFSETS_TOPIC_ID`] (so a data directory written before the topic was
//!   replicated opens unchanged), `offsets.topic.num.partitions` partitions and replication
//!   factor `offsets.topic.replication.factor` capped at the number of voters. As in Kafka it
//!   is created on first use — the first FindCoordinator for a group starts the creation in the
//!   background and is answered COORDINATOR_NOT_AVAILABLE, which clients retry — and only once
//!   that many brokers are live; a data directory that already holds its partitions (written
//!   before the topic was replicated) creates it at start;
//! - its configs keep everything (`cleanup.policy=compact`, no time or size retention) and it
//!   is never tiered;
//! - this broker coordinates exactly the groups of the internal partitions it leads: the
//!   coordinator is elected for a partition when this broker becomes its leader (in that
//!   leader epoch) and resigned when it stops.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use strata_group::{OFFSETS_TOPIC, OFFSETS_TOPIC_ID};
use strata_meta::{MetaErrorKind, MetadataState, Operation};

use crate::broker::Broker;
use crate::partition::Partition;

/// How often a broker retries creating the topic while too few brokers are live.
const RETRY: Duration = Duration::from_secs(1);

/// The replication factor the topic is created with: the configured one, capped at the
/// number of voters (every voter is a broker).
pub(crate) fn replication_factor(broker: &Broker) -> i16 {
    let voters = broker.config.voters.as_ref().map_or(1, |v| v.len());
    let voters = i16::try_from(voters).unwrap_or(i16::MAX);
    broker
        .config
        .offsets_topic_replication_factor
        .clamp(1, voters)
}

/// The topic's config overrides.
fn configs() -> BTreeMap<String, String> {
    [
        ("cleanup.policy", "compact"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("segment.bytes", "104857600"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Creates the topic if it does not exist and enough brokers are live. True once it exists.
pub(crate) fn ensure(broker: &Arc<Broker>) -> bool {
    let image = broker.meta();
    if image.topic(OFFSETS_TOPIC).is_some() {
        return true;
    }
    let rf = replication_factor(broker);
    let live = image.brokers.keys().filter(|&&b| image.is_live(b)).count();
    if live < rf as usize {
        tracing::debug!(
            live,
            replication_factor = rf,
            "waiting for brokers before creating __consumer_offsets"
        );
        return false;
    }
    let op = Operation::CreateInternalTopic {
        name: OFFSETS_TOPIC.to_string(),
        topic_id: OFFSETS_TOPIC_ID.to_string(),
        partitions: broker.group.partition_count(),
        replication_factor: rf,
        configs: configs(),
    };
    match crate::metadata_quorum::execute(broker.quorum(), op) {
        Ok(_) => {
            tracing::info!(
                partitions = broker.group.partition_count(),
                replication_factor = rf,
                "created __consumer_offsets"
            );
        }
        Err(e) if e.kind == MetaErrorKind::TopicExists => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot create __consumer_offsets yet");
            return false;
        }
    }
    host(broker, &broker.meta());
    true
}

/// Opens the internal partitions the image places here (the reconciler would too; this makes
/// them available before the next image change) and follows their leadership.
fn host(broker: &Arc<Broker>, image: &MetadataState) {
    let Some(topic) = image.topic(OFFSETS_TOPIC) else {
        return;
    };
    {
        let _changes = broker.lock_changes();
        let now = crate::broker::now_ms();
        for p in 0..topic.partitions {
            if image.is_replica(topic, p, broker.config.node_id)
                && broker.partition(OFFSETS_TOPIC, p).is_none()
                && !broker.is_partition_offline(OFFSETS_TOPIC, p)
            {
                broker.open_assigned(image, topic, p, now);
            }
        }
    }
    follow_all(broker);
}

/// [`follow`] for every hosted internal partition.
pub(crate) fn follow_all(broker: &Arc<Broker>) {
    for part in broker.all_partitions() {
        follow(broker, &part);
    }
}

/// At start: creates the topic at once if this data directory already holds its partitions
/// (written before the topic was replicated), so their groups are served again.
pub(crate) fn ensure_if_present(broker: &Arc<Broker>) {
    let legacy = strata_group::partition_dir(&broker.config.data_dir, 0).exists();
    if legacy && broker.meta().topic(OFFSETS_TOPIC).is_none() {
        ensure(broker);
    }
}

/// First use (FindCoordinator for a group): starts creating the topic in the background
/// unless that is already under way; it retries until the topic exists or shutdown begins.
pub(crate) fn request(broker: &Arc<Broker>) {
    if broker.meta().topic(OFFSETS_TOPIC).is_some()
        || broker.offsets_topic_requested.swap(true, Ordering::AcqRel)
    {
        return;
    }
    let broker = broker.clone();
    tokio::spawn(async move {
        let mut shutdown = broker.shutdown_signal();
        loop {
            if tokio::task::block_in_place(|| ensure(&broker)) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Makes the coordinator match this broker's role for internal partition `part`: elected (in
/// the current leader epoch) while leading it, resigned otherwise. Other topics: nothing.
pub(crate) fn follow(broker: &Arc<Broker>, part: &Arc<Partition>) {
    if part.topic != OFFSETS_TOPIC {
        return;
    }
    let state = part.replica_state();
    if state.is_leader() && !part.is_offline() {
        let log = crate::offsets_log::ReplicatedLog::new(broker, part.clone(), state.leader_epoch);
        broker
            .group
            .elect(part.index, state.leader_epoch, Arc::new(log));
    } else {
        broker.group.resign(part.index);
    }
}
