//! DescribeConfigs: every topic config with its effective value and source (override, broker
//! setting or Kafka default), as clients doing read-modify-write expect; broker resources list
//! the broker's static settings, with sensitive values (passwords, secrets, keys, JAAS configs,
//! credentials) redacted to null as Kafka does. A topic needs DESCRIBE_CONFIGS
//! (TOPIC_AUTHORIZATION_FAILED), a broker DESCRIBE_CONFIGS on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use strata_meta::topic_config::{ConfigKind, TOPIC_CONFIGS};

use super::sb;
use crate::broker::Broker;
use crate::config::ConfigSource;

pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;

pub(crate) fn handle(broker: &Arc<Broker>, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let authz = crate::authz::Authz::new(broker);
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            if let Some((code, msg)) = authz.config_resource(
                strata_meta::acl::AclOperation::DescribeConfigs,
                r.resource_type,
                &r.resource_name,
            ) {
                return DescribeConfigsResult::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
                    .with_error_code(code)
                    .with_error_message(Some(sb(&msg)));
            }
            // Null or empty means every config, as in Kafka's ConfigHelper.
            let keys: Option<Vec<String>> = r
                .configuration_keys
                .as_ref()
                .filter(|ks| !ks.is_empty())
                .map(|ks| ks.iter().map(|k| k.to_string()).collect());
            let wanted = |name: &str| keys.as_ref().is_none_or(|ks| ks.iter().any(|k| k == name));
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                RESOURCE_TOPIC => {
                    let name = r.resource_name.to_string();
                    let Some(topic) = broker.meta().topic(&name).cloned() else {
                        return result
                            .with_error_code(UNKNOWN_TOPIC_OR_PARTITION)
                            .with_error_message(Some(sb(&format!("Topic {name} does not exist"))));
                    };
                    let cfg = &broker.config;
                    let configs = TOPIC_CONFIGS
                        .iter()
                        .filter(|d| wanted(d.name))
                        .map(|def| {
                            let (value, source) = cfg.topic_value(def, &topic.configs);
                            let mut entry = DescribeConfigsResourceResult::default()
                                .with_name(sb(def.name))
                                .with_value(Some(sb(&value)))
                                .with_config_source(source.code())
                                .with_config_type(config_type(def.kind));
                            if req.include_synonyms {
                                let mut syn = Vec::new();
                                if let Some(v) = topic.configs.get(def.name) {
                                    syn.push(synonym(def.name, v, ConfigSource::Topic));
                                }
                                if let (Some(key), Some((v, s))) =
                                    (def.broker_key, cfg.broker_setting(def))
                                {
                                    syn.push(synonym(key, &v, s));
                                }
                                syn.push(synonym(def.name, def.default, ConfigSource::Default));
                                entry = entry.with_synonyms(syn);
                            }
                            entry
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    let configs = broker
                        .config
                        .raw
                        .iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, v)| {
                            // Sensitive values are never returned (Kafka: null value,
                            // is_sensitive, type PASSWORD).
                            let sensitive = crate::config::is_sensitive(k);
                            DescribeConfigsResourceResult::default()
                                .with_name(sb(k))
                                .with_value((!sensitive).then(|| sb(v)))
                                .with_is_sensitive(sensitive)
                                .with_read_only(true)
                                .with_config_source(ConfigSource::StaticBroker.code())
                                .with_config_type(if sensitive { 9 } else { 2 })
                        })
                        .collect();
                    result.with_configs(configs)
                }
                other => result
                    .with_error_code(INVALID_REQUEST)
                    .with_error_message(Some(sb(&format!("Unsupported resource type {other}")))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn synonym(name: &str, value: &str, source: ConfigSource) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(sb(name))
        .with_value(Some(sb(value)))
        .with_source(source.code())
}

/// Kafka's `ConfigType` codes.
fn config_type(kind: ConfigKind) -> i8 {
    match kind {
        ConfigKind::Bool => 1,
        ConfigKind::Enum(_) => 2,
        ConfigKind::Int(_) => 3,
        ConfigKind::Long(_) => 5,
        ConfigKind::Ratio => 6,
        ConfigKind::List(_) => 7,
    }
}
