//! `strata topic create|list|describe|alter|delete`, spoken over the Kafka protocol.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeLogDirsRequest, IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_broker::kafka_client::ClientSecurity;
use strata_wire::{CleanerState, CLEANER_STATE_TAG};

use crate::cluster_client::{partitions_of, ClusterClient, TopicPartition};

/// Topic administration.
#[derive(Debug, Args)]
pub(crate) struct TopicArgs {
    /// Broker to talk to, HOST:PORT.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:9092",
        env = "STRATA_BOOTSTRAP_SERVER"
    )]
    bootstrap_server: String,
    /// Kafka client properties file for the connections (security.protocol, sasl.mechanism,
    /// sasl.username, sasl.password, sasl.jaas.config, ssl.*), as Kafka's tools take it; see
    /// docs/security.md.
    #[arg(long, global = true, value_name = "FILE")]
    command_config: Option<PathBuf>,
    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partition count (default: the broker's num.partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(long)]
        replication_factor: Option<i16>,
        /// Topic config override, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Validate only; create nothing.
        #[arg(long)]
        validate_only: bool,
    },
    /// List topics.
    List,
    /// Show a topic's partitions, offsets and config overrides (and, for a compacted topic,
    /// each partition's cleaner state).
    Describe {
        /// Topic name.
        name: String,
    },
    /// Change a topic's configs or grow its partition count.
    Alter {
        /// Topic name.
        name: String,
        /// Set a config, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Remove a config override (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
        /// New total partition count.
        #[arg(long)]
        partitions: Option<i32>,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
    },
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn parse_kv(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("{kv}: expected KEY=VALUE"))
        })
        .collect()
}

fn check(code: i16, message: Option<&StrBytes>, what: &str) -> anyhow::Result<()> {
    if code != 0 {
        bail!(
            "{what} failed: error {code}{}",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        );
    }
    Ok(())
}

pub(crate) async fn run(args: TopicArgs) -> anyhow::Result<()> {
    let security = ClientSecurity::load_command_config(args.command_config.as_deref())?;
    let mut client = ClusterClient::connect_with(&args.bootstrap_server, security).await?;
    match args.command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            validate_only,
        } => {
            let configs = parse_kv(&configs)?
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(sb(&k))
                        .with_value(Some(sb(&v)))
                })
                .collect();
            let topic = CreatableTopic::default()
                .with_name(TopicName(sb(&name)))
                .with_num_partitions(partitions.unwrap_or(-1))
                .with_replication_factor(replication_factor.unwrap_or(-1))
                .with_configs(configs);
            let req = CreateTopicsRequest::default()
                .with_topics(vec![topic])
                .with_timeout_ms(30_000)
                .with_validate_only(validate_only);
            let resp = client.call(req, 7).await?;
            for t in &resp.topics {
                check(t.error_code, t.error_message.as_ref(), "create")?;
                let verb = if validate_only {
                    "Validated"
                } else {
                    "Created"
                };
                println!(
                    "{verb} topic {} with {} partitions.",
                    t.name.0, t.num_partitions
                );
            }
        }
        TopicCommand::List => {
            let resp = client.metadata(None).await?;
            let mut names: Vec<String> = resp
                .topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .collect();
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        TopicCommand::Describe { name } => describe(&mut client, &name).await?,
        TopicCommand::Alter {
            name,
            configs,
            delete_configs,
            partitions,
        } => {
            if let Some(count) = partitions {
                let req = CreatePartitionsRequest::default()
                    .with_topics(vec![CreatePartitionsTopic::default()
                        .with_name(TopicName(sb(&name)))
                        .with_count(count)])
                    .with_timeout_ms(30_000);
                let resp = client.call(req, 3).await?;
                for r in &resp.results {
                    check(r.error_code, r.error_message.as_ref(), "alter partitions")?;
                }
                println!("Topic {name} now has {count} partitions.");
            }
            let mut ops: Vec<AlterableConfig> = parse_kv(&configs)?
                .into_iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(sb(&k))
                        .with_config_operation(0)
                        .with_value(Some(sb(&v)))
                })
                .collect();
            ops.extend(delete_configs.iter().map(|k| {
                AlterableConfig::default()
                    .with_name(sb(k))
                    .with_config_operation(1)
            }));
            if !ops.is_empty() {
                let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
                    AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(sb(&name))
                        .with_configs(ops),
                ]);
                let resp = client.call(req, 1).await?;
                for r in &resp.responses {
                    check(r.error_code, r.error_message.as_ref(), "alter configs")?;
                }
                println!("Updated configs of topic {name}.");
            }
        }
        TopicCommand::Delete { name } => {
            let req = DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(sb(&name))])
                .with_timeout_ms(30_000);
            let resp = client.call(req, 5).await?;
            for r in &resp.responses {
                check(r.error_code, r.error_message.as_ref(), "delete")?;
            }
            println!("Deleted topic {name}.");
        }
    }
    Ok(())
}

async fn describe(client: &mut ClusterClient, name: &str) -> anyhow::Result<()> {
    let resp = client.metadata(Some(&[name])).await?;
    let topic = resp.topics.first().context("empty metadata response")?;
    check(topic.error_code, None, "describe")?;
    let configs = client
        .call(
            DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(sb(name))
                    .with_configuration_keys(None),
            ]),
            4,
        )
        .await?;
    let overrides: Vec<String> = configs
        .results
        .iter()
        .flat_map(|r| r.configs.iter())
        .filter(|c| c.config_source == 1)
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("")))
        .collect();
    let compacted = configs
        .results
        .iter()
        .flat_map(|r| r.configs.iter())
        .filter(|c| c.name.as_str() == "cleanup.policy")
        .any(|c| {
            c.value
                .as_deref()
                .is_some_and(|v| v.split(',').any(|p| p.trim() == "compact"))
        });
    println!(
        "Topic: {name}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.topic_id,
        topic.partitions.len(),
        topic
            .partitions
            .first()
            .map_or(0, |p| p.replica_nodes.len()),
        overrides.join(",")
    );
    // Log start and high watermark from each partition's leader (in a cluster, other brokers
    // answer NOT_LEADER_OR_FOLLOWER); -1 where the leader could not tell.
    let [starts, ends] = client.list_offsets(&partitions_of(topic), [-2, -1]).await?;
    let find = |m: &BTreeMap<TopicPartition, i64>, p: i32| {
        m.get(&(name.to_string(), p)).copied().unwrap_or(-1)
    };
    let mut parts: Vec<_> = topic.partitions.iter().collect();
    parts.sort_by_key(|p| p.partition_index);
    let cleaner = if compacted {
        let leaders = parts.iter().map(|p| (p.partition_index, p.leader_id.0));
        cleaner_states(client, name, leaders).await
    } else {
        BTreeMap::new()
    };
    for p in parts {
        // Compacted topics get the cleaner columns after the others, so that scripts reading
        // the first ones keep working.
        let cleaner_columns = if compacted {
            cleaner_columns(cleaner.get(&p.partition_index))
        } else {
            String::new()
        };
        println!(
            "\tTopic: {name}\tPartition: {}\tLeader: {}\tReplicas: {:?}\tIsr: {:?}\tLogStartOffset: {}\tHighWatermark: {}{cleaner_columns}",
            p.partition_index,
            p.leader_id.0,
            p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
            p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
            find(&starts, p.partition_index),
            find(&ends, p.partition_index),
        );
    }
    Ok(())
}

/// The cleaner state of each partition of compacted topic `name`, asked of its leader
/// (DescribeLogDirs v4, Strata's tagged field: `strata_wire::CleanerState`). A partition
/// without a leader, whose leader cannot be reached or does not report one, is left out.
async fn cleaner_states(
    client: &mut ClusterClient,
    name: &str,
    leaders: impl Iterator<Item = (i32, i32)>,
) -> BTreeMap<i32, CleanerState> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (partition, leader) in leaders.filter(|(_, leader)| *leader >= 0) {
        by_leader.entry(leader).or_default().push(partition);
    }
    let mut states = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(TopicName(sb(name)))
                .with_partitions(partitions.clone()),
        ]));
        let resp = match client.call_node(leader, req, 4).await {
            Ok(resp) => resp,
            Err(e) => {
                eprintln!("warning: no cleaner state from broker {leader}: {e:#}");
                continue;
            }
        };
        let listed = resp
            .results
            .iter()
            .flat_map(|r| r.topics.iter())
            .filter(|t| t.name.0.as_str() == name)
            .flat_map(|t| t.partitions.iter());
        for p in listed.filter(|p| partitions.contains(&p.partition_index)) {
            if let Some(state) = p
                .unknown_tagged_fields
                .get(&CLEANER_STATE_TAG)
                .and_then(|v| CleanerState::decode(v))
            {
                states.insert(p.partition_index, state);
            }
        }
    }
    states
}

/// The cleaner columns of one partition line: first dirty offset (the cleaner checkpoint),
/// bytes a clean could cover now, dirty ratio, and whether the cleaner would take it now;
/// -1 and `unknown` when its leader did not tell.
fn cleaner_columns(state: Option<&CleanerState>) -> String {
    match state {
        Some(s) => format!(
            "\tFirstDirtyOffset: {}\tCleanableBytes: {}\tDirtyRatio: {:.4}\tNeedsCleaning: {}",
            s.first_dirty_offset, s.dirty_bytes, s.dirty_ratio, s.needs_cleaning
        ),
        None => {
            "\tFirstDirtyOffset: -1\tCleanableBytes: -1\tDirtyRatio: -1\tNeedsCleaning: unknown"
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaner_columns_are_exact_and_unknown_without_a_state() {
        let state = CleanerState {
            first_dirty_offset: 2,
            cleanable_end_offset: 4,
            clean_bytes: 800,
            dirty_bytes: 2400,
            dirty_ratio: 0.75,
            needs_cleaning: true,
            oldest_dirty_timestamp: 1000,
        };
        assert_eq!(
            cleaner_columns(Some(&state)),
            "\tFirstDirtyOffset: 2\tCleanableBytes: 2400\tDirtyRatio: 0.7500\tNeedsCleaning: true"
        );
        assert_eq!(
            cleaner_columns(None),
            "\tFirstDirtyOffset: -1\tCleanableBytes: -1\tDirtyRatio: -1\tNeedsCleaning: unknown"
        );
    }
}
