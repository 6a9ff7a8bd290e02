//! The coordinators' internal topics — `__consumer_offsets` (groups) and
//! `__transaction_state` (transactions) — as replicated topics, and the coordinators following
//! their leadership.
//!
//! Invariants:
//! - each topic is created through the quorum, once, with a fixed id (so a data directory
//!   written before the topic was replicated opens unchanged), its configured partition count
//!   and replication factor (`offsets.topic.replication.factor`,
//!   `transaction.state.log.replication.factor`) capped at the number of voters. As in Kafka
//!   it is created on first use — the first FindCoordinator for one of its keys starts the
//!   creation in the background and is answered COORDINATOR_NOT_AVAILABLE, which clients
//!   retry — and only once that many brokers are live; a data directory that already holds
//!   `__consumer_offsets` partitions (written before the topic was replicated) creates it at
//!   start;
//! - their configs keep everything (`cleanup.policy=compact`, no time or size retention) and
//!   they are never tiered;
//! - this broker coordinates exactly the keys of the internal partitions it leads: a
//!   coordinator is elected for a partition when this broker becomes its leader (in that
//!   leader epoch) and resigned when it stops. Both coordinators run on the shared runtime of
//!   `strata-coordinator`; this file is the one place that maps partitions to them.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use strata_group::{OFFSETS_TOPIC, OFFSETS_TOPIC_ID};
use strata_meta::{MetaErrorKind, MetadataState, Operation};
use strata_txn::{TRANSACTION_STATE_TOPIC, TRANSACTION_STATE_TOPIC_ID};

use crate::broker::Broker;
use crate::partition::Partition;

/// How often a broker retries creating a topic while too few brokers are live.
const RETRY: Duration = Duration::from_secs(1);

/// One of the coordinators' internal topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InternalTopic {
    /// `__consumer_offsets`: the group coordinator's.
    Offsets,
    /// `__transaction_state`: the transaction coordinator's.
    Transactions,
}

impl InternalTopic {
    /// The topic of `name`, if it is one of these.
    pub(crate) fn of(name: &str) -> Option<InternalTopic> {
        match name {
            OFFSETS_TOPIC => Some(InternalTopic::Offsets),
            TRANSACTION_STATE_TOPIC => Some(InternalTopic::Transactions),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            InternalTopic::Offsets => OFFSETS_TOPIC,
            InternalTopic::Transactions => TRANSACTION_STATE_TOPIC,
        }
    }

    fn topic_id(self) -> &'static str {
        match self {
            InternalTopic::Offsets => OFFSETS_TOPIC_ID,
            InternalTopic::Transactions => TRANSACTION_STATE_TOPIC_ID,
        }
    }

    /// Partition count the topic is created with.
    fn partitions(self, broker: &Broker) -> i32 {
        match self {
            InternalTopic::Offsets => broker.group.partition_count(),
            InternalTopic::Transactions => broker.txn.partition_count(),
        }
    }

    /// The replication factor the topic is created with: the configured one, capped at the
    /// number of voters (every voter is a broker).
    pub(crate) fn replication_factor(self, broker: &Broker) -> i16 {
        let voters = broker.config.voters.as_ref().map_or(1, |v| v.len());
        let voters = i16::try_from(voters).unwrap_or(i16::MAX);
        let configured = match self {
            InternalTopic::Offsets => broker.config.offsets_topic_replication_factor,
            InternalTopic::Transactions => broker.config.transaction_state_replication_factor,
        };
        configured.clamp(1, voters)
    }

    fn requested(self, broker: &Broker) -> &std::sync::atomic::AtomicBool {
        &broker.internal_topics_requested[self as usize]
    }
}

/// The topics' config overrides.
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

/// Creates `which` if it does not exist and enough brokers are live. True once it exists.
pub(crate) fn ensure(broker: &Arc<Broker>, which: InternalTopic) -> bool {
    let image = broker.meta();
    if image.topic(which.name()).is_some() {
        return true;
    }
    let rf = which.replication_factor(broker);
    let live = image.brokers.keys().filter(|&&b| image.is_live(b)).count();
    if live < rf as usize {
        tracing::debug!(
            topic = which.name(),
            live,
            replication_factor = rf,
            "waiting for brokers before creating an internal topic"
        );
        return false;
    }
    let op = Operation::CreateInternalTopic {
        name: which.name().to_string(),
        topic_id: which.topic_id().to_string(),
        partitions: which.partitions(broker),
        replication_factor: rf,
        configs: configs(),
    };
    match crate::metadata_quorum::execute(broker.quorum(), op) {
        Ok(_) => {
            tracing::info!(
                topic = which.name(),
                partitions = which.partitions(broker),
                replication_factor = rf,
                "created internal topic"
            );
        }
        Err(e) if e.kind == MetaErrorKind::TopicExists => {}
        Err(e) => {
            tracing::warn!(topic = which.name(), error = %e, "cannot create the internal topic yet");
            return false;
        }
    }
    host(broker, &broker.meta(), which);
    true
}

/// Opens the internal partitions the image places here (the reconciler would too; this makes
/// them available before the next image change) and follows their leadership.
fn host(broker: &Arc<Broker>, image: &MetadataState, which: InternalTopic) {
    let Some(topic) = image.topic(which.name()) else {
        return;
    };
    {
        let _changes = broker.lock_changes();
        let now = crate::broker::now_ms();
        for p in 0..topic.partitions {
            if image.is_replica(topic, p, broker.config.node_id)
                && broker.partition(which.name(), p).is_none()
                && !broker.is_partition_offline(which.name(), p)
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

/// At start: creates `__consumer_offsets` at once if this data directory already holds its
/// partitions (written before the topic was replicated), so their groups are served again.
pub(crate) fn ensure_if_present(broker: &Arc<Broker>) {
    let legacy = strata_group::partition_dir(&broker.config.data_dir, 0).exists();
    if legacy && broker.meta().topic(OFFSETS_TOPIC).is_none() {
        ensure(broker, InternalTopic::Offsets);
    }
}

/// First use (FindCoordinator for one of its keys): starts creating `which` in the background
/// unless that is already under way; it retries until the topic exists or shutdown begins.
pub(crate) fn request(broker: &Arc<Broker>, which: InternalTopic) {
    if broker.meta().topic(which.name()).is_some()
        || which.requested(broker).swap(true, Ordering::AcqRel)
    {
        return;
    }
    let broker = broker.clone();
    tokio::spawn(async move {
        let mut shutdown = broker.shutdown_signal();
        loop {
            if tokio::task::block_in_place(|| ensure(&broker, which)) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Makes the coordinator of `part`'s topic match this broker's role for it: elected (in the
/// current leader epoch) while leading it, resigned otherwise. Other topics: nothing.
pub(crate) fn follow(broker: &Arc<Broker>, part: &Arc<Partition>) {
    let Some(which) = InternalTopic::of(&part.topic) else {
        return;
    };
    let state = part.replica_state();
    if state.is_leader() && !part.is_offline() {
        let log = Arc::new(crate::internal_log::ReplicatedLog::new(
            broker,
            part.clone(),
            state.leader_epoch,
        ));
        match which {
            InternalTopic::Offsets => broker.group.elect(part.index, state.leader_epoch, log),
            InternalTopic::Transactions => broker.txn.elect(part.index, state.leader_epoch, log),
        }
    } else {
        resign(broker, which, part.index);
    }
}

/// This broker no longer leads internal partition `p` of `which`.
pub(crate) fn resign(broker: &Arc<Broker>, which: InternalTopic, p: i32) {
    match which {
        InternalTopic::Offsets => broker.group.resign(p),
        InternalTopic::Transactions => broker.txn.resign(p),
    }
}

/// The leader of `key`'s partition of `which`, as FindCoordinator answers it:
/// `Ok((node, host, port))`, or `Err(reason)` for COORDINATOR_NOT_AVAILABLE (the topic is being
/// created, or the partition has no live leader).
pub(crate) fn coordinator_of(
    broker: &Arc<Broker>,
    which: InternalTopic,
    key: &str,
) -> Result<(i32, String, i32), &'static str> {
    let meta = broker.meta();
    let Some(topic) = meta.topic(which.name()) else {
        // First use: create it (in the background); the client retries.
        request(broker, which);
        return Err(
            "the internal topic does not exist yet (it is created once its replication factor of brokers are live)",
        );
    };
    let p = strata_coordinator::partition_for(key, topic.partitions);
    let leader = meta.leadership(topic, p).leader;
    match meta.brokers.get(&leader).filter(|_| meta.is_live(leader)) {
        Some(b) => match b.address_for(crate::handlers::listener()) {
            Some((host, port)) => Ok((leader, host.to_string(), port)),
            None => Err("the coordinator has no listener of the protocol this client uses"),
        },
        None => Err("the key's internal partition has no live leader"),
    }
}
