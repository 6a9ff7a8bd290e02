//! A read replica (`strata serve --read-replica`) through a bucket outage, against moto's S3
//! server over HTTP: moto keeps objects in memory, so freezing it with SIGSTOP makes the bucket
//! unreachable without losing data.
//!
//! 1. A writer broker uploads 8000 numbered records of ~1 KB of a tiered 2-partition topic
//!    (1 MiB segments, `local.retention.bytes=0`): the bucket holds `[0, E[p])` per partition.
//!    A replica of the bucket (refresh every 500 ms, no cold read-ahead, 128 KiB cache chunks,
//!    so it fetches from the bucket only what is read) reports watermarks `(0, E[p])`.
//! 2. A consumer on the replica (assigned to both partitions from offset 0, with a small
//!    prefetch queue) reads at least 1000 records and keeps polling throughout.
//! 3. moto is frozen. A raw Fetch (v4, no client retries) of the last uploaded record of
//!    partition 1, far beyond what the consumer reached, answers KAFKA_STORAGE_ERROR (56) with
//!    no records within 5 s (`remote.fetch.max.wait.ms` is 500 ms). The replica is still
//!    running and Metadata still lists the topic with 2 partitions. 3000 more records go to
//!    the writer (acknowledged; its uploads wait for the bucket).
//! 4. moto is thawed (the outage stays shorter than the store's 30 s per-request timeout); the
//!    consumer has not read the whole uploaded history yet, so it needs the bucket again. The
//!    writer uploads the new segments (new ends `E2[p] > E[p]`); the replica reports
//!    `(0, E2[p])`, and the consumer, which never stopped, ends up with every record at
//!    `0..E2[p]` of each partition exactly once, byte for byte (key, value, headers, timestamp),
//!    the ones produced during the outage included. KAFKA_STORAGE_ERROR never reaches it
//!    (librdkafka retries it); the replica process is still running. The replica's cold-read
//!    metrics are printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use strata_integration::client::{partition_count, to_record};
use strata_integration::tier::{
    acknowledged_logs, compare_partition, now_ms, numbered_records, raw_fetch, s3_env,
    wait_all_uploaded, wait_watermarks, Moto, COLD_TOPIC_CONFIGS, FAST_TIERING,
    READ_REPLICA_REFRESH,
};
use strata_integration::{consumer, create_topic, producer, run, send_all, Broker, Record};

const TOPIC: &str = "rro";
const PARTITIONS: i32 = 2;
const BEFORE: usize = 8000;
const DURING: usize = 3000;
const VALUE_LEN: usize = 1000;
const BUCKET: &str = "strata-rro";
const STORE: &str = "s3://strata-rro/arch";
/// Records the consumer reads before the outage.
const READ_BEFORE: usize = 1000;

#[test]
fn a_read_replica_rides_out_a_bucket_outage() {
    run(Duration::from_secs(200), scenario());
}

async fn scenario() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket(BUCKET).await?;
    let env = s3_env(&moto.endpoint());

    // 1. The writer uploads the history; the replica serves it.
    let writer = Broker::start_with_env(
        &[&["--object-store", STORE][..], FAST_TIERING].concat(),
        &env,
    )?;
    let wb = writer.bootstrap();
    create_topic(&wb, TOPIC, PARTITIONS, COLD_TOPIC_CONFIGS).await?;
    let producer_w = producer(&wb, &[("batch.size", "131072")])?;
    let ts_base = now_ms() - 3_600_000;
    let mut sent = numbered_records(0, BEFORE, PARTITIONS, VALUE_LEN, ts_base);
    let mut acked = send_all(&producer_w, TOPIC, &sent).await?;
    let ends = wait_all_uploaded(
        writer.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    ensure!(
        ends.iter().all(|e| *e >= 2500),
        "uploaded ends {ends:?}: expected several segments per partition"
    );
    let metrics_port = strata_integration::broker::free_port()?;
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let mut replica = Broker::start_with_env(
        &[
            &["--read-replica", "--object-store", STORE][..],
            READ_REPLICA_REFRESH,
            &[
                "--metrics-listen",
                &metrics_listen,
                "--set",
                "strata.cold.read.ahead.bytes=0",
                "--set",
                "strata.cold.cache.chunk.bytes=131072",
            ],
        ]
        .concat(),
        &env,
    )?;
    let rb = replica.bootstrap();
    let marks = |ends: &[i64]| ends.iter().map(|e| (0, *e)).collect::<Vec<_>>();
    wait_watermarks(&rb, TOPIC, &marks(&ends), Duration::from_secs(20)).await?;

    // 2. A consumer reads part of the history, and keeps polling.
    let mut tail = Tail::start(&rb)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tail.records().len() < READ_BEFORE {
        tail.check()?;
        ensure!(
            Instant::now() < deadline,
            "the consumer read only {} records in 30 s",
            tail.records().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 3. The outage.
    moto.freeze()?;
    let outage_started = Instant::now();
    let reached: Vec<i64> = (0..PARTITIONS)
        .map(|p| {
            tail.records()
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .max()
                .unwrap_or(-1)
        })
        .collect();
    let cold = ends[1] - 1;
    ensure!(
        reached[1] + 1000 < cold,
        "the consumer already reached offset {} of partition 1 (cold offset {cold})",
        reached[1]
    );
    let started = Instant::now();
    let answer = raw_fetch(replica.addr(), TOPIC, &[(1, cold)], 100, 1).await?;
    let took = started.elapsed();
    println!("fetch of {TOPIC}-1 at {cold} during the outage: {answer:?} after {took:?}");
    ensure!(
        answer.len() == 1
            && answer[0].topic == TOPIC
            && answer[0].partition == 1
            && answer[0].error_code == 56
            && answer[0].records_len == 0,
        "fetch of {TOPIC}-1 at cold offset {cold} while the bucket is down: {answer:?}, \
         expected KAFKA_STORAGE_ERROR (56) and no records"
    );
    ensure!(
        took < Duration::from_secs(5),
        "KAFKA_STORAGE_ERROR came after {took:?}"
    );
    ensure!(replica.is_running(), "the replica exited during the outage");
    let count = {
        let rb = rb.clone();
        tokio::task::spawn_blocking(move || partition_count(&rb, TOPIC)).await??
    };
    ensure!(
        count == Some(PARTITIONS as usize),
        "Metadata during the outage: {TOPIC} has {count:?} partitions"
    );
    let during = numbered_records(BEFORE, DURING, PARTITIONS, VALUE_LEN, ts_base);
    let during_acked = send_all(&producer_w, TOPIC, &during).await?;
    sent.extend(during);
    acked.extend(during_acked);
    tokio::time::sleep(Duration::from_secs(2)).await;
    tail.check()?;
    let outage = outage_started.elapsed();
    ensure!(
        outage < Duration::from_secs(25),
        "the outage lasted {outage:?}: it must stay below the store's 30 s request timeout"
    );
    let at_thaw = tail.records().len();
    moto.thaw()?;
    println!("bucket outage lasted {outage:?}; the consumer had {at_thaw} records");
    ensure!(
        (at_thaw as i64) < ends.iter().sum::<i64>(),
        "the consumer had all {at_thaw} uploaded records before the outage ended: it never \
         waited for the bucket"
    );

    // 4. After the outage.
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
        "after the outage the uploaded ends moved from {ends:?} to {ends2:?}"
    );
    let took = wait_watermarks(&rb, TOPIC, &marks(&ends2), Duration::from_secs(15)).await?;
    println!("the replica saw the uploads of the outage (ends {ends2:?}) after {took:?}");
    let read = tail.finish(&ends2, Duration::from_secs(60)).await?;
    for p in 0..PARTITIONS {
        let e = ends2[p as usize] as usize;
        compare_partition(
            "the consumer across the outage",
            p,
            &read,
            &logs[p as usize][..e],
            0,
        )?;
    }
    ensure!(replica.is_running(), "the replica exited");
    let metric = |m: &str| strata_integration::prom::metric(metrics_port, m);
    println!(
        "replica: {} cold reads outlasted remote.fetch.max.wait.ms, {} chunk GETs, {} cache hits",
        metric("strata_remote_read_timeouts_total")?,
        metric("strata_cold_cache_misses_total")?,
        metric("strata_cold_cache_hits_total")?
    );
    drop(producer_w);
    drop(replica);
    drop(writer);
    drop(moto);
    Ok(())
}

/// A consumer on its own thread, assigned to partitions `0..PARTITIONS` from offset 0 with a
/// small prefetch queue, polling until told where to stop. Records arrive in
/// [`Tail::records`]; end-of-partition and transport errors are waited out, any other
/// consumer error ends the thread with an error.
struct Tail {
    records: Arc<Mutex<Vec<Record>>>,
    target: Arc<Mutex<Option<Vec<i64>>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<()>>>,
}

impl Tail {
    fn start(bootstrap: &str) -> Result<Tail> {
        let c = consumer(
            bootstrap,
            &[
                ("queued.min.messages", "200"),
                ("queued.max.messages.kbytes", "512"),
                ("max.partition.fetch.bytes", "131072"),
                // Above those bounds the next fetch waits this long (librdkafka's default is
                // 1 s, which would make the replay crawl).
                ("fetch.queue.backoff.ms", "10"),
            ],
        )?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning)?;
        }
        c.assign(&tpl).context("assign")?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let target: Arc<Mutex<Option<Vec<i64>>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, want, halt) = (records.clone(), target.clone(), stop.clone());
        let handle = std::thread::spawn(move || -> Result<()> {
            let mut next = vec![0i64; PARTITIONS as usize];
            loop {
                if halt.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if let Some(t) = want.lock().map_err(|_| anyhow!("poisoned"))?.as_ref() {
                    if next.iter().zip(t).all(|(n, t)| n >= t) {
                        return Ok(());
                    }
                }
                match c.poll(Duration::from_millis(100)) {
                    None => {}
                    Some(Ok(m)) => {
                        let r = to_record(&m);
                        let p = usize::try_from(r.partition)?;
                        next[p] = next[p].max(r.offset + 1);
                        out.lock().map_err(|_| anyhow!("poisoned"))?.push(r);
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
                    ))) => {}
                    Some(Err(e)) => bail!("consumer error: {e}"),
                }
            }
        });
        Ok(Tail {
            records,
            target,
            stop,
            handle: Some(handle),
        })
    }

    /// What the consumer has read so far, in arrival order.
    fn records(&self) -> Vec<Record> {
        match self.records.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fails if the consumer thread has ended (with its error, if it has one).
    fn check(&mut self) -> Result<()> {
        match self.handle.take() {
            Some(h) if h.is_finished() => match h.join() {
                Ok(Ok(())) => bail!("the consumer thread ended early"),
                Ok(Err(e)) => Err(e).context("the consumer on the replica"),
                Err(_) => bail!("the consumer thread panicked"),
            },
            Some(h) => {
                self.handle = Some(h);
                Ok(())
            }
            None => bail!("the consumer thread was joined"),
        }
    }

    /// Lets the consumer stop once partition `p` has delivered offset `ends[p] - 1`, waits for
    /// that (up to `timeout`) and returns everything it read.
    async fn finish(mut self, ends: &[i64], timeout: Duration) -> Result<Vec<Record>> {
        *self.target.lock().map_err(|_| anyhow!("poisoned"))? = Some(ends.to_vec());
        let handle = self
            .handle
            .take()
            .context("the consumer thread was joined")?;
        let deadline = Instant::now() + timeout;
        while !handle.is_finished() {
            if Instant::now() >= deadline {
                self.stop.store(true, Ordering::Relaxed);
                let records = self.records();
                let _ = handle.join();
                let per_partition: Vec<usize> = (0..PARTITIONS)
                    .map(|p| records.iter().filter(|r| r.partition == p).count())
                    .collect();
                bail!(
                    "the consumer did not reach {ends:?} within {timeout:?}: records per \
                     partition {per_partition:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match handle.join() {
            Ok(Ok(())) => Ok(self.records()),
            Ok(Err(e)) => Err(e).context("the consumer across the outage"),
            Err(_) => bail!("the consumer thread panicked"),
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
