//! A follower of a tiered partition that is behind its leader's first local offset
//! (OFFSET_MOVED_TO_TIERED_STORAGE, KIP-405): instead of copying months of history through the
//! leader, it restarts its copy where the leader's local log starts.
//!
//! Invariants:
//! - the restart point is the leader's earliest local offset (ListOffsets -4, asked of the
//!   leader in the current leader epoch); everything below it is in the shared bucket, which
//!   this broker's catalog is refreshed from first, so the copy serves those offsets through
//!   cold reads if it ever leads;
//! - the log start becomes the leader's (from the fetch answer), and the producer state is
//!   seeded from the bucket, as `strata tier restore` does: the producer snapshot uploaded
//!   with the remote segment ending at the restart point (open transactions, epochs,
//!   sequences) when there is one, else the manifests' idempotent batches;
//! - nothing is restarted unless the copy really ends below that point (a racing leader change
//!   or a refresh that fails leaves the copy as it is; the fetcher retries).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::kafka_client::KafkaClient;
use crate::partition::Partition;

/// ListOffsets' "earliest local offset" (KIP-405).
const EARLIEST_LOCAL: i64 = -4;
/// The ListOffsets version that carries it.
const LIST_OFFSETS_VERSION: i16 = 8;

/// The leader's first local offset of `part`, asked in leader epoch `epoch`.
async fn leader_local_start(
    broker: &Broker,
    part: &Partition,
    client: &mut KafkaClient,
    epoch: i32,
) -> anyhow::Result<i64> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(part.topic.clone())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(part.index)
                .with_current_leader_epoch(epoch)
                .with_timestamp(EARLIEST_LOCAL)])]);
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client.call(req, LIST_OFFSETS_VERSION),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the leader did not answer ListOffsets"))??;
    let answer = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == part.index)
        .ok_or_else(|| anyhow::anyhow!("ListOffsets lacks the partition"))?;
    if answer.error_code != 0 {
        anyhow::bail!(
            "ListOffsets (earliest local) answered error {}",
            answer.error_code
        );
    }
    Ok(answer.offset)
}

/// Restarts `part`'s copy at its leader's first local offset, with log start `log_start`.
pub(crate) async fn restart(
    broker: &Arc<Broker>,
    part: &Arc<Partition>,
    client: &mut KafkaClient,
    epoch: i32,
    log_start: i64,
) -> anyhow::Result<()> {
    let local_start = leader_local_start(broker, part, client, epoch).await?;
    let seed = match broker.tier() {
        Some(tier) => {
            tier.refresh_partition(&part.topic_id, part.index).await?;
            tier.producer_seed(&part.topic_id, part.index, local_start)
                .await?
        }
        None => strata_tier::producer_seed::RemoteProducerSeed::default(),
    };
    let from = part.log().log_end_offset();
    if from >= local_start {
        return Ok(());
    }
    let from_snapshot = tokio::task::block_in_place(|| {
        part.log()
            .restart_from_tier(log_start, local_start, seed.as_seed())
    })?;
    if let Some(tier) = broker.tier() {
        if let Ok(Some(end)) = tier.refresh_partition(&part.topic_id, part.index).await {
            part.log().set_remote_upload_end(end);
        }
    }
    tracing::warn!(topic = %part.topic, partition = part.index, from, to = local_start, log_start, from_snapshot,
        "behind the leader's local log: restarted the copy there (the rest is in the bucket)");
    metrics::counter!("strata_replica_tier_restarts_total").increment(1);
    Ok(())
}
