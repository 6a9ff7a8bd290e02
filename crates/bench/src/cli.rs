//! Command-line surface of `strata-loadgen`.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "strata-loadgen",
    about = "Kafka-protocol load generator (librdkafka)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Produce N fixed-size records and report throughput and latency.
    Produce(ProduceArgs),
    /// Consume a topic from the beginning and report throughput.
    Fetch(FetchArgs),
    /// Fetch one partition with a minimal Fetch v4 client that skips record
    /// decoding: measures the broker's fetch path, not librdkafka's.
    RawFetch(RawFetchArgs),
    /// Produce pre-built batches over one pipelined connection (no librdkafka): the broker's
    /// ingest path, for comparing durable acks with the disk ceiling.
    RawProduce(RawProduceArgs),
    /// Measure the machine ceiling for serving a cached file over loopback
    /// TCP with sendfile(2) (no broker involved).
    LoopbackCeiling(CeilingArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Acks {
    #[value(name = "0")]
    None,
    #[value(name = "1")]
    Leader,
    #[value(name = "all", alias = "-1")]
    All,
}

impl Acks {
    pub(crate) fn as_config(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub(crate) fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long, value_enum, default_value = "1")]
    pub acks: Acks,
    /// Payload bytes per record (no key, no headers).
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Producer instances (each its own librdkafka client, connection and send thread); the
    /// records are split evenly between them.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// librdkafka `batch.size`: max bytes per partition batch.
    #[arg(long, default_value_t = 1_048_576)]
    pub batch_size_bytes: usize,
    /// Pace sending to this many MB/s (10^6 payload bytes) across all producers; 0 = as fast
    /// as possible.
    #[arg(long, default_value_t = 0.0)]
    pub rate_mb_per_s: f64,
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Compression,
    /// Bound on records queued or in flight inside librdkafka
    /// (`queue.buffering.max.messages`). Latency includes time in this queue.
    #[arg(long, default_value_t = 200_000)]
    pub max_in_flight_records: u64,
    /// Bound on payload bytes queued or in flight inside librdkafka
    /// (`queue.buffering.max.kbytes`).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_in_flight_bytes: u64,
    /// Extra librdkafka properties, `key=value`, repeatable.
    #[arg(short = 'X', long = "property", value_parser = parse_kv)]
    pub properties: Vec<(String, String)>,
    /// Print the result as a single JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    /// Stop after this many records; default: the sum of high watermarks.
    #[arg(long)]
    pub records: Option<u64>,
    /// `fetch.max.bytes` and `max.partition.fetch.bytes`.
    #[arg(long, default_value_t = 52_428_800)]
    pub fetch_max_bytes: usize,
    /// Give up if no record arrives for this long.
    #[arg(long, default_value_t = 30)]
    pub idle_timeout_secs: u64,
    /// Extra librdkafka properties, `key=value`, repeatable.
    #[arg(short = 'X', long = "property", value_parser = parse_kv)]
    pub properties: Vec<(String, String)>,
    #[arg(long)]
    pub json: bool,
}

/// Where the raw clients connect and which partition they use.
#[derive(Debug, Args)]
pub(crate) struct RawTarget {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 0)]
    pub partition: i32,
}

#[derive(Debug, Args)]
pub(crate) struct RawFetchArgs {
    #[command(flatten)]
    pub target: RawTarget,
    /// Stop after this many records (fetched from offset 0).
    #[arg(long)]
    pub records: u64,
    /// Fetch `max_bytes` and `partition_max_bytes`.
    #[arg(long, default_value_t = 52_428_800)]
    pub fetch_max_bytes: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RawProduceArgs {
    #[command(flatten)]
    pub target: RawTarget,
    /// Records to send (rounded up to whole batches).
    #[arg(long)]
    pub records: u64,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Bytes of records per batch (one batch per request).
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_bytes: usize,
    /// Requests kept outstanding on each connection.
    #[arg(long, default_value_t = 8)]
    pub in_flight: u64,
    /// Connections (one thread each); connection `i` writes partition `partition + i`.
    #[arg(long, default_value_t = 1)]
    pub connections: u64,
    /// -1 (all) or 1 (acks=0 has no responses to pace on and is refused).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub acks: i16,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CeilingArgs {
    /// Scratch directory for the source file.
    #[arg(long, default_value = "/tmp")]
    pub dir: std::path::PathBuf,
    /// Size of the (page-cached) file that is sent, in MiB.
    #[arg(long, default_value_t = 512)]
    pub file_mib: u64,
    /// How many times the file is sent.
    #[arg(long, default_value_t = 4)]
    pub passes: u32,
    #[arg(long)]
    pub json: bool,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("expected key=value, got `{s}`"))
}
