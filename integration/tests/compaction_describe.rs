//! `strata topic describe` shows the cleaner state of a compacted topic's partitions (issue 10),
//! against the `strata` binary.
//!
//! Five records of 400 kB (keys `k0`..`k4`, one batch each) go to a `cleanup.policy=compact`
//! topic with 1 MiB segments: segments `[0,1]` and `[2,3]` are sealed, `[4]` is active. With
//! the cleaner off (`log.cleaner.enable=false` in the broker's config file), describe shows the
//! partition's usual columns unchanged, then `FirstDirtyOffset: 0`, `CleanableBytes:` the two
//! sealed segment files' exact size, `DirtyRatio: 1.0000`, `NeedsCleaning: true`. A `delete`
//! topic gets no cleaner columns. The broker is then restarted with the cleaner on; once its
//! checkpoint reaches 4, describe shows `FirstDirtyOffset: 4`, `CleanableBytes: 0`,
//! `DirtyRatio: 0.0000`, `NeedsCleaning: false`, the other columns unchanged.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rdkafka::producer::FutureRecord;
use strata_integration::{create_topic, producer, run, strata_cli, Broker};

const TOPIC: &str = "described";
const PLAIN: &str = "described-plain";
const SEGMENT: &str = "1048576";

fn write_config(path: &Path, cleaner: bool) -> Result<()> {
    let text =
        format!("\"log.cleaner.enable\" = \"{cleaner}\"\n\"log.cleaner.backoff.ms\" = \"100\"\n");
    std::fs::write(path, text).context("writing the broker config file")
}

/// The partition lines of `strata topic describe topic`.
fn describe(broker: &Broker, topic: &str) -> Result<Vec<String>> {
    let out = strata_cli(&[
        "topic",
        "describe",
        topic,
        "--bootstrap-server",
        &broker.bootstrap(),
    ])?;
    out.ensure_success("strata topic describe")?;
    Ok(out
        .stdout_str()
        .lines()
        .filter(|l| l.starts_with("\tTopic: "))
        .map(str::to_string)
        .collect())
}

fn segment_size(broker: &Broker, base: i64) -> Result<u64> {
    let path = broker
        .data_dir()
        .join(format!("{TOPIC}-0"))
        .join(format!("{base:020}.log"));
    Ok(std::fs::metadata(&path)
        .with_context(|| format!("{}", path.display()))?
        .len())
}

fn checkpoint(broker: &Broker) -> Option<i64> {
    let path = broker
        .data_dir()
        .join(format!("{TOPIC}-0"))
        .join("cleaner-offset-checkpoint");
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[test]
fn topic_describe_shows_the_cleaner_state_of_compacted_topics() {
    run(Duration::from_secs(180), scenario());
}

async fn scenario() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("strata.toml");
    write_config(&config, false)?;
    let config_arg = config.display().to_string();
    let mut broker = Broker::start(&["--config", &config_arg])?;
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[("cleanup.policy", "compact"), ("segment.bytes", SEGMENT)],
    )
    .await?;
    create_topic(&bootstrap, PLAIN, 1, &[("cleanup.policy", "delete")]).await?;
    let p = producer(&bootstrap, &[("linger.ms", "0")])?;
    let value = vec![b'v'; 400_000];
    for (topic, n) in [(TOPIC, 5), (PLAIN, 1)] {
        for i in 0..n {
            let key = format!("k{i}");
            let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
                .key(key.as_str())
                .payload(value.as_slice());
            let delivery = p
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| anyhow::anyhow!("delivery of {key} to {topic}: {e}"))?;
            ensure!(delivery.offset == i, "{key} at offset {}", delivery.offset);
        }
    }
    // One batch per record, two per 1 MiB segment: [0,1] [2,3] sealed, [4] active.
    let sealed = segment_size(&broker, 0)? + segment_size(&broker, 2)?;
    ensure!(segment_size(&broker, 4).is_ok(), "no segment at offset 4");
    let head = format!(
        "\tTopic: {TOPIC}\tPartition: 0\tLeader: 0\tReplicas: [0]\tIsr: [0]\tLogStartOffset: 0\
         \tHighWatermark: 5"
    );
    let dirty = describe(&broker, TOPIC)?;
    let want = format!(
        "{head}\tFirstDirtyOffset: 0\tCleanableBytes: {sealed}\tDirtyRatio: 1.0000\
         \tNeedsCleaning: true"
    );
    ensure!(
        dirty == [want.clone()],
        "dirty:\n{dirty:?}\nwant:\n{want:?}"
    );
    let plain = describe(&broker, PLAIN)?;
    let want_plain = format!(
        "\tTopic: {PLAIN}\tPartition: 0\tLeader: 0\tReplicas: [0]\tIsr: [0]\tLogStartOffset: 0\
         \tHighWatermark: 1"
    );
    ensure!(
        plain == [want_plain.clone()],
        "plain:\n{plain:?}\nwant:\n{want_plain:?}"
    );

    // The cleaner on: it cleans the sealed segments and checkpoints their end.
    broker.sigterm_and_wait()?;
    write_config(&config, true)?;
    broker.restart()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&broker) != Some(4) {
        ensure!(
            Instant::now() < deadline,
            "the cleaner did not checkpoint offset 4 ({:?}); broker log:\n{}",
            checkpoint(&broker),
            broker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clean = describe(&broker, TOPIC)?;
    let want = format!(
        "{head}\tFirstDirtyOffset: 4\tCleanableBytes: 0\tDirtyRatio: 0.0000\tNeedsCleaning: false"
    );
    ensure!(
        clean == [want.clone()],
        "clean:\n{clean:?}\nwant:\n{want:?}"
    );
    Ok(())
}
