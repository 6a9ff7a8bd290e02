//! Issue 7, item 9, against the real binary:
//! - a `cleanup.policy=compact` topic is never trimmed by time or size (while a `delete` topic
//!   with the same settings is); the log cleaner is off here, so only retention could remove
//!   records (compaction itself is tested in `compaction.rs`);
//! - DescribeConfigs never returns sensitive broker settings.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rdkafka::admin::ResourceSpecifier;
use strata_integration::client::admin_options;
use strata_integration::{
    admin, create_topic, producer, read_topic, run, send_all, Broker, Outgoing,
};

fn batch(n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| Outgoing {
            partition: Some(0),
            key: Some(format!("k{}", i % 3).into_bytes()),
            value: vec![b'v'; 2048],
            // Old records: a day ago, far beyond retention.ms=1000.
            timestamp: Some(chrono_now_ms() - 86_400_000),
            ..Outgoing::default()
        })
        .collect()
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn compacted_topics_are_never_trimmed_by_time_or_size() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[
            "--set",
            "log.retention.check.interval.ms=200",
            "--set",
            "log.cleaner.enable=false",
        ])?;
        let bootstrap = broker.bootstrap();
        let settings = [
            ("retention.ms", "1000"),
            ("retention.bytes", "0"),
            ("segment.ms", "100"),
            ("segment.bytes", "1048576"),
        ];
        let mut compact = settings.to_vec();
        compact.push(("cleanup.policy", "compact"));
        let mut delete = settings.to_vec();
        delete.push(("cleanup.policy", "delete"));
        create_topic(&bootstrap, "changelog", 1, &compact).await?;
        create_topic(&bootstrap, "events", 1, &delete).await?;
        let p = producer(&bootstrap, &[])?;
        // Two sends, so that the first segment can roll (segment.ms) and become deletable.
        for _ in 0..2 {
            send_all(&p, "changelog", &batch(50)).await?;
            send_all(&p, "events", &batch(50)).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Wait until retention has visibly trimmed the delete topic.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = read_topic(&bootstrap, "events", 1).await?;
            if events.len() < 100 {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "retention never ran on the delete topic"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let changelog = read_topic(&bootstrap, "changelog", 1).await?;
        let offsets: Vec<i64> = changelog.iter().map(|r| r.offset).collect();
        ensure!(
            offsets == (0..100).collect::<Vec<i64>>(),
            "compacted topic lost records: {} left",
            offsets.len()
        );
        Ok(())
    });
}

#[test]
fn describe_configs_redacts_sensitive_broker_settings() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&[
            "--set",
            "ssl.keystore.password=hunter2",
            "--set",
            "sasl.jaas.config=org.example.Login required password=\"hunter2\";",
        ])?;
        let admin = admin(&broker.bootstrap())?;
        let results = admin
            .describe_configs([&ResourceSpecifier::Broker(0)], &admin_options())
            .await
            .context("DescribeConfigs")?;
        let resource = results
            .into_iter()
            .next()
            .context("no result")?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for key in ["ssl.keystore.password", "sasl.jaas.config"] {
            let entry = resource
                .get(key)
                .with_context(|| format!("{key} missing"))?;
            ensure!(
                entry.is_sensitive && entry.value.is_none(),
                "{key} not redacted: {entry:?}"
            );
        }
        let plain = resource.get("num.partitions").context("num.partitions")?;
        ensure!(plain.value.as_deref() == Some("1") && !plain.is_sensitive);
        ensure!(
            !format!("{:?}", resource.entries).contains("hunter2"),
            "secret leaked"
        );
        Ok(())
    });
}
