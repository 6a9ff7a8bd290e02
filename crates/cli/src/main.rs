//! The `strata` binary: `strata serve` runs the broker; `strata topic …` administers topics
//! over the Kafka protocol, like Kafka's own command-line tools.
#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod broker_cmd;
mod cluster_cmd;
mod door_security;
mod export_cmd;
mod group_cmd;
mod grpc_admin;
mod meta_cmd;
mod metrics_server;
mod settings;
mod tier_cmd;
mod topic_cmd;
mod txn_cmd;

use std::path::PathBuf;

/// The Kafka cluster client the admin subcommands share with the gRPC admin API.
use strata_admin::cluster_client;

/// mimalloc instead of glibc malloc: the broker allocates and frees a request-sized buffer per
/// produce request, and glibc returned those pages to the kernel and faulted them in again on
/// every request (44% of broker CPU in the 1 KiB produce benchmark; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Strata: a Kafka-compatible event broker with cheap long retention.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker (defaults: data under ./strata-data, listener 127.0.0.1:9092).
    Serve(Box<ServeArgs>),
    /// Create, list, describe, alter and delete topics.
    Topic(topic_cmd::TopicArgs),
    /// Cluster status: the metadata quorum, brokers, controller, unhealthy partitions.
    Cluster(cluster_cmd::ClusterArgs),
    /// Brokers: decommission (move every partition replica off a broker).
    Broker(broker_cmd::BrokerArgs),
    /// Consumer groups: list, describe (offsets and lag), reset-offsets, delete.
    Group(group_cmd::GroupArgs),
    /// Tiered storage: status, catalog rebuild, restore from the bucket.
    Tier(tier_cmd::TierArgs),
    /// Transactions: list transactional ids, describe one.
    Txn(txn_cmd::TxnArgs),
    /// Export a topic's records, hot and tiered, to Parquet or JSON Lines files (resumable).
    Export(export_cmd::ExportArgs),
    /// Metadata journal: check, repair (truncate), recover topics from partition directories.
    Meta(meta_cmd::MetaArgs),
}

/// Settings for `strata serve`. Precedence, lowest first: built-in defaults, `--config` TOML
/// file, `STRATA_*` environment variables (e.g. `STRATA_NUM_PARTITIONS=4`), flags.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML file of broker settings with Kafka names (e.g. `num.partitions = 4`).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// This node's id (Kafka: node.id).
    #[arg(long)]
    node_id: Option<i32>,
    /// The metadata quorum's voters, `id@host:port,…` with each voter's --cluster-listen
    /// address (Kafka: controller.quorum.voters). Without it the node is a one-voter cluster.
    #[arg(long)]
    voters: Option<String>,
    /// The gRPC listener between nodes, [PLAINTEXT://|SSL://]HOST:PORT (setting
    /// strata.cluster.listen; default: this node's address in --voters). SSL:// is mutual TLS
    /// with the node certificate (docs/security.md, "Links between nodes").
    #[arg(long)]
    cluster_listen: Option<String>,
    /// Data directory (Kafka: log.dirs).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listeners, a comma-separated list of `[PROTOCOL://]HOST:PORT` with PROTOCOL one of
    /// PLAINTEXT (the default), SSL, SASL_PLAINTEXT, SASL_SSL (Kafka: listeners), e.g.
    /// `127.0.0.1:9092,SSL://127.0.0.1:9093`.
    #[arg(long)]
    listen: Option<String>,
    /// Addresses advertised to clients, `[PROTOCOL://]HOST:PORT,…` matched to the listeners by
    /// protocol (Kafka: advertised.listeners; default: each listener's own address).
    #[arg(long)]
    advertised_listener: Option<String>,
    /// PEM file of the certificate chain of the TLS listeners (SSL, SASL_SSL) (setting
    /// ssl.keystore.certificate.chain).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM file of the TLS listeners' private key (setting ssl.keystore.key).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Object store for tiered segments: `file:///DIR` or `s3://BUCKET/PREFIX`
    /// (default: file://DATA_DIR/remote). S3 settings come from the AWS environment:
    /// AWS_ENDPOINT_URL, AWS_REGION, AWS_ALLOW_HTTP=true, credentials via the AWS chain.
    #[arg(long)]
    object_store: Option<String>,
    /// Serve Prometheus metrics on this HOST:PORT (setting strata.metrics.listen; plain HTTP
    /// without a token unless the --metrics-* options below say otherwise). See
    /// docs/security.md.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// PEM certificate chain: serve metrics over TLS (setting strata.metrics.tls.cert; needs
    /// --metrics-tls-key; the Kafka --tls-cert is never reused).
    #[arg(long, value_name = "FILE")]
    metrics_tls_cert: Option<PathBuf>,
    /// PEM private key of --metrics-tls-cert (setting strata.metrics.tls.key).
    #[arg(long, value_name = "FILE")]
    metrics_tls_key: Option<PathBuf>,
    /// File holding the token every scrape must send as `Authorization: Bearer <token>`
    /// (setting strata.metrics.token.file).
    #[arg(long, value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Serve the gRPC admin API (`strata.admin.v1.Admin`, with reflection) on this HOST:PORT
    /// (setting strata.grpc.listen; default: off). See docs/admin-api.md.
    #[arg(long)]
    grpc_listen: Option<String>,
    /// PEM certificate chain: serve the gRPC admin API over TLS (setting strata.grpc.tls.cert;
    /// needs --grpc-tls-key; the Kafka --tls-cert is never reused).
    #[arg(long, value_name = "FILE")]
    grpc_tls_cert: Option<PathBuf>,
    /// PEM private key of --grpc-tls-cert (setting strata.grpc.tls.key).
    #[arg(long, value_name = "FILE")]
    grpc_tls_key: Option<PathBuf>,
    /// PEM CA certificates: gRPC clients must present a certificate chaining to them (mTLS;
    /// setting strata.grpc.tls.client.ca; needs --grpc-tls-cert).
    #[arg(long, value_name = "FILE")]
    grpc_client_ca: Option<PathBuf>,
    /// File holding the token every gRPC call must send as `authorization: Bearer <token>`
    /// metadata (setting strata.grpc.token.file).
    #[arg(long, value_name = "FILE")]
    grpc_token_file: Option<PathBuf>,
    /// Run as a read replica (setting strata.read.replica): serve the tiered topics already
    /// in the --object-store bucket, read-only, with no local log (produce and admin writes
    /// are refused; consumer groups are local to this replica). See docs/read-replicas.md.
    #[arg(long)]
    read_replica: bool,
    /// A SCRAM user to create at start if it is not there yet, in Kafka's `kafka-storage
    /// format --add-scram` syntax, e.g. `SCRAM-SHA-256=[name=admin,password=admin-secret]`
    /// (repeatable; only the salted credential is stored).
    #[arg(long = "add-scram", value_name = "MECHANISM=[name=…,password=…]")]
    add_scram: Vec<String>,
    /// Any broker setting by its Kafka name, e.g. `--set log.segment.bytes=1048576`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Topic(args) => runtime.block_on(topic_cmd::run(args)),
        Command::Cluster(args) => runtime.block_on(cluster_cmd::run(args)),
        Command::Broker(args) => runtime.block_on(broker_cmd::run(args)),
        Command::Group(args) => runtime.block_on(group_cmd::run(args)),
        Command::Txn(args) => runtime.block_on(txn_cmd::run(args)),
        Command::Tier(args) => runtime.block_on(tier_cmd::run(args)),
        Command::Export(args) => runtime.block_on(export_cmd::run(args)),
        Command::Meta(args) => meta_cmd::run(args),
    }
}

/// Turns transparent huge pages off for this process. With THP, mimalloc's mostly empty arenas
/// are backed by 2 MiB pages, so an idle broker holds ~40 MiB it never uses; the broker's hot
/// path writes to the page cache, not the heap, so huge pages buy it nothing (docs/benchmarks.md).
fn disable_transparent_huge_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes plain integer arguments and only sets a flag on
    // this process's memory descriptor; failure (an old kernel) leaves THP as it was.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut flags = Vec::new();
    if let Some(id) = args.node_id {
        flags.push(("node.id".to_string(), id.to_string()));
    }
    if let Some(v) = &args.voters {
        flags.push(("controller.quorum.voters".to_string(), v.clone()));
    }
    if let Some(c) = &args.cluster_listen {
        flags.push(("strata.cluster.listen".to_string(), c.clone()));
    }
    if let Some(d) = &args.data_dir {
        flags.push(("log.dirs".to_string(), d.display().to_string()));
    }
    if let Some(l) = &args.listen {
        flags.push(("listeners".to_string(), l.clone()));
    }
    if let Some(a) = &args.advertised_listener {
        flags.push(("advertised.listeners".to_string(), a.clone()));
    }
    if let Some(p) = &args.tls_cert {
        flags.push((
            "ssl.keystore.certificate.chain".to_string(),
            p.display().to_string(),
        ));
    }
    if let Some(p) = &args.tls_key {
        flags.push(("ssl.keystore.key".to_string(), p.display().to_string()));
    }
    if let Some(u) = &args.object_store {
        flags.push(("strata.object.store".to_string(), u.clone()));
    }
    if args.read_replica {
        flags.push(("strata.read.replica".to_string(), "true".to_string()));
    }
    if let Some(m) = &args.metrics_listen {
        flags.push((metrics_server::METRICS_LISTEN.to_string(), m.clone()));
    }
    if let Some(g) = &args.grpc_listen {
        flags.push((grpc_admin::GRPC_LISTEN.to_string(), g.clone()));
    }
    let door_files = [
        (&args.metrics_tls_cert, metrics_server::SETTINGS.cert),
        (&args.metrics_tls_key, metrics_server::SETTINGS.key),
        (&args.metrics_token_file, metrics_server::SETTINGS.token),
        (&args.grpc_tls_cert, grpc_admin::SETTINGS.cert),
        (&args.grpc_tls_key, grpc_admin::SETTINGS.key),
        (&args.grpc_token_file, grpc_admin::SETTINGS.token),
    ];
    for (path, setting) in door_files {
        if let Some(p) = path {
            flags.push((setting.name.to_string(), p.display().to_string()));
        }
    }
    if let (Some(p), Some(setting)) = (&args.grpc_client_ca, grpc_admin::SETTINGS.client_ca) {
        flags.push((setting.name.to_string(), p.display().to_string()));
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        flags.push((k.trim().to_string(), v.trim().to_string()));
    }
    let raw = settings::merge(args.config.as_deref(), std::env::vars(), flags)?;
    let mut config = strata_broker::BrokerConfig::from_map(raw).map_err(anyhow::Error::msg)?;
    config.add_scram = args.add_scram.clone();
    // Both side doors are checked before either listens.
    let metrics = metrics_server::MetricsConfig::from_settings(&config.raw)?;
    let grpc = grpc_admin::GrpcConfig::from_settings(&config)?;
    let _metrics = match metrics {
        Some(m) => Some(metrics_server::start(m).await?),
        None => None,
    };
    let admin = match grpc {
        Some(g) => Some(grpc_admin::start(g, &config).await?),
        None => None,
    };
    let out = strata_broker::run(config, shutdown_signal()).await;
    if let Some(admin) = admin {
        admin.stop().await;
    }
    out?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
