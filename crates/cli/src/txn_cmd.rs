//! `strata txn list|describe`, spoken over the Kafka protocol like Kafka's
//! `kafka-transactions.sh`, against one broker or a cluster.
//!
//! `list` sends ListTransactions to every broker in Metadata (each lists the transactional
//! ids it coordinates) and prints the union; `describe` sends DescribeTransactions to the id's
//! coordinator (FindCoordinator key type 1).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, ListTransactionsRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use strata_broker::kafka_client::ClientSecurity;

use crate::cluster_client::{error_name, ClusterClient};

/// Transactions: list the transactional ids and describe one.
#[derive(Debug, Args)]
pub(crate) struct TxnArgs {
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
    command: TxnCommand,
}

#[derive(Debug, Subcommand)]
enum TxnCommand {
    /// List transactional ids with their producer id, state and coordinator.
    List {
        /// Only these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
        /// CompleteAbort); repeatable.
        #[arg(long)]
        state: Vec<String>,
    },
    /// Show a transactional id's state, producer, timeout, start time and partitions.
    Describe {
        /// The transactional id.
        transactional_id: String,
    },
}

pub(crate) async fn run(args: TxnArgs) -> anyhow::Result<()> {
    let security = ClientSecurity::load_command_config(args.command_config.as_deref())?;
    let mut client = ClusterClient::connect_with(&args.bootstrap_server, security).await?;
    match args.command {
        TxnCommand::List { state } => list(&mut client, &state).await,
        TxnCommand::Describe { transactional_id } => describe(&mut client, &transactional_id).await,
    }
}

async fn list(client: &mut ClusterClient, states: &[String]) -> anyhow::Result<()> {
    let mut rows: BTreeMap<String, (i64, String, i32)> = BTreeMap::new();
    for (node, addr) in client.brokers().await? {
        let req = ListTransactionsRequest::default().with_state_filters(
            states
                .iter()
                .map(|s| StrBytes::from_string(s.clone()))
                .collect(),
        );
        let resp = client.call_node(node, req, 0).await.with_context(|| {
            format!("listing the transactions of broker {node} ({addr}) failed")
        })?;
        if resp.error_code != 0 {
            bail!(
                "listing the transactions of broker {node} ({addr}) failed: {}",
                error_name(resp.error_code)
            );
        }
        if let Some(unknown) = resp.unknown_state_filters.first() {
            bail!("unknown transaction state '{unknown}'");
        }
        for t in &resp.transaction_states {
            rows.insert(
                t.transactional_id.to_string(),
                (t.producer_id.0, t.transaction_state.to_string(), node),
            );
        }
    }
    println!(
        "{:<32} {:>12} {:<16} {:>11}",
        "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"
    );
    for (id, (pid, state, node)) in rows {
        println!("{id:<32} {pid:>12} {state:<16} {node:>11}");
    }
    Ok(())
}

async fn describe(client: &mut ClusterClient, id: &str) -> anyhow::Result<()> {
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
    let resp = client
        .txn_coordinator_call(id, req, 0, |r| {
            r.transaction_states.first().map_or(0, |s| s.error_code)
        })
        .await
        .with_context(|| format!("describing transactional id '{id}' failed"))?;
    let Some(s) = resp.transaction_states.first() else {
        bail!("the coordinator returned no state for '{id}'");
    };
    if s.error_code != 0 {
        bail!("describing '{id}' failed: {}", error_name(s.error_code));
    }
    println!("TransactionalId:   {id}");
    println!("State:             {}", s.transaction_state);
    println!("ProducerId:        {}", s.producer_id.0);
    println!("ProducerEpoch:     {}", s.producer_epoch);
    println!("TimeoutMs:         {}", s.transaction_timeout_ms);
    println!("StartTimeMs:       {}", s.transaction_start_time_ms);
    let partitions: Vec<String> = s
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| format!("{}-{p}", t.topic.as_str()))
        })
        .collect();
    println!("Partitions:        {}", partitions.join(","));
    Ok(())
}
