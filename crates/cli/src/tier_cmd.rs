//! `strata tier status|rebuild-catalog|restore`.
//!
//! `status` reads the bucket's manifests (the source of truth) and, given a running broker,
//! asks it for each partition's log start, local start and end over ListOffsets. Given a
//! broker, it then reports every broker's object-store request accounting (DescribeLogDirs
//! tag `strata_wire::REMOTE_REQUESTS_TAG`) after the partition table and a blank line:
//! requests by kind since the broker started, GiB uploaded and read, and write requests per GiB
//! uploaded and read requests per GiB read. The partition table is one row per partition up to
//! the first blank line, for scripts.
//! `rebuild-catalog` and `restore` work on a data directory while its broker is stopped (the
//! catalog is a sled database that one process opens at a time).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, DescribeLogDirsRequest, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use strata_tier::keys::MANIFEST_EXT;
use strata_tier::manifest::SegmentManifest;
use strata_tier::store::accounting::{per_gib, GIB};
use strata_tier::store::{RemoteStore, RequestKind, StoreOptions};
use strata_tier::{Tier, TierConfig};
use strata_wire::{RemoteRequests, REMOTE_REQUESTS_TAG};

use strata_broker::kafka_client::{ClientSecurity, KafkaClient as AdminClient};

/// Tiered storage administration.
#[derive(Debug, Args)]
pub(crate) struct TierArgs {
    /// Object store URL (`file:///DIR` or `s3://BUCKET/PREFIX`); default file://DATA_DIR/remote.
    #[arg(long, global = true)]
    object_store: Option<String>,
    /// The broker's data directory.
    #[arg(long, global = true, default_value = "./strata-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: TierCommand,
}

#[derive(Debug, Subcommand)]
enum TierCommand {
    /// Per partition: remote range from the bucket, and local range from a running broker.
    Status {
        /// A running broker to ask for local ranges, HOST:PORT.
        #[arg(long)]
        bootstrap_server: Option<String>,
        /// Kafka client properties file for the connection to --bootstrap-server
        /// (security.protocol, sasl.*, ssl.*), as Kafka's tools take it; see docs/security.md.
        #[arg(long, value_name = "FILE", requires = "bootstrap_server")]
        command_config: Option<PathBuf>,
    },
    /// Rebuild the catalog from the bucket's manifests (broker stopped). Objects of uploads
    /// that never finished are deleted, but only once their newest object is older than
    /// --orphan-min-age-ms: a younger one may belong to an uploader that is still writing.
    RebuildCatalog {
        /// Keep unfinished uploads younger than this many milliseconds
        /// (`strata.tier.orphan.min.age.ms`; default one hour).
        #[arg(long, default_value_t = 3_600_000)]
        orphan_min_age_ms: u64,
    },
    /// Recreate a topic from the bucket alone on an empty data dir (broker stopped). The
    /// restored topic gets `remote.storage.enable=true` and, unless overridden with --config,
    /// `retention.ms=-1` and `retention.bytes=-1`, so restoring never deletes what it restores.
    Restore {
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Topic config override for the restored topic, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
}

fn store_url(args: &TierArgs) -> anyhow::Result<String> {
    Ok(match &args.object_store {
        Some(u) => u.clone(),
        None => {
            let dir = std::path::absolute(args.data_dir.join("remote"))?;
            format!("file://{}", dir.display())
        }
    })
}

async fn manifests(store: &RemoteStore) -> anyhow::Result<Vec<SegmentManifest>> {
    let mut out = Vec::new();
    for (key, _) in store.list("v1/").await? {
        if key.ends_with(MANIFEST_EXT) {
            let data = store.get(&key).await?;
            out.push(SegmentManifest::from_bytes(&data).map_err(anyhow::Error::msg)?);
        }
    }
    out.sort_by(|a, b| {
        (&a.topic, a.partition, a.base_offset).cmp(&(&b.topic, b.partition, b.base_offset))
    });
    Ok(out)
}

pub(crate) async fn run(args: TierArgs) -> anyhow::Result<()> {
    let url = store_url(&args)?;
    let store = RemoteStore::from_url(&url, StoreOptions::default())
        .await
        .with_context(|| format!("open object store {url}"))?;
    match &args.command {
        TierCommand::Status {
            bootstrap_server,
            command_config,
        } => {
            let security = ClientSecurity::load_command_config(command_config.as_deref())?;
            status(&store, bootstrap_server.as_deref(), &security).await
        }
        TierCommand::RebuildCatalog { orphan_min_age_ms } => {
            let catalog_dir = args.data_dir.join("__tier").join("catalog");
            if catalog_dir.exists() {
                std::fs::remove_dir_all(&catalog_dir).with_context(|| {
                    format!("remove {} (is the broker stopped?)", catalog_dir.display())
                })?;
            }
            let mut config = tier_config(&args);
            config.orphan_min_age = std::time::Duration::from_millis(*orphan_min_age_ms);
            let tier = Tier::open(store, config).await?;
            let report = tier.rebuild_catalog().await?;
            tier.catalog().flush().await?;
            println!(
                "Catalog rebuilt from {url}: {} segments; {} orphaned objects deleted, {} kept \
                 (unfinished uploads younger than {orphan_min_age_ms} ms), {} unreadable manifests.",
                report.segments,
                report.deleted_objects,
                report.kept_young_objects,
                report.unreadable_manifests
            );
            Ok(())
        }
        TierCommand::Restore { topic, configs } => restore(&args, &store, topic, configs).await,
    }
}

fn tier_config(args: &TierArgs) -> TierConfig {
    TierConfig {
        catalog_dir: args.data_dir.join("__tier").join("catalog"),
        cache_dir: args.data_dir.join("__tier").join("cache"),
        cache_bytes: 64 << 20,
        chunk_bytes: 16 << 20,
        upload_concurrency: 1,
        upload_bytes_per_sec: u64::MAX,
        cold_read_concurrency: 1,
        cold_read_timeout: std::time::Duration::from_secs(30),
        orphan_min_age: std::time::Duration::from_secs(3600),
    }
}

async fn status(
    store: &RemoteStore,
    bootstrap: Option<&str>,
    security: &ClientSecurity,
) -> anyhow::Result<()> {
    let all = manifests(store).await?;
    let mut ranges: BTreeMap<(String, i32), (i64, i64, usize, u64)> = BTreeMap::new();
    for m in &all {
        let r = ranges
            .entry((m.topic.clone(), m.partition))
            .or_insert((i64::MAX, -1, 0, 0));
        r.0 = r.0.min(m.base_offset);
        r.1 = r.1.max(m.end_offset);
        r.2 += 1;
        r.3 += m.size;
    }
    let mut client = match bootstrap {
        Some(b) => Some(AdminClient::connect_with(b, security).await?),
        None => None,
    };
    println!("TOPIC\tPARTITION\tREMOTE-START\tREMOTE-END\tREMOTE-SEGMENTS\tREMOTE-BYTES\tLOG-START\tLOCAL-START\tLOG-END");
    for ((topic, partition), (start, end, n, bytes)) in ranges {
        let (log_start, local_start, log_end) = match client.as_mut() {
            Some(c) => (
                list_offset(c, &topic, partition, -2).await?.to_string(),
                list_offset(c, &topic, partition, -4).await?.to_string(),
                list_offset(c, &topic, partition, -1).await?.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!("{topic}\t{partition}\t{start}\t{end}\t{n}\t{bytes}\t{log_start}\t{local_start}\t{log_end}");
    }
    if let Some(c) = client.as_mut() {
        let brokers = broker_requests(c).await?;
        print!("{}", requests_report(&brokers));
    }
    Ok(())
}

/// Every broker of the cluster (Metadata) with its object-store accounting, if it tiers.
async fn broker_requests(
    client: &mut AdminClient,
) -> anyhow::Result<Vec<(i32, Option<RemoteRequests>)>> {
    let md = client
        .call(MetadataRequest::default().with_topics(Some(Vec::new())), 12)
        .await
        .context("Metadata")?;
    let mut out = Vec::new();
    for b in &md.brokers {
        let addr = format!("{}:{}", b.host.as_str(), b.port);
        let mut one = AdminClient::connect(&addr)
            .await
            .with_context(|| format!("connect to broker {} at {addr}", b.node_id.0))?;
        // No topics: only the per-directory results, which carry the accounting.
        let resp = one
            .call(
                DescribeLogDirsRequest::default().with_topics(Some(Vec::new())),
                4,
            )
            .await
            .with_context(|| format!("DescribeLogDirs on broker {}", b.node_id.0))?;
        let requests = resp.results.iter().find_map(|r| {
            r.unknown_tagged_fields
                .get(&REMOTE_REQUESTS_TAG)
                .and_then(|v| RemoteRequests::decode(v))
        });
        out.push((b.node_id.0, requests));
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}

/// Two tab-separated tables: requests by kind per broker, then per broker the bytes moved and
/// requests per GiB (`-` before any byte moved).
fn requests_report(brokers: &[(i32, Option<RemoteRequests>)]) -> String {
    let mut out = String::from("\nBROKER\tCOUNTED\tKIND\tREQUESTS\n");
    for (id, r) in brokers {
        match r {
            Some(r) => {
                let counted = if r.http { "http" } else { "logical" };
                for (kind, n) in &r.requests {
                    out.push_str(&format!("{id}\t{counted}\t{kind}\t{n}\n"));
                }
                let total: i64 = r.requests.iter().map(|(_, n)| n).sum();
                out.push_str(&format!("{id}\t{counted}\ttotal\t{total}\n"));
            }
            None => out.push_str(&format!("{id}\t-\t-\t-\n")),
        }
    }
    out.push_str("\nBROKER\tBYTES-UPLOADED\tGIB-UPLOADED\tBYTES-READ\tGIB-READ\tWRITE-REQUESTS-PER-GIB-UPLOADED\tREAD-REQUESTS-PER-GIB-READ\n");
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for (id, r) in brokers {
        let Some(r) = r else { continue };
        let sum = |which: fn(RequestKind) -> bool| -> u64 {
            let known = r.requests.iter().filter_map(|(kind, n)| {
                let kind = RequestKind::from_label(kind)?;
                which(kind).then_some(u64::try_from(*n).unwrap_or(0))
            });
            known.sum()
        };
        let (up, read) = (r.bytes_uploaded.max(0) as u64, r.bytes_read.max(0) as u64);
        out.push_str(&format!(
            "{id}\t{up}\t{:.4}\t{read}\t{:.4}\t{}\t{}\n",
            up as f64 / GIB,
            read as f64 / GIB,
            fmt(per_gib(sum(RequestKind::is_write), up)),
            fmt(per_gib(sum(RequestKind::is_read), read)),
        ));
    }
    out
}

async fn list_offset(
    client: &mut AdminClient,
    topic: &str,
    partition: i32,
    ts: i64,
) -> anyhow::Result<i64> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(ts)])]);
    let resp = client.call(req, 8).await?;
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .context("empty ListOffsets response")?;
    if p.error_code != 0 {
        bail!("ListOffsets {topic}-{partition}: error {}", p.error_code);
    }
    Ok(p.offset)
}

async fn restore(
    args: &TierArgs,
    store: &RemoteStore,
    topic: &str,
    overrides: &[String],
) -> anyhow::Result<()> {
    let all: Vec<SegmentManifest> = manifests(store)
        .await?
        .into_iter()
        .filter(|m| m.topic == topic)
        .collect();
    if all.is_empty() {
        bail!("no segments of topic {topic} in the bucket");
    }
    // A topic deleted and re-created has several ids: restore the most recently written one.
    let topic_id = all
        .iter()
        .max_by_key(|m| m.uploaded_at_ms)
        .map(|m| m.topic_id.clone())
        .unwrap_or_default();
    let mut ranges: HashMap<i32, (i64, i64)> = HashMap::new();
    let mut by_partition: HashMap<i32, Vec<SegmentManifest>> = HashMap::new();
    for m in all.iter().filter(|m| m.topic_id == topic_id) {
        // Manifests are sorted by (topic, partition, base offset): the history stays in order.
        by_partition.entry(m.partition).or_default().push(m.clone());
        let r = ranges.entry(m.partition).or_insert((i64::MAX, -1));
        r.0 = r.0.min(m.base_offset);
        r.1 = r.1.max(m.end_offset);
    }
    let partitions = ranges.keys().max().map_or(0, |p| p + 1);
    let meta_dir = args.data_dir.join("__cluster_metadata");
    let base = strata_quorum::offline_image(&meta_dir)?;
    let mut meta = strata_meta::MetadataStore::open_with_base(&meta_dir, base.node_id, base)?;
    let mut configs = BTreeMap::new();
    configs.insert("remote.storage.enable".to_string(), "true".to_string());
    // The bucket does not record the topic's retention; keep everything unless told otherwise.
    configs.insert("retention.ms".to_string(), "-1".to_string());
    configs.insert("retention.bytes".to_string(), "-1".to_string());
    for kv in overrides {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--config {kv}: expected KEY=VALUE"))?;
        configs.insert(k.trim().to_string(), v.trim().to_string());
    }
    if configs.get("remote.storage.enable").map(String::as_str) != Some("true") {
        bail!("a restored topic must keep remote.storage.enable=true");
    }
    meta.create_topic_with_id(topic, &topic_id, partitions, 1, configs, false)?;
    let config = strata_log::LogConfig {
        remote_storage_enable: true,
        ..strata_log::LogConfig::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    for p in 0..partitions {
        let (start, end) = ranges.get(&p).copied().unwrap_or((0, 0));
        let dir = args.data_dir.join(format!("{topic}-{p}"));
        let manifests = by_partition.get(&p).map(Vec::as_slice).unwrap_or(&[]);
        // Producer state at the remote end: the snapshot uploaded with the last segment
        // (transactions included) when there is one, else the manifests' idempotent batches.
        let seed = strata_tier::producer_seed::producer_seed(store, manifests, end).await?;
        let restored = strata_log::restore_partition(
            &dir,
            &topic_id,
            config.clone(),
            start,
            end,
            seed.as_seed(),
            now,
        )?;
        let state = if restored.from_snapshot {
            "producer snapshot"
        } else {
            "manifests' producer batches"
        };
        println!("Restored {topic}-{p}: offsets [{start}, {end}) from the bucket.");
        println!("  producer state of {topic}-{p} from the {state}");
        for (producer_id, first_offset) in &restored.aborted {
            // Its end is not in the bucket and no coordinator of this cluster knows it.
            println!("  aborted the transaction of producer {producer_id} open from offset {first_offset} at the restored end");
        }
    }
    println!("Topic {topic} (id {topic_id}) restored with {partitions} partitions; start the broker to serve it.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requests_report_lists_kinds_and_per_gib_figures() {
        let r = RemoteRequests {
            http: true,
            bytes_uploaded: 1 << 30,
            bytes_read: 1 << 29,
            requests: vec![
                ("get_range".into(), 4),
                ("put".into(), 2),
                ("multipart_part".into(), 8),
                ("list".into(), 3),
            ],
        };
        let text = requests_report(&[(1, Some(r)), (2, None)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "",
                "BROKER\tCOUNTED\tKIND\tREQUESTS",
                "1\thttp\tget_range\t4",
                "1\thttp\tput\t2",
                "1\thttp\tmultipart_part\t8",
                "1\thttp\tlist\t3",
                "1\thttp\ttotal\t17",
                "2\t-\t-\t-",
                "",
                "BROKER\tBYTES-UPLOADED\tGIB-UPLOADED\tBYTES-READ\tGIB-READ\t\
                 WRITE-REQUESTS-PER-GIB-UPLOADED\tREAD-REQUESTS-PER-GIB-READ",
                "1\t1073741824\t1.0000\t536870912\t0.5000\t10.0\t8.0",
            ]
        );
    }
}
