//! `strata group list|describe|reset-offsets|delete`, spoken over the Kafka protocol like
//! Kafka's `kafka-consumer-groups.sh`, against one broker or a cluster.
//!
//! Where requests go (crates/cli/src/cluster_client.rs): a group's requests (DescribeGroups,
//! OffsetFetch, OffsetCommit, DeleteGroups) to its coordinator, found with FindCoordinator
//! through `--bootstrap-server`; ListOffsets to each partition's leader; ListGroups to every
//! broker in Metadata (each lists the groups it coordinates), and `list` prints the union.
//!
//! `describe` joins three answers, as the Kafka tool does: DescribeGroups (state, members and
//! their assignments), OffsetFetch (committed offsets) and ListOffsets with `latest` and
//! read_uncommitted (log end offset = high watermark). `LAG = LOG-END-OFFSET − CURRENT-OFFSET`,
//! shown as `-` when nothing is committed. `reset-offsets` only works on a group without
//! members (Empty, or unknown), prints the plan, and commits it only with `--execute`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster_client::{error_name, partitions_of, ClusterClient, TopicPartition};
use strata_admin::assignment::decode_assignment;
use strata_broker::kafka_client::ClientSecurity;

/// Consumer group administration and lag.
#[derive(Debug, Args)]
pub(crate) struct GroupArgs {
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
    command: GroupCommand,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// List consumer groups.
    List,
    /// Show a group's members and, per partition, committed offset, log end offset and lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Reset a group's committed offsets (the group must have no members). Prints the plan;
    /// applies it only with --execute.
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose partitions are reset (all of them).
        #[arg(long)]
        topic: String,
        /// Reset to each partition's log start offset.
        #[arg(long, group = "target")]
        to_earliest: bool,
        /// Reset to each partition's log end offset.
        #[arg(long, group = "target")]
        to_latest: bool,
        /// Reset to this offset (clamped to each partition's [earliest, latest]).
        #[arg(long, group = "target")]
        to_offset: Option<i64>,
        /// Reset to the first offset with a timestamp at or after this time:
        /// YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM] (UTC when no zone is given) or epoch ms.
        #[arg(long, group = "target")]
        to_datetime: Option<String>,
        /// Apply the reset (without it, only print the plan).
        #[arg(long)]
        execute: bool,
    },
    /// Delete a group and its committed offsets (the group must have no members).
    Delete {
        /// Group id.
        group: String,
    },
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) async fn run(args: GroupArgs) -> anyhow::Result<()> {
    let security = ClientSecurity::load_command_config(args.command_config.as_deref())?;
    let mut client = ClusterClient::connect_with(&args.bootstrap_server, security).await?;
    match args.command {
        GroupCommand::List => list(&mut client).await,
        GroupCommand::Describe { group } => describe(&mut client, &group).await,
        GroupCommand::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
            to_datetime,
            execute,
        } => {
            let target = if to_earliest {
                Target::Earliest
            } else if to_latest {
                Target::Latest
            } else if let Some(o) = to_offset {
                Target::Offset(o)
            } else if let Some(t) = to_datetime {
                Target::Time(parse_datetime(&t)?)
            } else {
                bail!("choose one of --to-earliest, --to-latest, --to-offset N, --to-datetime T");
            };
            reset_offsets(&mut client, &group, &topic, target, execute).await
        }
        GroupCommand::Delete { group } => delete(&mut client, &group).await,
    }
}

/// Every broker lists the groups it coordinates: ask each one in Metadata and print the union.
/// A broker that cannot be asked fails the command (Kafka's tool reports it too): the list
/// would be missing its groups.
async fn list(client: &mut ClusterClient) -> anyhow::Result<()> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (node, addr) in client.brokers().await? {
        let resp = client
            .call_node(node, ListGroupsRequest::default(), 4)
            .await
            .with_context(|| format!("listing the groups of broker {node} ({addr}) failed"))?;
        if resp.error_code != 0 {
            bail!(
                "listing the groups of broker {node} ({addr}) failed: {}",
                error_name(resp.error_code)
            );
        }
        names.extend(resp.groups.iter().map(|g| g.group_id.to_string()));
    }
    for n in names {
        println!("{n}");
    }
    Ok(())
}

/// One member of a described group.
struct MemberRow {
    id: String,
    host: String,
    client: String,
    partitions: Vec<TopicPartition>,
}

/// `(state, members)` of a group from DescribeGroups.
async fn describe_group(
    client: &mut ClusterClient,
    group: &str,
) -> anyhow::Result<(String, Vec<MemberRow>)> {
    let resp = client
        .coordinator_call(
            group,
            DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
            5,
            |r| r.groups.first().map_or(0, |g| g.error_code),
        )
        .await?;
    let g = resp
        .groups
        .first()
        .context("DescribeGroups returned no group")?;
    if g.error_code != 0 {
        bail!("DescribeGroups failed: {}", error_name(g.error_code));
    }
    let members = g
        .members
        .iter()
        .map(|m| MemberRow {
            id: m.member_id.to_string(),
            host: m.client_host.to_string(),
            client: m.client_id.to_string(),
            partitions: decode_assignment(&m.member_assignment),
        })
        .collect();
    Ok((g.group_state.to_string(), members))
}

async fn committed_offsets(
    client: &mut ClusterClient,
    group: &str,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let resp = client
        .coordinator_call(
            group,
            OffsetFetchRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_topics(None),
            7,
            |r| r.error_code,
        )
        .await?;
    if resp.error_code != 0 {
        bail!("OffsetFetch failed: {}", error_name(resp.error_code));
    }
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.committed_offset >= 0)
                .map(|p| ((t.name.to_string(), p.partition_index), p.committed_offset))
        })
        .collect())
}

async fn describe(client: &mut ClusterClient, group: &str) -> anyhow::Result<()> {
    let (state, members) = describe_group(client, group).await?;
    let committed = committed_offsets(client, group).await?;
    if state == "Dead" && committed.is_empty() {
        bail!("Consumer group '{group}' does not exist.");
    }
    let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.partitions {
            owner.insert(tp.clone(), i);
        }
    }
    let partitions: BTreeSet<TopicPartition> =
        committed.keys().chain(owner.keys()).cloned().collect();
    let [ends] = client.list_offsets(&partitions, [-1]).await?;
    let mut rows: Vec<[String; 9]> = Vec::new();
    for tp in &partitions {
        let current = committed.get(tp);
        let end = ends.get(tp);
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => "-".to_string(),
        };
        let (id, host, client_id) = match owner.get(tp).map(|i| &members[*i]) {
            Some(m) => (m.id.clone(), m.host.clone(), m.client.clone()),
            None => ("-".into(), "-".into(), "-".into()),
        };
        rows.push([
            group.to_string(),
            tp.0.clone(),
            tp.1.to_string(),
            current.map_or("-".into(), |c| c.to_string()),
            end.map_or("-".into(), |e| e.to_string()),
            lag,
            id,
            host,
            client_id,
        ]);
    }
    for m in members.iter().filter(|m| m.partitions.is_empty()) {
        rows.push([
            group.to_string(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            m.id.clone(),
            m.host.clone(),
            m.client.clone(),
        ]);
    }
    println!();
    match state.as_str() {
        "Empty" | "Dead" => println!("Consumer group '{group}' has no active members.\n"),
        "PreparingRebalance" | "CompletingRebalance" => {
            println!("Warning: Consumer group '{group}' is rebalancing.\n")
        }
        _ => {}
    }
    print_table(
        &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ],
        &rows,
    );
    Ok(())
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join(" ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Where `reset-offsets` moves a group.
#[derive(Debug, Clone, Copy)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Time(i64),
}

async fn reset_offsets(
    client: &mut ClusterClient,
    group: &str,
    topic: &str,
    target: Target,
    execute: bool,
) -> anyhow::Result<()> {
    let (state, members) = describe_group(client, group).await?;
    if !members.is_empty() || !(state == "Empty" || state == "Dead") {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
        );
    }
    let meta = client.metadata(Some(&[topic])).await?;
    let t = meta.topics.first().context("Metadata returned no topic")?;
    if t.error_code != 0 || t.partitions.is_empty() {
        bail!("topic '{topic}' does not exist");
    }
    let partitions = partitions_of(t);
    let [earliest, latest] = client.list_offsets(&partitions, [-2, -1]).await?;
    let by_time = match target {
        Target::Time(ts) => {
            let [by_time] = client.list_offsets(&partitions, [ts]).await?;
            Some(by_time)
        }
        _ => None,
    };
    let mut plan: Vec<(i32, i64)> = Vec::new();
    for tp in &partitions {
        let (lo, hi) = (
            *earliest.get(tp).context("no earliest offset")?,
            *latest.get(tp).context("no latest offset")?,
        );
        let offset = match target {
            Target::Earliest => lo,
            Target::Latest => hi,
            Target::Offset(o) => o.clamp(lo, hi),
            Target::Time(_) => match by_time.as_ref().and_then(|m| m.get(tp)) {
                Some(o) if *o >= 0 => *o,
                _ => hi,
            },
        };
        plan.push((tp.1, offset));
    }
    let rows: Vec<[String; 4]> = plan
        .iter()
        .map(|(p, o)| {
            [
                group.to_string(),
                topic.to_string(),
                p.to_string(),
                o.to_string(),
            ]
        })
        .collect();
    println!();
    print_table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], &rows);
    if !execute {
        println!("\n(dry run: nothing was changed; add --execute to apply)");
        return Ok(());
    }
    let resp = client
        .coordinator_call(
            group,
            OffsetCommitRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(sb(""))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(
                        plan.iter()
                            .map(|(p, o)| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(*o)
                                    .with_committed_leader_epoch(-1)
                                    .with_committed_metadata(Some(sb("")))
                            })
                            .collect(),
                    )]),
            7,
            |r| {
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .find(|c| *c != 0)
                    .unwrap_or(0)
            },
        )
        .await?;
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                bail!(
                    "resetting {}-{} failed: {}",
                    t.name.as_str(),
                    p.partition_index,
                    error_name(p.error_code)
                );
            }
        }
    }
    println!("\nOffsets of group '{group}' were reset.");
    Ok(())
}

async fn delete(client: &mut ClusterClient, group: &str) -> anyhow::Result<()> {
    let resp = client
        .coordinator_call(
            group,
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(group))]),
            2,
            |r| r.results.first().map_or(0, |g| g.error_code),
        )
        .await?;
    let r = resp
        .results
        .first()
        .context("DeleteGroups returned no result")?;
    if r.error_code != 0 {
        bail!(
            "Deletion of some consumer groups failed:\n* Group '{group}' could not be deleted due to: {}",
            error_name(r.error_code)
        );
    }
    println!("Deletion of requested consumer groups ('{group}') was successful.");
    Ok(())
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]` (UTC by default) or epoch milliseconds.
fn parse_datetime(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || anyhow::anyhow!("--to-datetime {s}: expected YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]");
    let (date, rest) = s.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3 {
        return Err(bad());
    }
    let (time, offset_min) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|i| *i >= 8) {
        let (t, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':').ok_or_else(bad)?;
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        (t, sign * (h * 60 + m))
    } else {
        (rest, 0)
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if t.len() != 3 {
        return Err(bad());
    }
    // Digits only, so cutting at byte 3 never splits a character.
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let millis: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
    let days = days_from_civil(d[0], d[1], d[2]);
    let secs = days * 86_400 + t[0] * 3_600 + t[1] * 60 + t[2] - offset_min * 60;
    Ok(secs * 1_000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_like_kafka_tools() {
        // A non-ASCII fraction is refused, not cut inside a character.
        assert!(parse_datetime("2023-11-14T22:13:20.éé").is_err());
        assert!(parse_datetime("2023-11-14T22:13:20.").is_err());
        assert_eq!(parse_datetime("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.000Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_datetime("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(parse_datetime("1700000000000").unwrap(), 1_700_000_000_000);
        assert!(parse_datetime("yesterday").is_err());
    }
}
