//! CreateTopics: validate names, counts and configs; create (or only validate) each topic.
//! v5+ answers with the partition count, replication factor and the resulting configs.
//! Needs CREATE on the cluster or on each topic (TOPIC_AUTHORIZATION_FAILED), as in Kafka.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use strata_meta::topic_config::TOPIC_CONFIGS;

use super::{blocking, sb};
use crate::broker::Broker;

const INVALID_REQUEST: i16 = 42;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let cfg = &broker.config;
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.0.to_string()))
        .map(|t| t.name.0.to_string())
        .collect();
    let mut results = Vec::with_capacity(req.topics.len());
    let authz = crate::authz::Authz::new(broker);
    let create = strata_meta::acl::AclOperation::Create;
    let cluster_create = !authz.enabled()
        || authz.visible(
            create,
            strata_meta::acl::ResourceType::Cluster,
            strata_meta::acl::CLUSTER_NAME,
        );
    for t in req.topics {
        let name = t.name.0.to_string();
        let result = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if duplicates.contains(&name) {
            results.push(
                result
                    .with_error_code(INVALID_REQUEST)
                    .with_error_message(Some(sb(&format!(
                    "Create topics request from client contains multiple entries for topic {name}"
                )))),
            );
            continue;
        }
        if !cluster_create && !authz.topic(create, &name) {
            results.push(
                result
                    .with_error_code(crate::authz::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(sb("Authorization failed."))),
            );
            continue;
        }
        let (partitions, replication) =
            if t.assignments.is_empty() {
                (
                    if t.num_partitions == -1 {
                        cfg.num_partitions
                    } else {
                        t.num_partitions
                    },
                    if t.replication_factor == -1 {
                        cfg.default_replication_factor
                    } else {
                        t.replication_factor
                    },
                )
            } else {
                if t.num_partitions != -1 || t.replication_factor != -1 {
                    results.push(result.with_error_code(INVALID_REQUEST).with_error_message(Some(sb(
                    "Both numPartitions or replicationFactor and replicasAssignments were set.",
                ))));
                    continue;
                }
                let ok = t
                    .assignments
                    .iter()
                    .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == cfg.node_id);
                if !ok {
                    results.push(
                        result
                            .with_error_code(INVALID_REPLICA_ASSIGNMENT)
                            .with_error_message(Some(sb(
                                "replica assignments must name only this broker, once",
                            ))),
                    );
                    continue;
                }
                (t.assignments.len() as i32, 1)
            };
        let mut configs = BTreeMap::new();
        for c in &t.configs {
            if let Some(v) = &c.value {
                configs.insert(c.name.to_string(), v.to_string());
            }
        }
        match blocking(|| {
            broker.create_topic(&name, partitions, replication, configs, req.validate_only)
        }) {
            Ok(topic) => {
                let mut r = result
                    .with_topic_id(uuid::Uuid::parse_str(&topic.topic_id).unwrap_or_default())
                    .with_num_partitions(topic.partitions)
                    .with_replication_factor(topic.replication_factor);
                if version >= 5 {
                    let entries = TOPIC_CONFIGS
                        .iter()
                        .map(|def| {
                            let (value, source) = cfg.topic_value(def, &topic.configs);
                            CreatableTopicConfigs::default()
                                .with_name(sb(def.name))
                                .with_value(Some(sb(&value)))
                                .with_config_source(source.code())
                        })
                        .collect();
                    r = r.with_configs(Some(entries));
                }
                results.push(r);
            }
            Err(e) => results.push(
                result
                    .with_error_code(e.kafka_error_code())
                    .with_error_message(Some(sb(&e.message()))),
            ),
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
