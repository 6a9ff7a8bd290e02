//! `strata cluster status`: the metadata quorum (leader, epoch, voters and how far each has
//! the log), the brokers, the controller, the partitions that are under-replicated or offline,
//! and the partition reassignments in progress — through Kafka's own APIs (DescribeCluster,
//! DescribeQuorum, Metadata, ListPartitionReassignments), so it works against any node.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeQuorumRequest, ListPartitionReassignmentsRequest,
    MetadataRequest,
};
use strata_broker::kafka_client::{ClientSecurity, KafkaClient};

/// Cluster administration.
#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
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
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Quorum, brokers, controller, under-replicated and offline partitions.
    Status,
}

pub(crate) async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Status => {
            let security = ClientSecurity::load_command_config(args.command_config.as_deref())?;
            status(&args.bootstrap_server, &security).await
        }
    }
}

async fn status(bootstrap: &str, security: &ClientSecurity) -> anyhow::Result<()> {
    let mut client = KafkaClient::connect_with(bootstrap, security).await?;
    let cluster = client
        .call(DescribeClusterRequest::default(), 0)
        .await
        .context("DescribeCluster")?;
    let controller = cluster.controller_id.0;
    println!("Cluster id: {}", cluster.cluster_id);
    println!("Controller (metadata quorum leader): {controller}");
    // The quorum leader knows every voter's progress; ask it when it is reachable.
    let controller_addr = cluster
        .brokers
        .iter()
        .find(|b| b.broker_id.0 == controller)
        .map(|b| format!("{}:{}", b.host, b.port));
    let mut quorum_client = match controller_addr {
        Some(addr) => KafkaClient::connect_with(&addr, security).await.ok(),
        None => None,
    };
    let quorum_client = quorum_client.as_mut().unwrap_or(&mut client);
    let quorum = quorum_client
        .call(DescribeQuorumRequest::default(), 1)
        .await
        .context("DescribeQuorum")?;
    if let Some(p) = quorum.topics.first().and_then(|t| t.partitions.first()) {
        println!(
            "Quorum: leader {} epoch {} high watermark {}",
            p.leader_id.0, p.leader_epoch, p.high_watermark
        );
        for v in &p.current_voters {
            let lag = if v.log_end_offset >= 0 {
                format!(
                    "log end {} (lag {})",
                    v.log_end_offset,
                    (p.high_watermark - v.log_end_offset).max(0)
                )
            } else {
                "log end unknown".to_string()
            };
            println!("  voter {}: {lag}", v.replica_id.0);
        }
    }
    println!("Brokers (live):");
    let mut brokers: Vec<_> = cluster.brokers.iter().collect();
    brokers.sort_by_key(|b| b.broker_id.0);
    for b in &brokers {
        let rack = b
            .rack
            .as_ref()
            .map(|r| format!(" rack {r}"))
            .unwrap_or_default();
        println!("  {} {}:{}{rack}", b.broker_id.0, b.host, b.port);
    }
    let md = client
        .call(MetadataRequest::default().with_topics(None), 12)
        .await
        .context("Metadata")?;
    let mut total = 0;
    let mut under = Vec::new();
    let mut offline = Vec::new();
    for t in &md.topics {
        let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
        for p in &t.partitions {
            total += 1;
            let replicas: Vec<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
            let isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
            let line = format!(
                "  {name}-{}: leader {} replicas {replicas:?} isr {isr:?}",
                p.partition_index, p.leader_id.0
            );
            if p.leader_id.0 < 0 {
                offline.push(line);
            } else if isr.len() < replicas.len() {
                under.push(line);
            }
        }
    }
    println!(
        "Partitions: {total}, under-replicated: {}, offline: {}",
        under.len(),
        offline.len()
    );
    if !under.is_empty() {
        println!("Under-replicated:");
        for l in &under {
            println!("{l}");
        }
    }
    if !offline.is_empty() {
        println!("Offline:");
        for l in &offline {
            println!("{l}");
        }
    }
    // Last: a broker that predates ListPartitionReassignments closes the connection.
    match client
        .call(ListPartitionReassignmentsRequest::default(), 0)
        .await
    {
        Ok(r) if r.error_code == 0 => {
            let moving: Vec<String> = r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        let ids = |v: &[kafka_protocol::messages::BrokerId]| {
                            v.iter().map(|b| b.0).collect::<Vec<i32>>()
                        };
                        format!(
                            "  {}-{}: replicas {:?} adding {:?} removing {:?}",
                            t.name.0,
                            p.partition_index,
                            ids(&p.replicas),
                            ids(&p.adding_replicas),
                            ids(&p.removing_replicas)
                        )
                    })
                })
                .collect();
            println!("Reassignments in progress: {}", moving.len());
            for l in &moving {
                println!("{l}");
            }
        }
        Ok(r) => println!("Reassignments: unknown (error {})", r.error_code),
        Err(_) => println!("Reassignments: unknown (not supported by this broker)"),
    }
    Ok(())
}
