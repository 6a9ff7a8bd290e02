//! Upgrade in place (migrations/UPGRADING.md, 2026-12-06): a data directory whose
//! `__consumer_offsets-<p>/` partitions were written by the coordinator before the topic was
//! replicated — here written by the same on-disk code, `strata_group::GroupCoordinator::open`
//! over local logs — is served by the broker: the topic is created at start with the fixed id
//! its directories carry, and the committed offsets come back exactly, through librdkafka.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use strata_group::{GroupConfig, GroupCoordinator, OffsetOracle};
use strata_integration::{consumer, create_topic, run, Broker};

const GROUP: &str = "legacy-readers";
const TOPIC: &str = "legacy";

/// Every partition of [`TOPIC`] exists (the broker checks again when it serves).
struct Oracle;

impl OffsetOracle for Oracle {
    fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        (topic == TOPIC && (0..3).contains(&partition)).then_some(1_000)
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Commits `offsets` for [`GROUP`] into the old-style local `__consumer_offsets` of `data_dir`.
async fn write_legacy_commits(data_dir: &std::path::Path, offsets: &[(i32, i64)]) -> Result<()> {
    let c = GroupCoordinator::open(data_dir, GroupConfig::default(), Arc::new(Oracle))?;
    c.wait_loaded().await;
    ensure!(c.is_ready(), "the local coordinator did not load");
    let partitions = offsets
        .iter()
        .map(|&(p, o)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(o)
                .with_committed_metadata(Some(s("before the upgrade")))
        })
        .collect();
    let resp = c
        .offset_commit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partitions(partitions)]),
            8,
        )
        .await;
    let codes: Vec<i16> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    ensure!(codes == vec![0; offsets.len()], "legacy commit: {codes:?}");
    c.close()?;
    Ok(())
}

#[test]
fn committed_offsets_written_before_the_topic_was_replicated_are_served() {
    run(Duration::from_secs(90), async {
        let mut broker = Broker::prepare(&[], &[])?;
        let committed = [(0, 17), (1, 0), (2, 123_456)];
        write_legacy_commits(broker.data_dir(), &committed).await?;
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        create_topic(&bootstrap, TOPIC, 3, &[]).await?;

        let c = consumer(&bootstrap, &[("group.id", GROUP)])?;
        let mut query = TopicPartitionList::new();
        for (p, _) in committed {
            query.add_partition(TOPIC, p);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            match c.committed_offsets(query.clone(), Duration::from_secs(10)) {
                Ok(list) => break list,
                Err(e) if Instant::now() < deadline => {
                    println!("OffsetFetch retried: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => bail!("committed offsets: {e}"),
            }
        };
        let got: Vec<(i32, Offset)> = got
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        let want: Vec<(i32, Offset)> = committed
            .iter()
            .map(|&(p, o)| (p, Offset::Offset(o)))
            .collect();
        ensure!(got == want, "committed offsets after the upgrade: {got:?}");
        // The internal partitions are the old directories, now replicas of the topic.
        let md = c
            .fetch_metadata(Some("__consumer_offsets"), Duration::from_secs(10))
            .context("metadata")?;
        let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
        ensure!(
            partitions == 50,
            "__consumer_offsets has {partitions} partitions"
        );
        Ok(())
    });
}
