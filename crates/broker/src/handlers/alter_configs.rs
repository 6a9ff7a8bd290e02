//! AlterConfigs (replace the whole override set) and IncrementalAlterConfigs (SET, DELETE,
//! APPEND, SUBTRACT per config) for topics. Broker settings are static and cannot be altered.
//! A topic needs ALTER_CONFIGS (TOPIC_AUTHORIZATION_FAILED), a broker ALTER_CONFIGS on the
//! cluster (CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use strata_meta::topic_config::{self, ConfigKind};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{blocking, sb};
use crate::broker::Broker;

const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

type Outcome = Result<(), (i16, String)>;

pub(crate) fn handle_legacy(
    broker: &Arc<Broker>,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let authz = crate::authz::Authz::new(broker);
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let outcome = allowed(&authz, r.resource_type, &r.resource_name)
                .and_then(|_| check_resource(r.resource_type))
                .and_then(|_| {
                    let configs: BTreeMap<String, String> = r
                        .configs
                        .iter()
                        .filter_map(|c| {
                            c.value
                                .as_ref()
                                .map(|v| (c.name.to_string(), v.to_string()))
                        })
                        .collect();
                    apply(broker, &r.resource_name, configs, req.validate_only)
                });
            let (code, msg) = split(outcome);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(msg)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

pub(crate) fn handle_incremental(
    broker: &Arc<Broker>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let authz = crate::authz::Authz::new(broker);
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let outcome = allowed(&authz, r.resource_type, &r.resource_name)
                .and_then(|_| check_resource(r.resource_type))
                .and_then(|_| {
                    let name = r.resource_name.to_string();
                    strata_meta::refuse_internal(&name, "altered")
                        .map_err(|e| (e.kafka_error_code(), e.message))?;
                    let mut configs = broker
                        .meta()
                        .topic(&name)
                        .map(|t| t.configs.clone())
                        .ok_or((
                            UNKNOWN_TOPIC_OR_PARTITION,
                            format!("Topic {name} does not exist"),
                        ))?;
                    for c in &r.configs {
                        let key = c.name.to_string();
                        let value = c.value.as_ref().map(|v| v.to_string());
                        edit(broker, &mut configs, &key, c.config_operation, value)?;
                    }
                    apply(broker, &r.resource_name, configs, req.validate_only)
                });
            let (code, msg) = split(outcome);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(msg)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn allowed(authz: &crate::authz::Authz, resource_type: i8, name: &str) -> Outcome {
    match authz.config_resource(
        strata_meta::acl::AclOperation::AlterConfigs,
        resource_type,
        name,
    ) {
        Some(denied) => Err(denied),
        None => Ok(()),
    }
}

fn check_resource(resource_type: i8) -> Outcome {
    match resource_type {
        RESOURCE_TOPIC => Ok(()),
        RESOURCE_BROKER => Err((
            INVALID_REQUEST,
            "Strata broker settings are static; change the config file and restart".into(),
        )),
        other => Err((
            INVALID_REQUEST,
            format!("Unsupported resource type {other}"),
        )),
    }
}

/// Applies one incremental operation to an override set.
fn edit(
    broker: &Arc<Broker>,
    configs: &mut BTreeMap<String, String>,
    key: &str,
    op: i8,
    value: Option<String>,
) -> Outcome {
    let def = topic_config::lookup(key)
        .ok_or((INVALID_CONFIG, format!("Unknown topic config name: {key}")))?;
    let is_list = matches!(def.kind, ConfigKind::List(_));
    let current = || broker.config.topic_value(def, configs).0;
    match op {
        0 => {
            let v = value.ok_or((INVALID_REQUEST, format!("SET {key} needs a value")))?;
            configs.insert(key.to_string(), v);
        }
        1 => {
            configs.remove(key);
        }
        2 | 3 if !is_list => {
            return Err((INVALID_REQUEST, format!("{key} is not a list config")));
        }
        2 => {
            let mut items: Vec<String> = split_list(&current());
            for v in split_list(&value.unwrap_or_default()) {
                if !items.contains(&v) {
                    items.push(v);
                }
            }
            configs.insert(key.to_string(), items.join(","));
        }
        3 => {
            let remove = split_list(&value.unwrap_or_default());
            let items: Vec<String> = split_list(&current())
                .into_iter()
                .filter(|i| !remove.contains(i))
                .collect();
            configs.insert(key.to_string(), items.join(","));
        }
        other => return Err((INVALID_REQUEST, format!("Unknown config operation {other}"))),
    }
    Ok(())
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect()
}

fn apply(
    broker: &Arc<Broker>,
    name: &StrBytes,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Outcome {
    blocking(|| broker.replace_topic_configs(name, configs, validate_only))
        .map(|_| ())
        .map_err(|e| (e.kafka_error_code(), e.message()))
}

fn split(outcome: Outcome) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, msg)) => (code, Some(sb(&msg))),
    }
}
