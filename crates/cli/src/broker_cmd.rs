//! `strata broker decommission N`: moves every replica off broker N with partition
//! reassignments (AlterPartitionReassignments), then waits until none is left in progress and
//! no partition lists N — all over the Kafka protocol, so it works against any node.
//!
//! The plan, per partition with N among its replicas (in topic and partition order): N is
//! replaced, in its position, by a live broker that is not already a replica, the one with the
//! fewest replicas first (counting the moves planned so far), ties to the lowest id. With no
//! such broker (every live broker already holds a copy, as `__consumer_offsets` does with
//! replication factor 3 on three nodes) the partition keeps its other replicas and its
//! replication factor shrinks by one; a partition whose only replica is N and no other broker
//! is live cannot move (an error). A partition already being reassigned is planned from its
//! target: if N is only among the replicas it leaves, nothing needs to be done.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest,
    MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_broker::kafka_client::{ClientSecurity, KafkaClient};

/// How often progress is polled while waiting.
const POLL: Duration = Duration::from_secs(1);

/// Broker administration.
#[derive(Debug, Args)]
pub(crate) struct BrokerArgs {
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
    command: BrokerCommand,
}

#[derive(Debug, Subcommand)]
enum BrokerCommand {
    /// Move every partition replica off a broker (partition reassignment), and wait until done.
    Decommission {
        /// The broker's node id.
        node_id: i32,
        /// Seconds to wait for the reassignments to complete; exit 1 if they have not.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Print the plan; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(crate) async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    match args.command {
        BrokerCommand::Decommission {
            node_id,
            timeout,
            dry_run,
        } => {
            let security = ClientSecurity::load_command_config(args.command_config.as_deref())?;
            decommission(
                &args.bootstrap_server,
                &security,
                node_id,
                Duration::from_secs(timeout),
                dry_run,
            )
            .await
        }
    }
}

/// One partition as the cluster reports it: `replicas` is the set it is moving to when a
/// reassignment is in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionReplicas {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
}

/// A planned reassignment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Move {
    topic: String,
    partition: i32,
    from: Vec<i32>,
    to: Vec<i32>,
}

async fn decommission(
    bootstrap: &str,
    security: &ClientSecurity,
    node: i32,
    timeout: Duration,
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut client = KafkaClient::connect_with(bootstrap, security).await?;
    let (live, partitions) = cluster_view(&mut client).await?;
    let moves = plan_moves(&partitions, &live, node)?;
    if moves.is_empty() {
        println!("No partition has a replica on broker {node}.");
    } else {
        println!(
            "Moving {} partition replica(s) off broker {node}:",
            moves.len()
        );
        for m in &moves {
            let note = if m.to.len() < m.from.len() {
                " (no spare broker: one replica fewer)"
            } else {
                ""
            };
            println!(
                "  {}-{}: {:?} -> {:?}{note}",
                m.topic, m.partition, m.from, m.to
            );
        }
    }
    if dry_run {
        return Ok(());
    }
    submit(&mut client, &moves).await?;
    wait_done(&mut client, node, timeout).await
}

/// The live brokers and every partition's replicas (the target of an ongoing reassignment).
async fn cluster_view(
    client: &mut KafkaClient,
) -> anyhow::Result<(Vec<i32>, Vec<PartitionReplicas>)> {
    let md = client
        .call(MetadataRequest::default().with_topics(None), 12)
        .await
        .context("Metadata")?;
    let live: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    let ongoing = client
        .call(ListPartitionReassignmentsRequest::default(), 0)
        .await
        .context("ListPartitionReassignments")?;
    if ongoing.error_code != 0 {
        bail!(
            "ListPartitionReassignments: error {} {}",
            ongoing.error_code,
            ongoing.error_message.as_deref().unwrap_or("")
        );
    }
    let mut removing: BTreeMap<(String, i32), Vec<i32>> = BTreeMap::new();
    for t in &ongoing.topics {
        for p in &t.partitions {
            removing.insert(
                (t.name.0.to_string(), p.partition_index),
                p.removing_replicas.iter().map(|b| b.0).collect(),
            );
        }
    }
    let mut partitions = Vec::new();
    for t in &md.topics {
        let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
            continue;
        };
        if t.error_code != 0 {
            bail!("Metadata: topic {name} has error {}", t.error_code);
        }
        for p in &t.partitions {
            let leaving = removing
                .get(&(name.clone(), p.partition_index))
                .cloned()
                .unwrap_or_default();
            partitions.push(PartitionReplicas {
                topic: name.clone(),
                partition: p.partition_index,
                replicas: p
                    .replica_nodes
                    .iter()
                    .map(|b| b.0)
                    .filter(|b| !leaving.contains(b))
                    .collect(),
            });
        }
    }
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok((live, partitions))
}

/// The reassignments that take every replica off `node` (see the module doc).
fn plan_moves(
    partitions: &[PartitionReplicas],
    live: &[i32],
    node: i32,
) -> anyhow::Result<Vec<Move>> {
    let mut load: BTreeMap<i32, usize> = live
        .iter()
        .filter(|&&b| b != node)
        .map(|&b| (b, 0))
        .collect();
    for p in partitions {
        for r in &p.replicas {
            if let Some(n) = load.get_mut(r) {
                *n += 1;
            }
        }
    }
    let mut moves = Vec::new();
    for p in partitions.iter().filter(|p| p.replicas.contains(&node)) {
        let spare = load
            .iter()
            .filter(|(b, _)| !p.replicas.contains(b))
            .min_by_key(|(b, n)| (**n, **b))
            .map(|(b, _)| *b);
        let to: Vec<i32> = match spare {
            Some(s) => {
                *load.entry(s).or_default() += 1;
                p.replicas
                    .iter()
                    .map(|&r| if r == node { s } else { r })
                    .collect()
            }
            None => p.replicas.iter().copied().filter(|&r| r != node).collect(),
        };
        if to.is_empty() {
            bail!(
                "{}-{} has no replica but broker {node}, and no other broker is live to take it",
                p.topic,
                p.partition
            );
        }
        moves.push(Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to,
        });
    }
    Ok(moves)
}

/// Sends the reassignments (one request) and fails if any partition was refused.
async fn submit(client: &mut KafkaClient, moves: &[Move]) -> anyhow::Result<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for m in moves {
        by_topic.entry(&m.topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(m.partition)
                .with_replicas(Some(m.to.iter().copied().map(BrokerId).collect())),
        );
    }
    let req = AlterPartitionReassignmentsRequest::default().with_topics(
        by_topic
            .into_iter()
            .map(|(t, partitions)| {
                ReassignableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let resp = client
        .call(req, 0)
        .await
        .context("AlterPartitionReassignments")?;
    if resp.error_code != 0 {
        bail!(
            "AlterPartitionReassignments: error {} {}",
            resp.error_code,
            resp.error_message.as_deref().unwrap_or("")
        );
    }
    let mut refused = Vec::new();
    for t in &resp.responses {
        for p in t.partitions.iter().filter(|p| p.error_code != 0) {
            refused.push(format!(
                "  {}-{}: error {} {}",
                t.name.0,
                p.partition_index,
                p.error_code,
                p.error_message.as_deref().unwrap_or("")
            ));
        }
    }
    if !refused.is_empty() {
        bail!("reassignments refused:\n{}", refused.join("\n"));
    }
    Ok(())
}

/// Polls until no reassignment is in progress and no partition lists `node`, printing progress
/// when it changes; an error once `timeout` has passed.
async fn wait_done(client: &mut KafkaClient, node: i32, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        let listed = client
            .call(ListPartitionReassignmentsRequest::default(), 0)
            .await
            .context("ListPartitionReassignments")?;
        let moving: usize = listed.topics.iter().map(|t| t.partitions.len()).sum();
        let md = client
            .call(MetadataRequest::default().with_topics(None), 12)
            .await
            .context("Metadata")?;
        let still: usize = md
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.replica_nodes.iter().any(|b| b.0 == node))
            .count();
        if listed.error_code == 0 && moving == 0 && still == 0 {
            println!("Done: no partition has a replica on broker {node}.");
            return Ok(());
        }
        if last != Some((moving, still)) {
            println!(
                "  {moving} reassignment(s) in progress, {still} partition(s) still on broker {node}"
            );
            last = Some((moving, still));
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} s: {moving} reassignment(s) still in progress, {still} \
                 partition(s) still on broker {node} (they go on in the background; \
                 `strata cluster status` shows them)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, partition: i32, replicas: &[i32]) -> PartitionReplicas {
        PartitionReplicas {
            topic: topic.into(),
            partition,
            replicas: replicas.to_vec(),
        }
    }

    #[test]
    fn replaces_the_broker_in_place_with_the_least_loaded_spare() {
        let parts = [
            p("a", 0, &[3, 1]),
            p("a", 1, &[1, 2]),
            p("a", 2, &[2, 3]),
            p("b", 0, &[3, 4]),
        ];
        let moves = plan_moves(&parts, &[1, 2, 3, 4], 3).unwrap();
        let to: Vec<(String, i32, Vec<i32>)> = moves
            .iter()
            .map(|m| (m.topic.clone(), m.partition, m.to.clone()))
            .collect();
        // Loads before: 1→2, 2→2, 4→1. a-0 takes 4 (least), a-2 then 1 (1: 2, 4: 2 → lower
        // id), b-0 takes 2 (2: 2, 1: 3).
        assert_eq!(
            to,
            vec![
                ("a".to_string(), 0, vec![4, 1]),
                ("a".to_string(), 2, vec![2, 1]),
                ("b".to_string(), 0, vec![2, 4]),
            ]
        );
    }

    #[test]
    fn shrinks_when_every_live_broker_already_has_a_copy() {
        let moves = plan_moves(&[p("__consumer_offsets", 0, &[1, 2, 3])], &[1, 2, 3], 3).unwrap();
        assert_eq!(moves[0].to, vec![1, 2]);
        assert!(plan_moves(&[p("solo", 0, &[3])], &[3], 3).is_err());
        assert!(plan_moves(&[p("x", 0, &[1, 2])], &[1, 2, 3], 3)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_dead_broker_is_never_a_target() {
        // Broker 4 is not live (not in Metadata's broker list).
        let moves = plan_moves(&[p("a", 0, &[3, 1])], &[1, 2, 3], 3).unwrap();
        assert_eq!(moves[0].to, vec![2, 1]);
    }
}
