//! Read replicas (`strata serve --read-replica --object-store s3://BUCKET/PREFIX`) serve what a
//! writer broker uploaded to the bucket, against moto's S3 server over HTTP (its access log
//! kept, so the replicas' requests can be checked).
//!
//! 1. A writer broker (`--object-store`, fast tiering) gets a tiered 2-partition topic (1 MiB
//!    segments, `local.retention.bytes=0`) with 8000 numbered records of ~1 KB (about four
//!    sealed segments per partition) and a plain topic of 10 records that is never uploaded.
//!    Every sealed segment is uploaded: the writer keeps only its active segment, at offset
//!    `E[p]`, which is not in the bucket.
//! 2. Two replicas start on the same bucket (`strata.read.replica.refresh.interval.ms=500`).
//!    On each: ListOffsets earliest/latest is exactly `(0, E[p])`; Metadata lists one broker
//!    (node 0, the replica's own address) and only the tiered topic, with partitions 0 and 1
//!    led by node 0 (replicas and ISR `[0]`).
//! 3. On replica 1 an rdkafka consumer reads the whole uploaded history: per partition exactly
//!    the records the writer acknowledged at offsets `0..E[p]`, byte for byte (key, value,
//!    headers, timestamp); a consumer assigned into the middle of segments (offset 1234 of
//!    partition 0, `E[1] - 7` of partition 1) reads exactly from there. On replica 2 `kcat -C -e
//!    -o beginning -p P` prints exactly the offsets, timestamps, keys and values of each
//!    partition's uploaded history.
//! 4. 3000 more records go to the writer; once their segments are uploaded (new active segment
//!    at `E2[p] > E[p]`), replica 1 reports `(0, E2[p])` within 15 s and serves the records at
//!    `E[p]..E2[p]` exactly.
//! 5. Replica 1 refuses writes with POLICY_VIOLATION: a Produce (the delivery fails with
//!    PolicyViolation, not a timeout: the error is not retried), CreateTopics, DeleteTopics,
//!    CreatePartitions and DeleteRecords (rdkafka's admin client), AlterConfigs and
//!    IncrementalAlterConfigs (sent raw: rdkafka's `alter_configs` does not report a
//!    resource's error). Afterwards it still lists only the tiered topic with 2 partitions and
//!    watermarks `(0, E2[p])` (DeleteRecords moved nothing).
//! 6. `strata tier status --object-store` sees the bucket holding `[0, E2[p])` per partition.
//!    The writer is stopped (SIGTERM, exit 0) and the position in moto's log noted: from here
//!    on only the replicas talk to the bucket.
//! 7. A consumer group on replica 1 consumes the first half of each partition
//!    (`H[p] = E2[p] / 2`), commits `H` and leaves. Replica 1 is restarted (SIGTERM, exit 0); it
//!    finds the topic again, OffsetFetch answers `H`, and the group resumes and reads exactly
//!    `H[p]..E2[p]`: nothing twice, nothing skipped.
//! 8. Replica 2 serves the whole history `0..E2[p]` exactly (the new segments included). After
//!    three more refresh periods, moto's log since the writer stopped holds no PUT, POST or
//!    DELETE (the replicas never write: not the group's offsets, not anything else), holds GETs
//!    of `.log` objects (the cold reads), and holds requests from the idle period (refreshes).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use kafka_protocol::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest,
    AlterConfigsResponse, ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{NewPartitions, NewTopic, TopicReplication};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use strata_integration::client::{
    admin_options, enqueue, numbered, to_record, OP_TIMEOUT, READ_TIMEOUT,
};
use strata_integration::raw::RawConn;
use strata_integration::tier::{
    acknowledged_logs, compare_partition, moto_requests, now_ms, numbered_records, s3_env,
    tier_status, wait_all_uploaded, wait_watermarks, Moto, MotoRequest, COLD_TOPIC_CONFIGS,
    FAST_TIERING, READ_REPLICA_REFRESH,
};
use strata_integration::{
    admin, consumer, create_topic, kcat, producer, read_partitions, read_topic, run, send_all,
    Broker, Outgoing, Record,
};

const TOPIC: &str = "rr";
const LOCAL_TOPIC: &str = "rr-local";
const PARTITIONS: i32 = 2;
const RECORDS: usize = 8000;
const MORE: usize = 3000;
const VALUE_LEN: usize = 1000;
const BUCKET: &str = "strata-rr";
const STORE: &str = "s3://strata-rr/arch";
const GROUP: &str = "rr-readers";
/// Kafka's POLICY_VIOLATION error code.
const POLICY_VIOLATION: i16 = 44;
/// The TOPIC config resource type.
const TOPIC_RESOURCE: i8 = 2;
const KCAT_FORMAT: &str = "%o %T %K %S\n%k%s\n";

#[test]
fn read_replicas_serve_the_bucket_and_never_write_to_it() {
    run(Duration::from_secs(240), scenario());
}

async fn scenario() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let moto_log = tmp.path().join("moto.log");
    let moto = Moto::start_logging_requests(&moto_log).await?;
    moto.create_bucket(BUCKET).await?;
    let env = s3_env(&moto.endpoint());

    // 1. The writer uploads the history.
    let mut writer = Broker::start_with_env(
        &[&["--object-store", STORE][..], FAST_TIERING].concat(),
        &env,
    )?;
    let wb = writer.bootstrap();
    create_topic(&wb, TOPIC, PARTITIONS, COLD_TOPIC_CONFIGS).await?;
    create_topic(&wb, LOCAL_TOPIC, 1, &[]).await?;
    let producer_w = producer(&wb, &[("batch.size", "131072")])?;
    let ts_base = now_ms() - 3_600_000;
    let mut sent = numbered_records(0, RECORDS, PARTITIONS, VALUE_LEN, ts_base);
    let mut acked = send_all(&producer_w, TOPIC, &sent).await?;
    send_all(&producer_w, LOCAL_TOPIC, &numbered(10, "local", 1)).await?;
    let ends = wait_all_uploaded(
        writer.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    for (p, end) in ends.iter().enumerate() {
        ensure!(
            *end >= 2500 && (*end as usize) < logs[p].len(),
            "partition {p}: uploaded up to {end} of {} records; expected several uploaded \
             segments and an active one that is not uploaded",
            logs[p].len()
        );
    }
    println!("uploaded ends {ends:?}, writer log ends {:?}", lens(&logs));

    // 2. Two replicas of the bucket.
    let replica_args = [
        &["--read-replica", "--object-store", STORE][..],
        READ_REPLICA_REFRESH,
        &["--set", "group.initial.rebalance.delay.ms=0"],
    ]
    .concat();
    let mut r1 = Broker::start_with_env(&replica_args, &env)?;
    let r2 = Broker::start_with_env(&replica_args, &env)?;
    let (b1, b2) = (r1.bootstrap(), r2.bootstrap());
    let marks = |ends: &[i64]| ends.iter().map(|e| (0, *e)).collect::<Vec<_>>();
    for b in [&b1, &b2] {
        let took = wait_watermarks(b, TOPIC, &marks(&ends), Duration::from_secs(20)).await?;
        println!("replica {b}: watermarks (0, {ends:?}) after {took:?}");
    }
    check_metadata(&b1, r1.addr().port()).await?;
    check_metadata(&b2, r2.addr().port()).await?;

    // 3. Cold reads on replica 1 (full, then from the middle), kcat on replica 2.
    let uploaded: Vec<&[Outgoing]> = logs
        .iter()
        .zip(&ends)
        .map(|(l, e)| &l[..*e as usize])
        .collect();
    let read = read_topic(&b1, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() as i64 == ends.iter().sum::<i64>(),
        "replica 1: read {} records, the bucket holds {:?}",
        read.len(),
        ends
    );
    for p in 0..PARTITIONS {
        compare_partition("replica 1, full read", p, &read, uploaded[p as usize], 0)?;
    }
    let starts = [1234, ends[1] - 7];
    let assignment: Vec<(i32, Offset)> = (0..PARTITIONS)
        .map(|p| (p, Offset::Offset(starts[p as usize])))
        .collect();
    let read = read_partitions(&b1, TOPIC, &assignment, &[]).await?;
    for p in 0..PARTITIONS {
        let s = starts[p as usize];
        compare_partition(
            &format!("replica 1, read from {s}"),
            p,
            &read,
            &uploaded[p as usize][s as usize..],
            s,
        )?;
    }
    for p in 0..PARTITIONS {
        check_kcat(&b2, p, uploaded[p as usize])?;
    }

    // 4. New uploads reach the replica.
    let more = numbered_records(RECORDS, MORE, PARTITIONS, VALUE_LEN, ts_base);
    let more_acked = send_all(&producer_w, TOPIC, &more).await?;
    sent.extend(more);
    acked.extend(more_acked);
    let logs = acknowledged_logs(&sent, &acked, &[0, 0])?;
    let ends2 = wait_all_uploaded(
        writer.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    ensure!(
        ends2.iter().zip(&ends).all(|(n, o)| n > o),
        "after {MORE} more records the uploaded ends moved from {ends:?} to {ends2:?}"
    );
    let took = wait_watermarks(&b1, TOPIC, &marks(&ends2), Duration::from_secs(15)).await?;
    println!("replica 1 saw the new uploads (ends {ends2:?}) {took:?} after the writer finished");
    let assignment: Vec<(i32, Offset)> = (0..PARTITIONS)
        .map(|p| (p, Offset::Offset(ends[p as usize])))
        .collect();
    let read = read_partitions(&b1, TOPIC, &assignment, &[]).await?;
    for p in 0..PARTITIONS {
        let (from, to) = (ends[p as usize], ends2[p as usize]);
        compare_partition(
            "replica 1, new uploads",
            p,
            &read,
            &logs[p as usize][from as usize..to as usize],
            from,
        )?;
    }

    // 5. Writes are refused.
    check_refusals(&b1, ts_base).await?;
    wait_watermarks(&b1, TOPIC, &marks(&ends2), Duration::from_secs(5)).await?;
    check_metadata(&b1, r1.addr().port()).await?;

    // 6. The bucket holds [0, E2); the writer stops.
    let rows = tier_status(writer.data_dir(), Some(STORE), None, &env)?;
    let remote: Vec<(&str, i32, i64, i64)> = rows
        .iter()
        .map(|r| (r.topic.as_str(), r.partition, r.remote_start, r.remote_end))
        .collect();
    ensure!(
        remote == vec![(TOPIC, 0, 0, ends2[0]), (TOPIC, 1, 0, ends2[1])],
        "tier status of the bucket: {rows:?}, expected [0, {ends2:?})"
    );
    drop(producer_w);
    let status = writer.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "the writer exited with {status}");
    let mark = moto_requests(&moto_log)?.len();

    // 7. A consumer group on replica 1, across a restart of the replica.
    let half: Vec<i64> = ends2.iter().map(|e| e / 2).collect();
    let first = group_read(&b1, &half).await?;
    for p in 0..PARTITIONS {
        let h = half[p as usize] as usize;
        compare_partition("group, first half", p, &first, &logs[p as usize][..h], 0)?;
    }
    let status = r1.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "replica 1 exited with {status}");
    r1.restart()?;
    let took = wait_watermarks(&b1, TOPIC, &marks(&ends2), Duration::from_secs(20)).await?;
    println!("restarted replica 1 serves the topic after {took:?}");
    let committed = committed_offsets(&b1).await?;
    let expected: Vec<Offset> = half.iter().map(|h| Offset::Offset(*h)).collect();
    ensure!(
        committed == expected,
        "after the restart the group's committed offsets are {committed:?}, expected {expected:?}"
    );
    let rest = group_read(&b1, &ends2).await?;
    for p in 0..PARTITIONS {
        let (h, e) = (half[p as usize], ends2[p as usize]);
        compare_partition(
            "group, resumed after the restart",
            p,
            &rest,
            &logs[p as usize][h as usize..e as usize],
            h,
        )?;
    }

    // 8. Replica 2 serves everything; nothing was written to the bucket since the writer left.
    wait_watermarks(&b2, TOPIC, &marks(&ends2), Duration::from_secs(5)).await?;
    let read = read_topic(&b2, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() as i64 == ends2.iter().sum::<i64>(),
        "replica 2: read {} records, the bucket holds {ends2:?}",
        read.len()
    );
    for p in 0..PARTITIONS {
        let e = ends2[p as usize] as usize;
        compare_partition("replica 2, full read", p, &read, &logs[p as usize][..e], 0)?;
    }
    let busy_until = moto_requests(&moto_log)?.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = moto_requests(&moto_log)?;
    let since: &[MotoRequest] = &all[mark..];
    let writes: Vec<&MotoRequest> = since
        .iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "DELETE"))
        .collect();
    let log_gets = since
        .iter()
        .filter(|r| r.method == "GET" && path(r).ends_with(".log"))
        .count();
    let idle = all.len() - busy_until;
    println!(
        "moto, since the writer stopped: {} requests, {log_gets} GETs of .log objects, {idle} \
         in the last 1.5 s (idle)",
        since.len()
    );
    ensure!(
        writes.is_empty(),
        "the replicas wrote to the bucket: {writes:?}"
    );
    ensure!(log_gets > 0, "no cold read reached the bucket: {since:?}");
    ensure!(
        idle > 0,
        "no request in 1.5 s of idle replicas refreshing every 500 ms"
    );
    ensure!(r1.is_running(), "replica 1 exited");
    drop(r1);
    drop(r2);
    drop(moto);
    Ok(())
}

fn lens(logs: &[Vec<Outgoing>]) -> Vec<usize> {
    logs.iter().map(Vec::len).collect()
}

/// The path of a request target, without its query string.
fn path(r: &MotoRequest) -> &str {
    r.target.split('?').next().unwrap_or_default()
}

/// A partition in Metadata: (id, leader, replicas, ISR, no error).
type PartitionRow = (i32, i32, Vec<i32>, Vec<i32>, bool);

/// A record as `kcat -f KCAT_FORMAT` prints it: (offset, timestamp, key, value).
type KcatRecord = (i64, i64, Vec<u8>, Vec<u8>);

/// Metadata of a replica: one broker (node 0 at the replica's own address) and only the tiered
/// topic, partitions 0 and 1 led by node 0 with replicas and ISR `[0]`, no errors.
async fn check_metadata(bootstrap: &str, port: u16) -> Result<()> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, &[])?;
        let md = c
            .fetch_metadata(None, OP_TIMEOUT)
            .with_context(|| format!("Metadata from {bootstrap}"))?;
        let brokers: Vec<(i32, String, i32)> = md
            .brokers()
            .iter()
            .map(|b| (b.id(), b.host().to_string(), b.port()))
            .collect();
        ensure!(
            brokers == vec![(0, "127.0.0.1".to_string(), i32::from(port))],
            "{bootstrap}: Metadata brokers {brokers:?}"
        );
        let names: Vec<&str> = md
            .topics()
            .iter()
            .map(|t| t.name())
            .filter(|n| *n != "__consumer_offsets" && *n != "__transaction_state")
            .collect();
        ensure!(
            names == [TOPIC],
            "{bootstrap}: Metadata lists topics {names:?}, expected only {TOPIC}"
        );
        let topic = md
            .topics()
            .iter()
            .find(|t| t.name() == TOPIC)
            .context("the topic")?;
        ensure!(
            topic.error().is_none(),
            "{bootstrap}: {TOPIC} has error {:?}",
            topic.error()
        );
        let mut parts: Vec<PartitionRow> = topic
            .partitions()
            .iter()
            .map(|p| {
                (
                    p.id(),
                    p.leader(),
                    p.replicas().to_vec(),
                    p.isr().to_vec(),
                    p.error().is_none(),
                )
            })
            .collect();
        parts.sort();
        let expected: Vec<PartitionRow> = (0..PARTITIONS)
            .map(|p| (p, 0, vec![0], vec![0], true))
            .collect();
        ensure!(
            parts == expected,
            "{bootstrap}: partitions (id, leader, replicas, isr, no error) {parts:?}"
        );
        Ok(())
    })
    .await
    .context("the metadata thread panicked")?
}

/// `kcat -C -e -o beginning -p P` on `bootstrap` prints exactly `expected` (offsets from 0):
/// offset, timestamp, key and value of every record, in order.
fn check_kcat(bootstrap: &str, partition: i32, expected: &[Outgoing]) -> Result<()> {
    let p = partition.to_string();
    let out = kcat(
        &[
            "-b",
            bootstrap,
            "-C",
            "-e",
            "-t",
            TOPIC,
            "-p",
            &p,
            "-o",
            "beginning",
            "-f",
            KCAT_FORMAT,
            "-X",
            "broker.address.family=v4",
        ],
        &[],
    )?;
    out.ensure_success("kcat -C")?;
    let got = parse_kcat(&out.stdout)
        .with_context(|| format!("parsing kcat's output; stderr:\n{}", out.stderr))?;
    for (j, (g, e)) in got.iter().zip(expected).enumerate() {
        let want = (
            j as i64,
            e.timestamp.unwrap_or(-1),
            e.key.clone().unwrap_or_default(),
            e.value.clone(),
        );
        ensure!(
            *g == want,
            "kcat, partition {partition}, position {j}: offset {} ts {} key {:?} value {} bytes; \
             expected offset {} ts {} key {:?} value {} bytes (value equal: {})",
            g.0,
            g.1,
            String::from_utf8_lossy(&g.2),
            g.3.len(),
            want.0,
            want.1,
            String::from_utf8_lossy(&want.2),
            want.3.len(),
            g.3 == want.3
        );
    }
    ensure!(
        got.len() == expected.len(),
        "kcat, partition {partition}: {} records, expected {}; stderr:\n{}",
        got.len(),
        expected.len(),
        out.stderr
    );
    Ok(())
}

/// Records printed with [`KCAT_FORMAT`]: (offset, timestamp, key, value).
fn parse_kcat(mut out: &[u8]) -> Result<Vec<KcatRecord>> {
    let mut records = Vec::new();
    while !out.is_empty() {
        let nl = out
            .iter()
            .position(|b| *b == b'\n')
            .context("a header line")?;
        let header = std::str::from_utf8(&out[..nl])?;
        let f: Vec<i64> = header
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("header {header:?}"))?;
        ensure!(f.len() == 4, "header {header:?}");
        let (klen, vlen) = (usize::try_from(f[2])?, usize::try_from(f[3])?);
        let body = &out[nl + 1..];
        ensure!(
            body.len() > klen + vlen && body[klen + vlen] == b'\n',
            "record after header {header:?} is truncated"
        );
        records.push((
            f[0],
            f[1],
            body[..klen].to_vec(),
            body[klen..klen + vlen].to_vec(),
        ));
        out = &body[klen + vlen + 1..];
    }
    Ok(records)
}

/// Produce, CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs and DeleteRecords on a
/// replica each fail with POLICY_VIOLATION.
async fn check_refusals(bootstrap: &str, ts_base: i64) -> Result<()> {
    let p = producer(bootstrap, &[("message.timeout.ms", "20000")])?;
    let record = numbered_records(RECORDS + MORE, 1, PARTITIONS, VALUE_LEN, ts_base).remove(0);
    let started = Instant::now();
    match enqueue(&p, TOPIC, &record).await?.await {
        Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::PolicyViolation), _))) => {}
        Ok(Err((e, _))) => bail!(
            "produce to a read replica failed with {e} after {:?}, expected PolicyViolation",
            started.elapsed()
        ),
        Ok(Ok(d)) => bail!(
            "produce to a read replica was acknowledged at {}/{}",
            d.partition,
            d.offset
        ),
        Err(_) => bail!("produce to a read replica: the producer went away"),
    }
    drop(p);

    let admin = admin(bootstrap)?;
    let policy = RDKafkaErrorCode::PolicyViolation;
    let created = admin
        .create_topics(
            [&NewTopic::new("rr-new", 1, TopicReplication::Fixed(1))],
            &admin_options(),
        )
        .await
        .context("CreateTopics")?;
    ensure!(
        created == vec![Err(("rr-new".to_string(), policy))],
        "CreateTopics on a read replica: {created:?}"
    );
    let deleted = admin
        .delete_topics(&[TOPIC], &admin_options())
        .await
        .context("DeleteTopics")?;
    ensure!(
        deleted == vec![Err((TOPIC.to_string(), policy))],
        "DeleteTopics on a read replica: {deleted:?}"
    );
    let grown = admin
        .create_partitions([&NewPartitions::new(TOPIC, 4)], &admin_options())
        .await
        .context("CreatePartitions")?;
    ensure!(
        grown == vec![Err((TOPIC.to_string(), policy))],
        "CreatePartitions on a read replica: {grown:?}"
    );
    let (legacy, incremental) = {
        let addr: SocketAddr = bootstrap.parse()?;
        tokio::task::spawn_blocking(move || raw_alter_configs(addr)).await??
    };
    let want = vec![(TOPIC.to_string(), POLICY_VIOLATION)];
    ensure!(
        legacy == want && incremental == want,
        "on a read replica, (resource, error code) of AlterConfigs: {legacy:?}, of \
         IncrementalAlterConfigs: {incremental:?}; expected {want:?}"
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(10))?;
    match admin.delete_records(&tpl, &admin_options()).await {
        Err(KafkaError::AdminOp(code)) if code == policy => {}
        Err(e) => bail!("DeleteRecords on a read replica: {e}, expected PolicyViolation"),
        Ok(result) => {
            let refused: Vec<(i32, bool)> = result
                .elements()
                .iter()
                .map(|e| {
                    let code = matches!(e.error(), Err(KafkaError::OffsetFetch(c)) if c == policy);
                    (e.partition(), code)
                })
                .collect();
            ensure!(
                refused == vec![(0, true)],
                "DeleteRecords on a read replica: {:?}",
                result
                    .elements()
                    .iter()
                    .map(|e| (e.partition(), e.offset(), e.error()))
                    .collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

/// A config resource's name and error code in an AlterConfigs answer.
type ResourceError = (String, i16);

/// AlterConfigs v0 and IncrementalAlterConfigs v0 setting `retention.ms` of the topic, sent
/// raw to `addr` (rdkafka's `alter_configs` does not report a resource's error): the (resource
/// name, error code) pairs of each answer.
fn raw_alter_configs(addr: SocketAddr) -> Result<(Vec<ResourceError>, Vec<ResourceError>)> {
    let mut conn = RawConn::open(addr, "read-replica-it", Duration::from_secs(10))?;
    let name = || StrBytes::from_static_str(TOPIC);
    let value = || Some(StrBytes::from_static_str("1000"));
    let key = || StrBytes::from_static_str("retention.ms");
    let req = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(name())
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(key())
                .with_value(value())]),
    ]);
    let resp: AlterConfigsResponse = conn.call(ApiKey::AlterConfigs, 0, &req)?;
    let legacy = resp
        .responses
        .iter()
        .map(|r| (r.resource_name.to_string(), r.error_code))
        .collect();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(name())
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(key())
                    .with_config_operation(0) // SET
                    .with_value(value()),
            ]),
    ]);
    let resp: IncrementalAlterConfigsResponse =
        conn.call(ApiKey::IncrementalAlterConfigs, 0, &req)?;
    let incremental = resp
        .responses
        .iter()
        .map(|r| (r.resource_name.to_string(), r.error_code))
        .collect();
    Ok((legacy, incremental))
}

/// Reads the topic as a member of [`GROUP`] on `bootstrap` (subscribe; without committed
/// offsets it starts at the earliest offset) until partition `p` has delivered offset
/// `stop[p] - 1`, keeping only the records below `stop[p]`; then commits `stop` synchronously
/// and closes the consumer (LeaveGroup).
async fn group_read(bootstrap: &str, stop: &[i64]) -> Result<Vec<Record>> {
    let bootstrap = bootstrap.to_string();
    let stop = stop.to_vec();
    tokio::task::spawn_blocking(move || {
        let c = consumer(
            &bootstrap,
            &[("group.id", GROUP), ("auto.offset.reset", "earliest")],
        )?;
        c.subscribe(&[TOPIC]).context("subscribe")?;
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut kept = Vec::new();
        let mut done = vec![false; stop.len()];
        while !done.iter().all(|d| *d) {
            ensure!(
                Instant::now() < deadline,
                "group read: partitions done {done:?} after {READ_TIMEOUT:?}, {} records kept",
                kept.len()
            );
            match c.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(m)) => {
                    let r = to_record(&m);
                    let p = usize::try_from(r.partition)?;
                    if r.offset + 1 >= stop[p] {
                        done[p] = true;
                    }
                    if r.offset < stop[p] {
                        kept.push(r);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => bail!("group read: consumer error {e}"),
            }
        }
        let mut tpl = TopicPartitionList::new();
        for (p, s) in stop.iter().enumerate() {
            tpl.add_partition_offset(TOPIC, p as i32, Offset::Offset(*s))?;
        }
        c.commit(&tpl, CommitMode::Sync).context("commit")?;
        c.unsubscribe();
        drop(c);
        Ok(kept)
    })
    .await
    .context("the group reader thread panicked")?
}

/// The committed offsets of [`GROUP`] for partitions `0..PARTITIONS` (OffsetFetch).
async fn committed_offsets(bootstrap: &str) -> Result<Vec<Offset>> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, &[("group.id", GROUP)])?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(TOPIC, p);
        }
        let got = c
            .committed_offsets(tpl, OP_TIMEOUT)
            .context("OffsetFetch")?;
        let mut offsets: Vec<(i32, Offset)> = got
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        offsets.sort_by_key(|(p, _)| *p);
        Ok(offsets.into_iter().map(|(_, o)| o).collect())
    })
    .await
    .context("the OffsetFetch thread panicked")?
}
