//! `strata export`: a topic's records (hot and tiered) to Parquet or JSON Lines files; the
//! work is `strata_export`'s, this module maps the flags onto an [`ExportSpec`].

use std::path::PathBuf;

use strata_broker::kafka_client::ClientSecurity;
use strata_export::bounds::{parse_time, End, Start};
use strata_export::files::Format;
use strata_export::{ExportSpec, DEFAULT_FILE_BYTES};

/// `strata export` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Broker addresses, HOST:PORT[,HOST:PORT…].
    #[arg(long)]
    bootstrap_server: String,
    /// Kafka client properties file for the connections (security.protocol, sasl.mechanism,
    /// sasl.username, sasl.password, sasl.jaas.config, ssl.*), as Kafka's tools take it; see
    /// docs/security.md.
    #[arg(long, value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// The topic to export.
    #[arg(long)]
    topic: String,
    /// Only this partition (default: every partition).
    #[arg(long)]
    partition: Option<i32>,
    /// First offset (default: each partition's log start).
    #[arg(long, conflicts_with = "from_time")]
    from_offset: Option<i64>,
    /// First record at or after this time: ms since the epoch, or RFC 3339.
    #[arg(long)]
    from_time: Option<String>,
    /// Stop before this offset (default: the high watermark when the export starts).
    #[arg(long, conflicts_with = "to_time")]
    to_offset: Option<i64>,
    /// Stop before the first record at or after this time: ms since the epoch, or RFC 3339.
    #[arg(long)]
    to_time: Option<String>,
    /// Output format: parquet or jsonl.
    #[arg(long)]
    format: Format,
    /// Output directory; files go to OUT/topic=T/partition=P/<first>-<last>.<format>.
    #[arg(long)]
    out: PathBuf,
    /// Close a file once this many record bytes went into it.
    #[arg(long, default_value_t = DEFAULT_FILE_BYTES)]
    file_bytes: u64,
}

pub(crate) async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let start = match (args.from_offset, &args.from_time) {
        (Some(o), _) => Start::Offset(o),
        (None, Some(t)) => Start::Time(parse_time(t)?),
        (None, None) => Start::Earliest,
    };
    let end = match (args.to_offset, &args.to_time) {
        (Some(o), _) => End::Offset(o),
        (None, Some(t)) => End::Time(parse_time(t)?),
        (None, None) => End::Latest,
    };
    let spec = ExportSpec {
        bootstrap: args.bootstrap_server,
        security: ClientSecurity::load_command_config(args.command_config.as_deref())?,
        topic: args.topic,
        partition: args.partition,
        start,
        end,
        format: args.format,
        out: args.out,
        file_bytes: args.file_bytes.max(1),
    };
    let s = strata_export::export(&spec).await?;
    println!(
        "exported {} rows from {} partition(s) of {} into {} new file(s) under {}; {} file(s) \
         ({} offsets) already there were skipped",
        s.rows,
        s.partitions,
        spec.topic,
        s.files_written,
        spec.out.display(),
        s.files_skipped,
        s.offsets_skipped
    );
    Ok(())
}
