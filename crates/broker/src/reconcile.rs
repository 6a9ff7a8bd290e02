//! The reconciler: follows the applied metadata image and makes the hosted partitions match it
//! — opens the partitions the image places on this broker, closes and removes those of deleted
//! topics and those a reassignment moved away from it, and applies changed topic configs.
//! Changes made through another broker (or through this one) reach every broker this way.
//!
//! Invariants:
//! - a pass runs under the broker's `changes` lock, so it never races a local change that has
//!   prepared partitions but not yet published them;
//! - a partition that cannot be opened becomes an offline placeholder (KAFKA_STORAGE_ERROR),
//!   as at startup;
//! - a pass deletes a partition directory of a topic the image still has only when both the
//!   pass's image and the latest one name the topic with the same id, include the partition,
//!   and do not list this broker among its replicas (a completed or cancelled reassignment):
//!   partitions created through this broker and not yet in the pass's image are never touched.

use std::sync::Arc;

use strata_meta::MetadataState;

use crate::broker::{now_ms, replica_state, Broker};
use crate::topic_settings;

/// Follows the image until the quorum stops.
pub(crate) async fn run(broker: Arc<Broker>) {
    let mut rx = broker.quorum().subscribe();
    let mut prev = rx.borrow_and_update().image.clone();
    follow_leadership(&broker, &prev);
    while rx.changed().await.is_ok() {
        let image = rx.borrow_and_update().image.clone();
        tokio::task::block_in_place(|| pass(&broker, &prev, &image));
        follow_leadership(&broker, &image);
        prev = image;
    }
}

fn pass(broker: &Broker, prev: &MetadataState, image: &MetadataState) {
    let _changes = broker.lock_changes();
    let node = broker.config.node_id;
    for old in prev.topics.values() {
        let gone = image
            .topic(&old.name)
            .is_none_or(|t| t.topic_id != old.topic_id);
        let hosted = (0..old.partitions).any(|p| broker.partition(&old.name, p).is_some());
        if gone && hosted {
            if let Err(e) = broker.remove_local_topic(old) {
                tracing::error!(topic = %old.name, error = %e, "cannot remove a deleted topic's partitions");
            } else {
                tracing::info!(topic = %old.name, "removed the partitions of a deleted topic");
            }
        }
    }
    remove_moved_away(broker, image);
    let now = now_ms();
    for topic in image.topics.values() {
        for p in 0..topic.partitions {
            if !image.is_replica(topic, p, node)
                || broker.partition(&topic.name, p).is_some()
                || broker.is_partition_offline(&topic.name, p)
            {
                continue;
            }
            broker.open_assigned(image, topic, p, now);
        }
        let changed = prev
            .topic(&topic.name)
            .is_some_and(|t| t.topic_id == topic.topic_id && t.configs != topic.configs);
        if changed {
            let settings = Arc::new(topic_settings::resolve(&broker.config, &topic.configs));
            for p in 0..topic.partitions {
                if let Some(part) = broker.partition(&topic.name, p) {
                    part.set_settings(settings.clone());
                }
            }
        }
    }
}

/// Stops hosting the partitions (and placeholders) that a reassignment moved off this broker.
fn remove_moved_away(broker: &Broker, image: &MetadataState) {
    let node = broker.config.node_id;
    let latest = broker.meta();
    let moved_away = |topic: &str, topic_id: Option<&str>, p: i32| {
        [image, latest.as_ref()].iter().all(|m| {
            m.topic(topic).is_some_and(|t| {
                topic_id.is_none_or(|id| id == t.topic_id)
                    && (0..t.partitions).contains(&p)
                    && !m.is_replica(t, p, node)
            })
        })
    };
    let hosted = broker
        .all_partitions()
        .into_iter()
        .filter(|part| moved_away(&part.topic, Some(&part.topic_id), part.index))
        .map(|part| (part.topic.clone(), part.index));
    let offline = broker
        .offline_partitions()
        .into_iter()
        .filter(|(t, p)| moved_away(t, None, *p));
    for (topic, p) in hosted.chain(offline).collect::<Vec<_>>() {
        match broker.remove_local_partition(&topic, p) {
            Ok(()) => tracing::info!(topic, partition = p,
                "no longer a replica (reassigned away): stopped hosting the partition and removed its copy"),
            Err(e) => tracing::error!(topic, partition = p, error = %e,
                "cannot remove the copy of a partition reassigned away"),
        }
    }
}

/// Gives every hosted partition the replica state the image names (role, leader epoch,
/// replicas, ISR) and the matching fetcher.
fn follow_leadership(broker: &Arc<Broker>, image: &MetadataState) {
    let node = broker.config.node_id;
    for part in broker.all_partitions() {
        let Some(topic) = image
            .topic(&part.topic)
            .filter(|t| t.topic_id == part.topic_id)
        else {
            continue;
        };
        let want = replica_state(image, topic, part.index, node);
        let have = part.replica_state();
        let changed = have.role != want.role
            || have.leader_epoch != want.leader_epoch
            || have.isr != want.isr
            || have.replicas != want.replicas
            || have.partition_epoch != want.partition_epoch;
        if changed {
            tracing::info!(topic = %part.topic, partition = part.index, role = ?want.role,
                epoch = want.leader_epoch, isr = ?want.isr, "replica state changed");
            part.set_replica_state(want);
            part.refresh_high_watermark();
        }
        broker.sync_fetcher(&part);
        crate::internal_topics::follow(broker, &part);
    }
    broker.drop_stale_fetchers();
}
