//! `produce`: push N fixed-size records through librdkafka and record
//! per-record latency (delivery report time - send time).
//!
//! A `ThreadedProducer` serves delivery reports on its own thread. Calling
//! `BaseProducer::poll` from the send loop with short timeouts is much
//! slower: rdkafka 0.39 truncates the remaining timeout to whole
//! milliseconds, so every `poll(1ms)` busy-spins on `clock_gettime`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::cli::ProduceArgs;
use crate::report::{cpu_time, us_to_ms, Report};

/// Back-off when librdkafka's queue is full (the poll thread frees it).
const QUEUE_FULL_BACKOFF: Duration = Duration::from_micros(200);
/// Highest latency the histogram can hold: one hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Receives delivery reports; the opaque is the send time in nanoseconds
/// since `start`.
struct LatencyContext {
    start: Instant,
    histogram: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for LatencyContext {}

impl ProducerContext for LatencyContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.start.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => {
                let us = (now_ns.saturating_sub(sent_ns as u64) / 1000).clamp(1, MAX_LATENCY_US);
                if let Ok(mut h) = self.histogram.lock() {
                    // Cannot fail: the value is clamped into the bounds.
                    let _ = h.record(us);
                }
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
}

fn config(args: &ProduceArgs) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    let batch = args.batch_size_bytes.max(1);
    // librdkafka needs room for at least one full batch.
    let queue_kbytes =
        (args.max_in_flight_bytes.max(2 * batch as u64) / 1024).clamp(1, i32::MAX as u64);
    cfg.set("bootstrap.servers", &args.bootstrap_server)
        .set("acks", args.acks.as_config())
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", batch.to_string())
        .set("batch.num.messages", "1000000")
        // A produce request must be able to carry one full batch.
        .set(
            "message.max.bytes",
            (batch + 65_536).max(1_000_000).to_string(),
        )
        .set("compression.type", args.compression.as_config())
        .set(
            "queue.buffering.max.messages",
            args.max_in_flight_records
                .clamp(1, i32::MAX as u64)
                .to_string(),
        )
        .set("queue.buffering.max.kbytes", queue_kbytes.to_string())
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "300000");
    for (k, v) in &args.properties {
        cfg.set(k, v);
    }
    cfg
}

/// Deterministic, poorly compressible payload (xorshift bytes).
fn payload(size: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What one producer instance delivered.
struct Outcome {
    delivered: u64,
    failed: u64,
    histogram: Histogram<u64>,
    first_error: Option<String>,
}

/// One producer instance: connects, waits at `ready`, sends `records`, flushes.
fn produce_share(
    args: &ProduceArgs,
    records: u64,
    ready: &std::sync::Barrier,
) -> anyhow::Result<Outcome> {
    let ctx = LatencyContext {
        start: Instant::now(),
        histogram: Mutex::new(Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
    };
    let producer: ThreadedProducer<LatencyContext> = config(args)
        .create_with_context(ctx)
        .context("creating producer")?;
    // Fetch metadata first so connection setup is not part of the run.
    let metadata = producer
        .client()
        .fetch_metadata(Some(&args.topic), Duration::from_secs(30))
        .context("fetching metadata (is the broker up?)");
    ready.wait();
    metadata?;
    let value = payload(args.record_size);
    // Pacing: this producer's share of --rate-mb-per-s, checked every few records.
    let per_record = (args.rate_mb_per_s > 0.0).then(|| {
        let share = args.rate_mb_per_s * 1e6 / args.producers.max(1) as f64;
        Duration::from_secs_f64(args.record_size.max(1) as f64 / share)
    });
    let paced_from = Instant::now();
    for i in 0..records {
        if let Some(per_record) = per_record {
            if i % 8 == 0 {
                let due = paced_from + per_record.mul_f64(i as f64);
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
            }
        }
        loop {
            let sent_ns = producer.context().start.elapsed().as_nanos() as usize;
            let record = BaseRecord::<(), [u8], usize>::with_opaque_to(&args.topic, sent_ns)
                .payload(&value[..]);
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    thread::sleep(QUEUE_FULL_BACKOFF);
                }
                Err((e, _)) => bail!("send failed after {i} records: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .context("flushing producer")?;
    let ctx = producer.context();
    let histogram = ctx
        .histogram
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock poisoned"))?
        .clone();
    let first_error = ctx.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Outcome {
        delivered: ctx.delivered.load(Ordering::Relaxed),
        failed: ctx.failed.load(Ordering::Relaxed),
        histogram,
        first_error,
    })
}

pub(crate) fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    let producers = args.producers.max(1);
    let per = args.records / producers as u64;
    let extra = args.records % producers as u64;
    let ready = std::sync::Barrier::new(producers + 1);
    let (outcomes, elapsed, cpu0) = thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|i| {
                let share = per + u64::from((i as u64) < extra);
                let ready = &ready;
                scope.spawn(move || produce_share(args, share, ready))
            })
            .collect();
        ready.wait();
        let cpu0 = cpu_time();
        let start = Instant::now();
        let outcomes: Vec<anyhow::Result<Outcome>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("producer thread panicked")))
            })
            .collect();
        (outcomes, start.elapsed(), cpu0)
    });
    let mut hist = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    let (mut delivered, mut failed, mut first) = (0, 0, None);
    for outcome in outcomes {
        let o = outcome?;
        delivered += o.delivered;
        failed += o.failed;
        hist.add(&o.histogram)?;
        first = first.or(o.first_error);
    }
    let mut report = Report::new("produce");
    report
        .text("topic", &args.topic)
        .text("acks", args.acks.as_config())
        .int("record_size", args.record_size as u64)
        .int("producers", producers as u64)
        .text("compression", args.compression.as_config())
        .rates(delivered, delivered * args.record_size as u64, elapsed)
        .float("p50_ms", us_to_ms(hist.value_at_quantile(0.50)), 2)
        .float("p99_ms", us_to_ms(hist.value_at_quantile(0.99)), 2)
        .float("max_ms", us_to_ms(hist.max()), 2)
        .int("failed", failed)
        .cpu(cpu0, elapsed);
    report.print(args.json);
    if failed > 0 {
        bail!(
            "{failed} of {} records failed; first error: {}",
            args.records,
            first.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_requested_size_and_varies() {
        let p = payload(1024);
        assert_eq!(p.len(), 1024);
        assert!(p.iter().any(|&b| b != p[0]));
    }
}
