//! `fetch`: read a topic from the beginning with a librdkafka `BaseConsumer`
//! (manual assignment, no consumer group) and report throughput.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::cli::FetchArgs;
use crate::report::{cpu_time, Report};

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

fn config(args: &FetchArgs) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    let max = args.fetch_max_bytes.max(1);
    cfg.set("bootstrap.servers", &args.bootstrap_server)
        // librdkafka refuses assign() without a group id; nothing is committed.
        .set("group.id", format!("strata-loadgen-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.min.bytes", "1")
        .set("fetch.max.bytes", max.to_string())
        .set("max.partition.fetch.bytes", max.to_string())
        .set("receive.message.max.bytes", (max + (1 << 20)).to_string())
        .set("queued.min.messages", "1000000")
        .set("queued.max.messages.kbytes", "1048576")
        .set("check.crcs", "false");
    for (k, v) in &args.properties {
        cfg.set(k, v);
    }
    cfg
}

pub(crate) fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let consumer: BaseConsumer = config(args).create().context("creating consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .context("fetching metadata (is the broker up?)")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == args.topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic `{}` has no partitions (does it exist?)", args.topic);
    }

    let target = match args.records {
        Some(n) => n,
        None => {
            let mut sum = 0u64;
            for &p in &partitions {
                let (lo, hi) = consumer
                    .fetch_watermarks(&args.topic, p, METADATA_TIMEOUT)
                    .with_context(|| format!("watermarks of partition {p}"))?;
                sum += (hi - lo).max(0) as u64;
            }
            sum
        }
    };

    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(&args.topic, p, Offset::Beginning)?;
    }
    let cpu0 = cpu_time();
    let start = Instant::now();
    consumer.assign(&tpl).context("assigning partitions")?;

    let idle = Duration::from_secs(args.idle_timeout_secs);
    let mut records = 0u64;
    let mut bytes = 0u64;
    // Throughput is measured from the first record on: the time before it
    // (offset lookup, first fetch round trip) is reported separately.
    let mut first_record: Option<Instant> = None;
    let mut last_progress = Instant::now();
    while records < target {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                first_record.get_or_insert_with(Instant::now);
                records += 1;
                bytes += (msg.payload_len() + msg.key_len()) as u64;
                last_progress = Instant::now();
            }
            Some(Err(e)) => bail!("consume error after {records} records: {e}"),
            None if last_progress.elapsed() > idle => {
                bail!("no record for {idle:?}; got {records} of {target}")
            }
            None => {}
        }
    }
    let end = Instant::now();
    let first = first_record.unwrap_or(end);
    let streaming = end - first;

    let mut report = Report::new("fetch");
    report
        .text("topic", &args.topic)
        .int("partitions", partitions.len() as u64)
        .rates(records, bytes, streaming)
        .float("first_record_ms", (first - start).as_secs_f64() * 1e3, 1)
        .float("total_elapsed_s", (end - start).as_secs_f64(), 3)
        .cpu(cpu0, end - start);
    report.print(args.json);
    Ok(())
}
