//! Topic calls: ListTopics, DescribeTopic, CreateTopic, DeleteTopic, AlterTopicConfig, and the
//! partition states WatchTopic and TierStatus are built from.
//!
//! Every call is a Kafka request through [`ClusterClient`] (the same requests as
//! `strata topic …`): Metadata v12 for topics and partitions, ListOffsets to each partition's
//! leader for log start (-2), local log start (-4) and high watermark (-1), DescribeConfigs
//! for overrides, CreateTopics v7, DeleteTopics v5, IncrementalAlterConfigs v1. Remote ranges
//! come from the object store's manifests under the topic id's prefix ([`crate::remote`]).
//!
//! Invariants:
//! - A Kafka error in a response becomes a [`KafkaError`] (so a gRPC status naming it); a
//!   topic that Metadata does not know is `UNKNOWN_TOPIC_OR_PARTITION`.
//! - An offset the leader could not give is -1, never a guess.
//! - Partitions are in partition order; maps are sorted by key. Two reads of an unchanged
//!   topic give equal [`PartitionState`] lists (WatchTopic compares them).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_tier::keys::topic_prefix;
use strata_tier::store::RemoteStore;

use crate::cluster_client::{partitions_of, ClusterClient, TopicPartition, EARLIEST_LOCAL};
use crate::error::{invalid_request, KafkaError};
use crate::proto;
use crate::remote::ManifestCache;

/// Server-side timeout asked of CreateTopics and DeleteTopics (as `strata topic` does).
const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Kafka's CONFIG resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs `config_source` of a topic override (DYNAMIC_TOPIC_CONFIG).
const SOURCE_TOPIC_OVERRIDE: i8 = 1;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn non_empty(name: &str, what: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        return Err(invalid_request(what, "the topic name is empty"));
    }
    Ok(())
}

/// ListTopics: every topic Metadata lists, by name.
pub(crate) async fn list_topics(
    client: &mut ClusterClient,
    include_internal: bool,
) -> anyhow::Result<proto::ListTopicsResponse> {
    let md = client.metadata(None).await?;
    let mut topics: Vec<proto::TopicSummary> = md
        .topics
        .iter()
        .filter(|t| include_internal || !t.is_internal)
        .filter_map(|t| {
            Some(proto::TopicSummary {
                name: t.name.as_ref()?.to_string(),
                partition_count: t.partitions.len() as i32,
                replication_factor: t.partitions.first().map_or(0, |p| p.replica_nodes.len())
                    as i32,
                topic_id: t.topic_id.to_string(),
                internal: t.is_internal,
            })
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(proto::ListTopicsResponse { topics })
}

/// Metadata of one topic; UNKNOWN_TOPIC_OR_PARTITION (or Metadata's error) if it fails.
pub(crate) async fn topic_metadata(
    client: &mut ClusterClient,
    name: &str,
) -> anyhow::Result<MetadataResponseTopic> {
    non_empty(name, "Metadata")?;
    let md = client.metadata(Some(&[name])).await?;
    let topic = md
        .topics
        .into_iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == name))
        .ok_or_else(|| KafkaError::new(3, "Metadata", Some(&format!("topic {name}"))))?;
    KafkaError::check(topic.error_code, "Metadata", Some(&format!("topic {name}")))?;
    Ok(topic)
}

/// The state of every partition of `topic`: leader and replicas from its Metadata, offsets
/// from the leaders, remote ranges from the manifests (`store` absent: none).
pub(crate) async fn partition_states(
    client: &mut ClusterClient,
    topic: &MetadataResponseTopic,
    store: Option<&RemoteStore>,
    cache: &mut ManifestCache,
) -> anyhow::Result<Vec<proto::PartitionState>> {
    let name = topic
        .name
        .as_ref()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let [starts, local_starts, ends] = client
        .list_offsets(&partitions_of(topic), [-2, EARLIEST_LOCAL, -1])
        .await?;
    let mut remote = BTreeMap::new();
    if let Some(store) = store {
        let prefix = topic_prefix(&topic.topic_id.to_string());
        cache.refresh(store, &prefix).await?;
        remote = cache.summaries(&prefix);
    }
    let offset = |m: &BTreeMap<TopicPartition, i64>, p: i32| {
        m.get(&(name.clone(), p)).copied().unwrap_or(-1)
    };
    let mut parts: Vec<proto::PartitionState> = topic
        .partitions
        .iter()
        .map(|p| {
            let i = p.partition_index;
            let r = remote.remove(&(name.clone(), i)).unwrap_or_default();
            proto::PartitionState {
                partition: i,
                leader: p.leader_id.0,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                log_start_offset: offset(&starts, i),
                local_log_start_offset: offset(&local_starts, i),
                high_watermark: offset(&ends, i),
                remote_ranges: r
                    .ranges
                    .iter()
                    .map(|(s, e)| proto::OffsetRange {
                        start_offset: *s,
                        end_offset: *e,
                    })
                    .collect(),
                remote_size_bytes: r.size,
                remote_segments: r.segments,
            }
        })
        .collect();
    parts.sort_by_key(|p| p.partition);
    Ok(parts)
}

/// The config overrides of topic `name` (DescribeConfigs v4, source DYNAMIC_TOPIC_CONFIG).
pub(crate) async fn overrides(
    client: &mut ClusterClient,
    name: &str,
) -> anyhow::Result<HashMap<String, String>> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(sb(name))
            .with_configuration_keys(None)]);
    let resp = client.call(req, 4).await?;
    let mut out = HashMap::new();
    for r in &resp.results {
        KafkaError::check(r.error_code, "DescribeConfigs", r.error_message.as_deref())?;
        for c in r
            .configs
            .iter()
            .filter(|c| c.config_source == SOURCE_TOPIC_OVERRIDE)
        {
            out.insert(
                c.name.to_string(),
                c.value.as_deref().unwrap_or_default().to_string(),
            );
        }
    }
    Ok(out)
}

/// DescribeTopic.
pub(crate) async fn describe_topic(
    client: &mut ClusterClient,
    store: Option<&RemoteStore>,
    name: &str,
) -> anyhow::Result<proto::DescribeTopicResponse> {
    let topic = topic_metadata(client, name).await?;
    let partitions = partition_states(client, &topic, store, &mut ManifestCache::new()).await?;
    let configs = overrides(client, name).await?;
    Ok(proto::DescribeTopicResponse {
        name: name.to_string(),
        topic_id: topic.topic_id.to_string(),
        partitions,
        configs,
    })
}

/// CreateTopic (CreateTopics v7).
pub(crate) async fn create_topic(
    client: &mut ClusterClient,
    req: proto::CreateTopicRequest,
) -> anyhow::Result<proto::CreateTopicResponse> {
    non_empty(&req.name, "CreateTopics")?;
    let replication = i16::try_from(req.replication_factor)
        .map_err(|_| invalid_request("CreateTopics", "replication_factor is out of range"))?;
    let mut configs: Vec<(String, String)> = req.configs.into_iter().collect();
    configs.sort();
    let topic = CreatableTopic::default()
        .with_name(TopicName(sb(&req.name)))
        .with_num_partitions(if req.partitions == 0 {
            -1
        } else {
            req.partitions
        })
        .with_replication_factor(if replication == 0 { -1 } else { replication })
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(sb(k))
                        .with_value(Some(sb(v)))
                })
                .collect(),
        );
    let kreq = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(ADMIN_TIMEOUT_MS)
        .with_validate_only(req.validate_only);
    let resp = client.call(kreq, 7).await?;
    let t = resp
        .topics
        .first()
        .ok_or_else(|| anyhow::anyhow!("CreateTopics answered no topic"))?;
    KafkaError::check(t.error_code, "CreateTopics", t.error_message.as_deref())?;
    Ok(proto::CreateTopicResponse {
        name: t.name.to_string(),
        topic_id: t.topic_id.to_string(),
        partition_count: t.num_partitions,
        replication_factor: i32::from(t.replication_factor),
    })
}

/// DeleteTopic (DeleteTopics v5).
pub(crate) async fn delete_topic(
    client: &mut ClusterClient,
    name: &str,
) -> anyhow::Result<proto::DeleteTopicResponse> {
    non_empty(name, "DeleteTopics")?;
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(sb(name))])
        .with_timeout_ms(ADMIN_TIMEOUT_MS);
    let resp = client.call(req, 5).await?;
    for r in &resp.responses {
        KafkaError::check(r.error_code, "DeleteTopics", r.error_message.as_deref())?;
    }
    Ok(proto::DeleteTopicResponse {})
}

/// AlterTopicConfig (IncrementalAlterConfigs v1: SET, then DELETE), answering the overrides
/// after the change.
pub(crate) async fn alter_topic_config(
    client: &mut ClusterClient,
    req: proto::AlterTopicConfigRequest,
) -> anyhow::Result<proto::AlterTopicConfigResponse> {
    non_empty(&req.name, "IncrementalAlterConfigs")?;
    let mut set: Vec<(String, String)> = req.set.into_iter().collect();
    set.sort();
    let mut ops: Vec<AlterableConfig> = set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(sb(k))
                .with_config_operation(0)
                .with_value(Some(sb(v)))
        })
        .collect();
    ops.extend(req.delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(sb(k))
            .with_config_operation(1)
    }));
    if !ops.is_empty() {
        let kreq = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(sb(&req.name))
                .with_configs(ops),
        ]);
        let resp = client.call(kreq, 1).await?;
        for r in &resp.responses {
            KafkaError::check(
                r.error_code,
                "IncrementalAlterConfigs",
                r.error_message.as_deref(),
            )?;
        }
    }
    let configs = overrides(client, &req.name).await?;
    Ok(proto::AlterTopicConfigResponse { configs })
}
