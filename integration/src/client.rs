//! librdkafka clients (the `rdkafka` crate) configured for tests: short timeouts, fast
//! reconnects, and consumers that only use `assign()` (no consumer group) and report
//! end-of-partition so a reader knows when it has everything.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, Timestamp, TopicPartitionList};

/// Default timeout for one client operation (metadata, admin request, watermark query).
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long [`read_partitions`] waits for every assigned partition to reach its end.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A record as read back by a consumer (or as a test expects it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Create time in ms, if the record carries one.
    pub timestamp: Option<i64>,
    /// Key (`None` = null key).
    pub key: Option<Vec<u8>>,
    /// Value (`None` = null value).
    pub value: Option<Vec<u8>>,
    /// Headers in wire order; duplicates preserved; `None` = null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Settings every client gets.
fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "10000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("retry.backoff.ms", "50");
    config
}

fn apply(config: &mut ClientConfig, extra: &[(&str, &str)]) {
    for (k, v) in extra {
        config.set(*k, *v);
    }
}

/// A `FutureProducer` with `acks=all`, `linger.ms=5` and `message.timeout.ms=30000`; `extra`
/// overrides or adds librdkafka settings.
pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> Result<FutureProducer> {
    producer_config(bootstrap, extra)
        .create()
        .context("creating a producer")
}

fn producer_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = base_config(bootstrap);
    config
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .set("request.timeout.ms", "10000");
    apply(&mut config, extra);
    config
}

/// librdkafka log lines (level, facility, message) captured by a [`LogCapture`] context.
#[derive(Clone, Debug, Default)]
pub struct ClientLog(Arc<Mutex<Vec<String>>>);

impl ClientLog {
    /// All lines so far.
    pub fn lines(&self) -> Vec<String> {
        match self.0.lock() {
            Ok(lines) => lines.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether any line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lines().iter().any(|l| l.contains(needle))
    }
}

/// A client context that records librdkafka's log lines (Info and more severe) in a
/// [`ClientLog`] instead of the `log` crate.
pub struct LogCapture(ClientLog);

impl ClientContext for LogCapture {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if let Ok(mut lines) = (self.0).0.lock() {
            lines.push(format!("{level:?} {fac} {log_message}"));
        }
    }
}

impl ConsumerContext for LogCapture {}

/// Like [`producer`], but librdkafka's log lines (level Info and up) are captured.
pub fn producer_with_log(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> Result<(FutureProducer<LogCapture>, ClientLog)> {
    let mut config = producer_config(bootstrap, extra);
    config.set_log_level(RDKafkaLogLevel::Info);
    let log = ClientLog::default();
    let producer = config
        .create_with_context(LogCapture(log.clone()))
        .context("creating a producer")?;
    Ok((producer, log))
}

/// A `BaseConsumer` for `assign()` use: no commits, `enable.partition.eof=true`, and
/// `auto.offset.reset=error` so an out-of-range position is an error rather than a silent jump.
/// librdkafka's `assign()` needs a `group.id`, but nothing here joins or commits to the group.
pub fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> Result<BaseConsumer> {
    consumer_config(bootstrap, extra)
        .create()
        .context("creating a consumer")
}

fn consumer_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = base_config(bootstrap);
    config
        .set("group.id", "strata-it-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "100");
    apply(&mut config, extra);
    config
}

/// Like [`consumer`], but librdkafka's log lines (level Info and up) are captured.
pub fn consumer_with_log(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> Result<(BaseConsumer<LogCapture>, ClientLog)> {
    let mut config = consumer_config(bootstrap, extra);
    config.set_log_level(RDKafkaLogLevel::Info);
    let log = ClientLog::default();
    let consumer = config
        .create_with_context(LogCapture(log.clone()))
        .context("creating a consumer")?;
    Ok((consumer, log))
}

/// An `AdminClient`.
pub fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>> {
    base_config(bootstrap)
        .create()
        .context("creating an admin client")
}

/// Admin options with [`OP_TIMEOUT`] as the request and operation timeout.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(OP_TIMEOUT))
        .operation_timeout(Some(OP_TIMEOUT))
}

/// Creates `topic` with `partitions` partitions (replication factor 1) and topic `configs`,
/// failing unless the broker reports success for it.
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<()> {
    create_replicated_topic(bootstrap, topic, partitions, 1, configs).await
}

/// [`create_topic`] with replication factor `rf`.
pub async fn create_replicated_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rf: i32,
    configs: &[(&str, &str)],
) -> Result<()> {
    let admin = admin(bootstrap)?;
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(rf));
    for (k, v) in configs {
        new_topic = new_topic.set(k, v);
    }
    // A loaded machine can hold the answer past the client's timeout; the request is then
    // sent again, and a topic the first attempt created counts (same name, same settings).
    let mut attempt = 1;
    loop {
        let outcome = admin.create_topics([&new_topic], &admin_options()).await;
        match outcome {
            Err(KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut)) if attempt < 3 => {
                attempt += 1;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("CreateTopics {topic}")),
            Ok(results) => {
                return match results.as_slice() {
                    [Ok(name)] if name == topic => Ok(()),
                    [Err((name, RDKafkaErrorCode::TopicAlreadyExists))]
                        if name == topic && attempt > 1 =>
                    {
                        Ok(())
                    }
                    other => bail!("CreateTopics {topic}: unexpected result {other:?}"),
                }
            }
        }
    }
}

/// A record to produce.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    /// Explicit partition, or `None` for the client's partitioner.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Vec<u8>,
    /// Headers in order (`None` = null value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Explicit create time in ms (`None` = now). librdkafka treats 0 as "now".
    pub timestamp: Option<i64>,
}

/// The outcome of one acknowledged delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Partition the broker wrote it to.
    pub partition: i32,
    /// Offset the broker assigned.
    pub offset: i64,
}

/// Enqueues every record in order, then waits for every delivery report. Fails on the first
/// failed delivery, naming its index.
pub async fn send_all<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    records: &[Outgoing],
) -> Result<Vec<Delivered>> {
    let mut pending = Vec::with_capacity(records.len());
    for record in records {
        pending.push(enqueue(producer, topic, record).await?);
    }
    let mut delivered = Vec::with_capacity(records.len());
    for (i, future) in pending.into_iter().enumerate() {
        match future.await {
            Ok(Ok(d)) => delivered.push(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => bail!("delivery of record {i} failed: {e}"),
            Err(_) => bail!("delivery of record {i}: the producer went away"),
        }
    }
    Ok(delivered)
}

/// Enqueues one record, waiting while librdkafka's queue is full.
pub async fn enqueue<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    record: &Outgoing,
) -> Result<rdkafka::producer::DeliveryFuture> {
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        let mut future_record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).payload(record.value.as_slice());
        if let Some(key) = &record.key {
            future_record = future_record.key(key.as_slice());
        }
        if let Some(p) = record.partition {
            future_record = future_record.partition(p);
        }
        if let Some(ts) = record.timestamp {
            future_record = future_record.timestamp(ts);
        }
        if !record.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key: key.as_str(),
                    value: value.as_deref(),
                });
            }
            future_record = future_record.headers(headers);
        }
        match producer.send_result(future_record) {
            Ok(future) => return Ok(future),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err((e, _)) => bail!("enqueueing a record: {e}"),
        }
    }
}

/// Copies a consumed message into a [`Record`].
pub fn to_record<M: Message>(message: &M) -> Record {
    let headers = message
        .headers()
        .map(|hs| {
            (0..hs.count())
                .map(|i| {
                    let h = hs.get(i);
                    (h.key.to_string(), h.value.map(<[u8]>::to_vec))
                })
                .collect()
        })
        .unwrap_or_default();
    let timestamp = match message.timestamp() {
        Timestamp::NotAvailable => None,
        Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
    };
    Record {
        partition: message.partition(),
        offset: message.offset(),
        timestamp,
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// Polls `consumer` (already assigned to `partitions` of `topic`) until every one of them has
/// reported end-of-partition, or `timeout` passes (an error). Returns records in arrival order.
/// Transport failures (a broker the test killed) are waited out; any other consumer error
/// fails the read.
pub fn poll_until_eof<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<Vec<Record>> {
    let deadline = Instant::now() + timeout;
    let mut at_end: Vec<i32> = Vec::new();
    let mut records = Vec::new();
    while !partitions.iter().all(|p| at_end.contains(p)) {
        if Instant::now() >= deadline {
            bail!(
                "reading {topic}: partitions {partitions:?} did not all reach their end within \
                 {timeout:?} (at end: {at_end:?}, {} records read)",
                records.len()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                at_end.retain(|p| *p != message.partition());
                records.push(to_record(&message));
            }
            Some(Err(KafkaError::PartitionEOF(p))) if !at_end.contains(&p) => at_end.push(p),
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            // A connection to a broker that died (a test killed it): librdkafka reconnects or
            // moves to the new leader by itself; the deadline bounds the wait.
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
            ))) => {}
            Some(Err(e)) => bail!("reading {topic}: consumer error: {e}"),
        }
    }
    Ok(records)
}

/// Reads `topic` from the given (partition, start offset) pairs to the end of each partition,
/// with a fresh consumer on a blocking thread. `extra` adds consumer settings.
pub async fn read_partitions(
    bootstrap: &str,
    topic: &str,
    assignment: &[(i32, Offset)],
    extra: &[(&str, &str)],
) -> Result<Vec<Record>> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let assignment = assignment.to_vec();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let consumer = consumer(&bootstrap, &extra)?;
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in &assignment {
            tpl.add_partition_offset(&topic, *p, *offset)?;
        }
        consumer.assign(&tpl).context("assign")?;
        let partitions: Vec<i32> = assignment.iter().map(|(p, _)| *p).collect();
        poll_until_eof(&consumer, &topic, &partitions, READ_TIMEOUT)
    })
    .await
    .context("the reader thread panicked")?
}

/// Reads partitions `0..partitions` of `topic` from the beginning to the end.
pub async fn read_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<Record>> {
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    read_partitions(bootstrap, topic, &assignment, &[]).await
}

/// Groups records by partition, each group in offset order as read.
pub fn by_partition(records: &[Record], partitions: i32) -> Vec<Vec<Record>> {
    let mut groups = vec![Vec::new(); usize::try_from(partitions).unwrap_or(0)];
    for r in records {
        if let Some(g) = usize::try_from(r.partition)
            .ok()
            .and_then(|p| groups.get_mut(p))
        {
            g.push(r.clone());
        }
    }
    groups
}

/// The partition count of `topic` according to a fresh metadata request, or `None` if the
/// broker does not list it.
pub fn partition_count(bootstrap: &str, topic: &str) -> Result<Option<usize>> {
    let consumer = consumer(bootstrap, &[])?;
    let metadata = consumer
        .fetch_metadata(None, OP_TIMEOUT)
        .context("Metadata (all topics)")?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len()))
}

/// Names of all topics the broker lists, but its internal ones (`__consumer_offsets`, listed
/// as Kafka does).
pub fn topic_names(bootstrap: &str) -> Result<Vec<String>> {
    let consumer = consumer(bootstrap, &[])?;
    let metadata = consumer
        .fetch_metadata(None, OP_TIMEOUT)
        .context("Metadata (all topics)")?;
    Ok(metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| n != "__consumer_offsets" && n != "__transaction_state")
        .collect())
}

/// `n` keyed records `k<i>` → `<tag>-<i>`, record `i` to partition `i mod partitions`.
pub fn numbered(n: usize, tag: &str, partitions: i32) -> Vec<Outgoing> {
    (0..n)
        .map(|i| Outgoing {
            partition: Some(i as i32 % partitions),
            key: Some(format!("k{i}").into_bytes()),
            value: format!("{tag}-{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

/// What [`numbered`] records read back as with [`values_by_partition`].
pub fn numbered_values(n: usize, tag: &str, partitions: i32) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); partitions as usize];
    for i in 0..n {
        out[i % partitions as usize].push(format!("{tag}-{i}"));
    }
    out
}

/// Every value of `topic`, per partition, in offset order.
pub async fn values_by_partition(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Vec<String>>> {
    let read = read_topic(bootstrap, topic, partitions).await?;
    let mut out = vec![Vec::new(); partitions as usize];
    for r in read {
        out[r.partition as usize].push((
            r.offset,
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
        ));
    }
    Ok(out
        .into_iter()
        .map(|mut p| {
            p.sort();
            p.into_iter().map(|(_, v)| v).collect()
        })
        .collect())
}
