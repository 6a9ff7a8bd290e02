//! Cold replay with a read-ahead window of parallel ranged GETs (issue 12), against moto's S3
//! server over HTTP. A 1-partition tiered topic (`segment.bytes=1 MiB`,
//! `local.retention.bytes=0`) gets ~12 MB of keyed records with headers; the broker reads the
//! bucket in 128 KiB chunks with a 1 MiB window (`strata.cold.read.ahead.bytes`), so every
//! sequential read keeps up to 8 GETs in flight, across segment boundaries. Checked, exactly:
//!
//! - three consumers replaying from offset 0 at the same time each read every record byte for
//!   byte (key, value, headers, timestamp) at its acknowledged offset;
//! - the window was used (`strata_cold_prefetch_total` > 0), and the three replays together
//!   fetched every byte of the cold `.log` objects exactly once
//!   (`strata_cold_cache_fill_bytes_total` = the bytes `strata tier status` reports), in one GET
//!   per chunk (`strata_cold_cache_misses_total` between `bytes / chunk` and that plus one per
//!   segment): prefetched chunks are read from the cache, concurrent readers share GETs;
//! - consumers that seek into the middle of segments read exactly the records from there;
//! - after the cache is cold again (broker restart), a replay is still byte-exact.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::Offset;
use strata_integration::prom::metric;
use strata_integration::tier::{
    acknowledged_logs, compare_partition, now_ms, numbered_records, s3_env, tier_status,
    wait_all_uploaded, Moto, COLD_TOPIC_CONFIGS,
};
use strata_integration::{create_topic, producer, read_partitions, run, send_all, Broker};

const TOPIC: &str = "par";
const RECORDS: usize = 12_000;
const VALUE_LEN: usize = 1000;
const CHUNK: u64 = 128 * 1024;

#[test]
fn parallel_cold_replays_are_byte_exact_and_fetch_each_chunk_once() {
    run(Duration::from_secs(200), scenario());
}

async fn scenario() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket("strata-par").await?;
    let env = s3_env(&moto.endpoint());
    let metrics_port = strata_integration::broker::free_port()?;
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let chunk = CHUNK.to_string();
    let mut broker = Broker::start_with_env(
        &[
            "--object-store",
            "s3://strata-par/arch",
            "--metrics-listen",
            &metrics_listen,
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
            "--set",
            &format!("strata.cold.cache.chunk.bytes={chunk}"),
            "--set",
            "strata.cold.read.ahead.bytes=1048576",
            "--set",
            "strata.cold.cache.bytes=268435456",
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, COLD_TOPIC_CONFIGS).await?;
    let ts_base = now_ms() - 3_600_000;
    let sent = numbered_records(0, RECORDS, 1, VALUE_LEN, ts_base);
    let acked = {
        let p = producer(&bootstrap, &[("batch.size", "65536")])?;
        send_all(&p, TOPIC, &sent).await?
    };
    let logs = acknowledged_logs(&sent, &acked, &[0])?;
    let expected = &logs[0];
    let actives = wait_all_uploaded(broker.data_dir(), TOPIC, 1, Duration::from_secs(90)).await?;
    let active = actives[0];
    ensure!(active > 8000, "cold range only up to {active}");

    // Three replays at once.
    let before = metric(metrics_port, "strata_cold_cache_misses_total")?;
    let filled_before = metric(metrics_port, "strata_cold_cache_fill_bytes_total")?;
    let replays: Vec<_> = (0..3)
        .map(|_| {
            let b = bootstrap.clone();
            tokio::spawn(
                async move { read_partitions(&b, TOPIC, &[(0, Offset::Beginning)], &[]).await },
            )
        })
        .collect();
    for (i, r) in replays.into_iter().enumerate() {
        let read = r.await.context("replay task")??;
        ensure!(
            read.len() == expected.len(),
            "replay {i}: {} records, {} acknowledged",
            read.len(),
            expected.len()
        );
        compare_partition(&format!("replay {i}"), 0, &read, expected, 0)?;
    }
    let prefetched = metric(metrics_port, "strata_cold_prefetch_total")?;
    let gets = metric(metrics_port, "strata_cold_cache_misses_total")? - before;
    let filled = metric(metrics_port, "strata_cold_cache_fill_bytes_total")? - filled_before;
    let status = tier_status(broker.data_dir(), Some("s3://strata-par/arch"), None, &env)?;
    let row = status.first().context("tier status row")?;
    ensure!(
        row.remote_end == active,
        "tier status {row:?}, active segment {active}"
    );
    let bytes = row.remote_bytes;
    let min_gets = bytes.div_ceil(CHUNK);
    let max_gets = min_gets + row.remote_segments as u64;
    println!(
        "3 replays: {gets} chunk GETs, {filled} bytes for {bytes} cold bytes in {} segments, \
         {prefetched} prefetches",
        row.remote_segments
    );
    ensure!(
        prefetched > 0.0,
        "the read-ahead window never started a GET"
    );
    ensure!(
        filled == bytes as f64,
        "fetched {filled} bytes into the cache for {bytes} bytes of cold segments"
    );
    ensure!(
        (min_gets as f64..=max_gets as f64).contains(&gets),
        "{gets} chunk GETs, expected {min_gets}..={max_gets} (one per chunk)"
    );

    // Seeks into the middle of segments.
    for start in [1234_i64, 5077, (active - 3).max(0)] {
        let read = read_partitions(&bootstrap, TOPIC, &[(0, Offset::Offset(start))], &[]).await?;
        let want = &expected[start as usize..];
        ensure!(
            read.len() == want.len(),
            "from {start}: {} records, expected {}",
            read.len(),
            want.len()
        );
        compare_partition(&format!("from {start}"), 0, &read, want, start)?;
    }

    // A cold cache again (the cache directory is wiped at start).
    let status = broker.sigterm_and_wait()?;
    ensure!(status.code() == Some(0), "shutdown exited with {status}");
    broker.restart()?;
    let read = read_partitions(&broker.bootstrap(), TOPIC, &[(0, Offset::Beginning)], &[]).await?;
    ensure!(
        read.len() == expected.len(),
        "after restart: {} records",
        read.len()
    );
    compare_partition("after restart", 0, &read, expected, 0)?;
    drop(broker);
    Ok(())
}
