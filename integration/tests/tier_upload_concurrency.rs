//! `remote.log.manager.copier.thread.pool.size` bounds concurrent segment uploads across
//! partitions (issue 12), and is reached: a broker with a pool of 3 and a 3 MB/s upload rate
//! limit gets ~3 MB for each of 4 tiered partitions (`segment.bytes=1 MiB`,
//! `local.retention.bytes=0`), so a backlog of sealed segments builds up in every partition at
//! once. Checked, exactly: every sealed segment is uploaded and deleted locally, every record
//! reads back at its offset, and the most uploads that ever ran at once
//! (`strata_tier_uploads_running_peak`) is 3 — more partitions than slots were waiting, and a
//! partition's own segments upload one after another.

use std::time::Duration;

use anyhow::{ensure, Result};
use strata_integration::prom::metric;
use strata_integration::tier::{
    acknowledged_logs, compare_partition, now_ms, numbered_records, wait_all_uploaded,
    COLD_TOPIC_CONFIGS, FAST_TIERING,
};
use strata_integration::{create_topic, producer, read_topic, run, send_all, Broker};

const TOPIC: &str = "pool";
const PARTITIONS: i32 = 4;
const RECORDS: usize = 12_000;
const POOL: usize = 3;

#[test]
fn the_copier_pool_bounds_and_fills_concurrent_uploads() {
    run(Duration::from_secs(180), scenario());
}

async fn scenario() -> Result<()> {
    let metrics_port = strata_integration::broker::free_port()?;
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let pool = format!("remote.log.manager.copier.thread.pool.size={POOL}");
    let broker = Broker::start(
        &[
            &[
                "--metrics-listen",
                metrics_listen.as_str(),
                "--set",
                pool.as_str(),
                "--set",
                "remote.log.manager.copy.max.bytes.per.second=3000000",
            ],
            FAST_TIERING,
        ]
        .concat(),
    )?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, COLD_TOPIC_CONFIGS).await?;
    let sent = numbered_records(0, RECORDS, PARTITIONS, 1000, now_ms() - 3_600_000);
    let acked = {
        let p = producer(&bootstrap, &[("batch.size", "131072")])?;
        send_all(&p, TOPIC, &sent).await?
    };
    let logs = acknowledged_logs(&sent, &acked, &[0; PARTITIONS as usize])?;
    wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(120),
    )
    .await?;
    let peak = metric(metrics_port, "strata_tier_uploads_running_peak")?;
    let uploaded = metric(metrics_port, "strata_tier_uploaded_segments_total")?;
    println!("{uploaded} segments uploaded, at most {peak} at once");
    ensure!(
        peak == POOL as f64,
        "at most {peak} uploads ran at once; the pool is {POOL} and {PARTITIONS} partitions had \
         segments waiting"
    );
    ensure!(uploaded >= 8.0, "only {uploaded} segments uploaded");
    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    for (p, expected) in logs.iter().enumerate() {
        let mine: Vec<_> = read
            .iter()
            .filter(|r| r.partition == p as i32)
            .cloned()
            .collect();
        compare_partition(&format!("partition {p}"), p as i32, &mine, expected, 0)?;
    }
    drop(broker);
    Ok(())
}
