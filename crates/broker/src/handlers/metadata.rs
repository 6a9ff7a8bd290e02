//! Metadata: brokers, cluster id, controller, topics and partitions; auto-creation of topics
//! named in the request when `auto.create.topics.enable` and the request allow it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use strata_meta::{validate_topic_name, TopicMeta};

use super::{blocking, sb};
use crate::broker::Broker;
use crate::partition::KAFKA_STORAGE_ERROR;
use strata_replica::INITIAL_LEADER_EPOCH;

/// "Authorized operations not requested" sentinel.
const OPS_OMITTED: i32 = i32::MIN;

pub(crate) fn handle(broker: &Arc<Broker>, req: MetadataRequest, version: i16) -> MetadataResponse {
    let cfg = &broker.config;
    let node = cfg.node_id;
    let allow_auto = version < 4 || req.allow_auto_topic_creation;
    let requested: Option<Vec<String>> = req.topics.map(|ts| {
        ts.into_iter()
            .filter_map(|t| t.name.map(|n| n.0.to_string()))
            .collect()
    });
    let mut topics = Vec::new();
    match requested {
        None => {
            let meta = broker.meta();
            for t in meta.state().topics.values() {
                topics.push(topic_entry(broker, t, node));
            }
        }
        Some(names) => {
            for name in names {
                let existing = broker.meta().topic(&name).cloned();
                let entry = match existing {
                    Some(t) => topic_entry(broker, &t, node),
                    None => auto_create(broker, &name, allow_auto),
                };
                topics.push(entry);
            }
        }
    }
    let cluster_id = broker.meta().state().cluster_id.clone().unwrap_or_default();
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(node))
            .with_host(sb(&cfg.advertised_host))
            .with_port(cfg.advertised_port)])
        .with_cluster_id(Some(sb(&cluster_id)))
        .with_controller_id(BrokerId(node))
        .with_topics(topics)
        .with_cluster_authorized_operations(OPS_OMITTED)
}

fn auto_create(broker: &Arc<Broker>, name: &str, allow_auto: bool) -> MetadataResponseTopic {
    let failed = |code: i16| {
        MetadataResponseTopic::default()
            .with_error_code(code)
            .with_name(Some(TopicName(sb(name))))
            .with_topic_authorized_operations(OPS_OMITTED)
    };
    if let Err(e) = validate_topic_name(name) {
        return failed(e.kafka_error_code());
    }
    if !(allow_auto && broker.config.auto_create_topics) {
        return failed(3); // UNKNOWN_TOPIC_OR_PARTITION
    }
    let cfg = &broker.config;
    let created = blocking(|| {
        broker.create_topic(
            name,
            cfg.num_partitions,
            cfg.default_replication_factor,
            BTreeMap::new(),
            false,
        )
    });
    match created {
        Ok(t) => topic_entry(broker, &t, cfg.node_id),
        // Lost a race with another creator: report what exists now.
        Err(e) if e.kafka_error_code() == 36 => match broker.meta().topic(name) {
            Some(t) => topic_entry(broker, t, cfg.node_id),
            None => failed(5),
        },
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "auto-create failed");
            failed(e.kafka_error_code())
        }
    }
}

fn topic_entry(broker: &Broker, t: &TopicMeta, node: i32) -> MetadataResponseTopic {
    let partitions = (0..t.partitions)
        .map(|p| {
            // An offline partition is listed with KAFKA_STORAGE_ERROR, as Kafka lists a
            // partition whose log dir failed; clients then retry or skip it.
            let error = if broker.is_partition_offline(&t.name, p) {
                KAFKA_STORAGE_ERROR
            } else {
                0
            };
            let state = broker
                .partition(&t.name, p)
                .map(|part| part.replica_state());
            let ids = |nodes: Option<&Vec<i32>>| match nodes {
                Some(nodes) => nodes.iter().map(|&n| BrokerId(n)).collect(),
                None => vec![BrokerId(node)],
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p)
                .with_leader_id(BrokerId(node))
                .with_leader_epoch(
                    state
                        .as_ref()
                        .map_or(INITIAL_LEADER_EPOCH, |s| s.leader_epoch),
                )
                .with_replica_nodes(ids(state.as_ref().map(|s| &s.replicas)))
                .with_isr_nodes(ids(state.as_ref().map(|s| &s.isr)))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(sb(&t.name))))
        .with_topic_id(uuid::Uuid::parse_str(&t.topic_id).unwrap_or_default())
        .with_is_internal(false)
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPS_OMITTED)
}
