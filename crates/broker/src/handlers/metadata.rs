//! Metadata: brokers, cluster id, controller, topics and partitions; auto-creation of topics
//! named in the request when `auto.create.topics.enable` and the request allow it.
//!
//! Authorization, as Kafka: a request for all topics lists only those the principal may
//! DESCRIBE; a named topic it may not describe is answered TOPIC_AUTHORIZATION_FAILED whether
//! or not it exists; auto-creation needs CREATE on the cluster or on the topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use strata_meta::{validate_topic_name, BrokerRegistration, MetadataState, TopicMeta};

use strata_meta::acl::{AclOperation, ResourceType};

use super::{blocking, sb};
use crate::authz::{Authz, TOPIC_AUTHORIZATION_FAILED};
use crate::broker::Broker;
use crate::partition::KAFKA_STORAGE_ERROR;

/// LEADER_NOT_AVAILABLE: no live replica can lead the partition now.
const LEADER_NOT_AVAILABLE: i16 = 5;

/// "Authorized operations not requested" sentinel.
const OPS_OMITTED: i32 = i32::MIN;

pub(crate) fn handle(broker: &Arc<Broker>, req: MetadataRequest, version: i16) -> MetadataResponse {
    let allow_auto = version < 4 || req.allow_auto_topic_creation;
    let authz = Authz::new(broker);
    let topic_ops = req.include_topic_authorized_operations && version >= 8;
    let with_ops = |entry: MetadataResponseTopic| {
        if !topic_ops || entry.error_code != 0 {
            return entry;
        }
        let name = entry
            .name
            .as_ref()
            .map(|n| n.0.to_string())
            .unwrap_or_default();
        let bits = authz.operations(ResourceType::Topic)(&name);
        entry.with_topic_authorized_operations(bits)
    };
    let requested: Option<Vec<String>> = req.topics.map(|ts| {
        ts.into_iter()
            .filter_map(|t| t.name.map(|n| n.0.to_string()))
            .collect()
    });
    let mut topics = Vec::new();
    match requested {
        None => {
            let meta = broker.meta();
            for t in meta.topics.values() {
                if authz.visible(AclOperation::Describe, ResourceType::Topic, &t.name) {
                    topics.push(with_ops(topic_entry(broker, &meta, t)));
                }
            }
        }
        Some(names) => {
            for name in names {
                let meta = broker.meta();
                if !authz.topic(AclOperation::Describe, &name) {
                    topics.push(failed(&name, TOPIC_AUTHORIZATION_FAILED));
                    continue;
                }
                let entry = match meta.topic(&name) {
                    Some(t) => topic_entry(broker, &meta, t),
                    None => {
                        let may_create = !authz.enabled()
                            || authz.visible(
                                AclOperation::Create,
                                ResourceType::Cluster,
                                strata_meta::acl::CLUSTER_NAME,
                            )
                            || authz.topic(AclOperation::Create, &name);
                        if may_create || validate_topic_name(&name).is_err() {
                            auto_create(broker, &name, allow_auto)
                        } else if allow_auto && broker.config.auto_create_topics {
                            failed(&name, TOPIC_AUTHORIZATION_FAILED)
                        } else {
                            failed(&name, 3) // UNKNOWN_TOPIC_OR_PARTITION
                        }
                    }
                };
                topics.push(with_ops(entry));
            }
        }
    }
    let meta = broker.meta();
    let cluster_id = meta.cluster_id.clone().unwrap_or_default();
    let brokers = live_brokers(broker, &meta)
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(sb(&b.host))
                .with_port(b.port)
                .with_rack(b.rack.as_deref().map(sb))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(sb(&cluster_id)))
        .with_controller_id(BrokerId(controller_id(broker)))
        .with_topics(topics)
        .with_cluster_authorized_operations(
            if req.include_cluster_authorized_operations && (8..=10).contains(&version) {
                authz.operations(ResourceType::Cluster)(strata_meta::acl::CLUSTER_NAME)
            } else {
                OPS_OMITTED
            },
        )
}

fn failed(name: &str, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(Some(TopicName(sb(name))))
        .with_topic_authorized_operations(OPS_OMITTED)
}

fn auto_create(broker: &Arc<Broker>, name: &str, allow_auto: bool) -> MetadataResponseTopic {
    let failed = |code: i16| failed(name, code);
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
        Ok(t) => topic_entry(broker, &broker.meta(), &t),
        // Lost a race with another creator: report what exists now.
        Err(e) if e.kafka_error_code() == 36 => {
            let meta = broker.meta();
            match meta.topic(name) {
                Some(t) => topic_entry(broker, &meta, t),
                None => failed(5),
            }
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "auto-create failed");
            failed(e.kafka_error_code())
        }
    }
}

/// The brokers to list: every registered broker that is not fenced, and always this one (a
/// client must be able to reach the broker it asked).
///
/// Each is addressed for the listener the request came in on (`host`/`port` replaced by that
/// listener's advertised address); a broker without that listener is left out, as Kafka does.
pub(crate) fn live_brokers(broker: &Broker, meta: &MetadataState) -> Vec<BrokerRegistration> {
    let cfg = &broker.config;
    let mut brokers = meta.brokers.clone();
    brokers.retain(|id, _| !meta.fenced.contains(id) || *id == cfg.node_id);
    // This broker's own listeners as configured now.
    let me = brokers
        .entry(cfg.node_id)
        .or_insert_with(|| BrokerRegistration {
            node_id: cfg.node_id,
            host: cfg.advertised_host.clone(),
            port: cfg.advertised_port,
            rack: cfg.rack.clone(),
            endpoints: Vec::new(),
        });
    me.endpoints = cfg.endpoints();
    let listener = super::listener();
    brokers
        .into_values()
        .filter_map(|mut b| {
            let (host, port) = b.address_for(listener)?;
            (b.host, b.port) = (host.to_string(), port);
            Some(b)
        })
        .collect()
}

/// The controller as Kafka clients see it: the metadata quorum leader (this node while none is
/// known).
pub(crate) fn controller_id(broker: &Broker) -> i32 {
    broker
        .quorum()
        .leader()
        .and_then(|l| i32::try_from(l).ok())
        .unwrap_or(broker.config.node_id)
}

fn topic_entry(broker: &Broker, meta: &MetadataState, t: &TopicMeta) -> MetadataResponseTopic {
    let partitions = (0..t.partitions)
        .map(|p| {
            // An offline partition is listed with KAFKA_STORAGE_ERROR, as Kafka lists a
            // partition whose log dir failed; clients then retry or skip it.
            let error = if broker.is_partition_offline(&t.name, p) {
                KAFKA_STORAGE_ERROR
            } else {
                0
            };
            // Leadership as the quorum agreed it, so every broker answers alike.
            let leadership = meta.leadership(t, p);
            let ids = |nodes: &[i32]| nodes.iter().map(|&n| BrokerId(n)).collect();
            let error = if error == 0 && leadership.leader < 0 {
                LEADER_NOT_AVAILABLE
            } else {
                error
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p)
                .with_leader_id(BrokerId(leadership.leader))
                .with_leader_epoch(leadership.leader_epoch)
                .with_replica_nodes(ids(&meta.replicas(t, p)))
                .with_isr_nodes(ids(&leadership.isr))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(sb(&t.name))))
        .with_topic_id(uuid::Uuid::parse_str(&t.topic_id).unwrap_or_default())
        .with_is_internal(strata_meta::is_internal_topic(&t.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPS_OMITTED)
}
