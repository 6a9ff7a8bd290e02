//! Followers copy their leader: one task per follower partition sends Kafka Fetch requests
//! with this broker's id as `replica_id` to the leader's inter-broker listener
//! (`inter.broker.listener.name`, over TLS with the node certificate when it is an SSL
//! listener; see `node_tls.rs`), appends the batches it
//! gets as they are (`append_as_follower`), and takes the leader's high watermark (bounded by
//! its own log end).
//!
//! Invariants:
//! - a fetcher serves one (leader, leader epoch); the reconciler aborts it when either changes
//!   and starts a new one, so a follower never appends what a deposed leader sends;
//! - the fetch offset is the follower's log end: with `strata.replica.fsync` the task
//!   fdatasyncs what it appended before asking for more (on its own thread, which keeps the
//!   flusher's thread hand-offs off the acks=all path; through the flusher when a roll left a
//!   new segment's directory entry unsynced), so the end it reports to the leader (which
//!   counts toward the high watermark) is durable here;
//! - before its first fetch in an epoch, a follower asks the leader (OffsetForLeaderEpoch) where
//!   its own latest epoch ends in the leader's log and truncates what lies beyond (a divergent
//!   suffix from a deposed leader), as Kafka does (KIP-101/KIP-279);
//! - a follower whose log end lies below the leader's log start (a new replica of a partition
//!   whose oldest records are gone) empties its copy and continues from the leader's log start
//!   (`truncate_fully_and_start_at`), as Kafka does — at the base of the leader's first batch
//!   when that start falls inside it (DeleteRecords), the log start then lifted to the
//!   leader's;
//! - a follower of a tiered partition behind the leader's first local offset (the leader
//!   answers OFFSET_MOVED_TO_TIERED_STORAGE) restarts its copy there instead of copying the
//!   bucket's history through the leader (`tier_restart.rs`);
//! - every failure (leader unreachable, an error code, a bad batch) backs off and retries; it
//!   never stops the task, and never writes a partial batch.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_log::Durability;
use tokio::task::AbortHandle;

use crate::broker::{now_ms, Broker};
use crate::kafka_client::{KafkaClient, SecurityError};
use crate::partition::Partition;

/// Fetch version followers send (topic names, flexible encoding).
const FETCH_VERSION: i16 = 12;
/// How long the leader may hold a follower's fetch open waiting for data.
const MAX_WAIT_MS: i32 = 500;
/// Bytes per fetch.
const MAX_BYTES: i32 = 8 * 1024 * 1024;
/// OFFSET_OUT_OF_RANGE: the fetch offset lies outside the leader's log.
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// OFFSET_MOVED_TO_TIERED_STORAGE: the fetch offset is only in the bucket (KIP-405).
const OFFSET_MOVED_TO_TIERED_STORAGE: i16 = 109;
/// Pause after a failure before trying again.
const BACKOFF: Duration = Duration::from_millis(200);

/// Starts copying `part` from `leader` in `epoch`.
pub(crate) fn spawn(
    broker: Arc<Broker>,
    part: Arc<Partition>,
    leader: i32,
    epoch: i32,
) -> AbortHandle {
    tokio::spawn(run(broker, part, leader, epoch)).abort_handle()
}

async fn run(broker: Arc<Broker>, part: Arc<Partition>, leader: i32, epoch: i32) {
    let mut shutdown = broker.shutdown_signal();
    let mut refused = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let peer = broker.meta().brokers.get(&leader).cloned();
        let client = match peer {
            Some(peer) => match broker.config.inter_broker.connect(&peer).await {
                Ok(client) => Some(client),
                Err(e) => {
                    // A refusal (TLS, certificate) repeats until someone fixes the settings:
                    // say so once per fetcher; network failures are routine.
                    if !refused && e.downcast_ref::<SecurityError>().is_some() {
                        refused = true;
                        tracing::warn!(topic = %part.topic, partition = part.index, leader,
                            "cannot connect to the leader: {e:#}");
                    } else {
                        tracing::debug!(topic = %part.topic, partition = part.index, leader,
                            error = %format!("{e:#}"), "cannot connect to the leader; retrying");
                    }
                    None
                }
            },
            None => None,
        };
        if let Some(mut client) = client {
            let truncated = truncate_divergent(&broker, &part, &mut client, epoch).await;
            let followed = match truncated {
                Ok(()) => follow(&broker, &part, &mut client, epoch).await,
                Err(e) => Err(e),
            };
            if let Err(e) = followed {
                tracing::debug!(topic = %part.topic, partition = part.index, leader, error = %e,
                    "replica fetch failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(BACKOFF) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Cuts this copy back to where it agrees with the leader's log (OffsetForLeaderEpoch).
async fn truncate_divergent(
    broker: &Arc<Broker>,
    part: &Arc<Partition>,
    client: &mut KafkaClient,
    epoch: i32,
) -> anyhow::Result<()> {
    let (latest, end) = {
        let log = part.log();
        (log.leader_epoch(), log.log_end_offset())
    };
    if latest < 0 {
        return Ok(());
    }
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_string(part.topic.clone())))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(part.index)
                .with_current_leader_epoch(epoch)
                .with_leader_epoch(latest)])]);
    let resp = tokio::time::timeout(Duration::from_secs(10), client.call(req, 4))
        .await
        .map_err(|_| anyhow::anyhow!("the leader did not answer OffsetForLeaderEpoch"))??;
    let answer = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition == part.index)
        .ok_or_else(|| anyhow::anyhow!("OffsetForLeaderEpoch lacks the partition"))?;
    if answer.error_code != 0 {
        anyhow::bail!("OffsetForLeaderEpoch answered error {}", answer.error_code);
    }
    // Where the leader's log and this one agree: the end of the latest epoch both know.
    let agreed = if answer.end_offset < 0 {
        0
    } else if answer.leader_epoch == latest {
        answer.end_offset.min(end)
    } else {
        let (_, mine) = part.log().end_offset_for_epoch(answer.leader_epoch);
        answer.end_offset.min(mine.max(0))
    };
    if agreed < end {
        tokio::task::block_in_place(|| part.log().truncate_to(agreed))?;
        tracing::warn!(topic = %part.topic, partition = part.index, from = end, to = agreed,
            "truncated a divergent suffix to agree with the leader");
        metrics::counter!("strata_replica_truncations_total").increment(1);
    }
    Ok(())
}

/// Fetches in a loop over one connection until something fails.
async fn follow(
    broker: &Arc<Broker>,
    part: &Arc<Partition>,
    client: &mut KafkaClient,
    epoch: i32,
) -> anyhow::Result<()> {
    let durability = if broker.config.replica_fsync {
        Durability::Fsync
    } else {
        Durability::PageCache
    };
    // A log start to take from the leader once the high watermark covers it (after a restart
    // inside a batch).
    let mut lift_start: Option<i64> = None;
    loop {
        let (fetch_offset, log_start) = {
            let log = part.log();
            (log.log_end_offset(), log.log_start_offset())
        };
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(broker.config.node_id))
            .with_max_wait_ms(MAX_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(MAX_BYTES)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(part.topic.clone())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(part.index)
                    .with_current_leader_epoch(epoch)
                    .with_fetch_offset(fetch_offset)
                    .with_log_start_offset(log_start)
                    .with_partition_max_bytes(MAX_BYTES)])]);
        let call = client.call(req, FETCH_VERSION);
        let resp = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .map_err(|_| anyhow::anyhow!("the leader did not answer in 10 s"))??;
        let data = resp
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == part.index)
            .ok_or_else(|| anyhow::anyhow!("the response lacks the partition"))?;
        if data.error_code == OFFSET_OUT_OF_RANGE && fetch_offset < data.log_start_offset {
            // Nothing this copy lacks is still in the leader's log (retention or DeleteRecords
            // removed it there; a new replica starts empty at 0): restart empty at the
            // leader's log start, as Kafka's `truncateFullyAndStartAt`.
            let start = data.log_start_offset;
            tokio::task::block_in_place(|| part.log().truncate_fully_and_start_at(start))?;
            tracing::warn!(topic = %part.topic, partition = part.index, from = fetch_offset,
                to = start, "behind the leader's log start: restarted the copy there");
            metrics::counter!("strata_replica_truncations_total").increment(1);
            continue;
        }
        if data.error_code == OFFSET_MOVED_TO_TIERED_STORAGE {
            crate::tier_restart::restart(broker, part, client, epoch, data.log_start_offset)
                .await?;
            continue;
        }
        if data.error_code != 0 {
            anyhow::bail!("leader answered error {}", data.error_code);
        }
        let records = data.records.unwrap_or_default();
        if !records.is_empty() {
            if let Some(base) = straddled_start(part, &records) {
                // The leader's log start falls inside its first batch (DeleteRecords is not
                // batch-aligned) and this copy is empty: start it at the batch's base, as
                // Kafka does, and lift its log start to the leader's once the batch is in.
                tokio::task::block_in_place(|| part.log().truncate_fully_and_start_at(base))?;
                lift_start = Some(data.log_start_offset);
            }
            let appended = tokio::task::block_in_place(|| {
                let appended = part
                    .log()
                    .append_as_follower(&records, now_ms(), durability)?;
                Ok::<_, anyhow::Error>(match appended.sync_end {
                    Some(end) if sync_inline(part, end)? => None,
                    other => other,
                })
            })?;
            if let Some(end) = appended {
                broker
                    .flusher
                    .sync(Arc::clone(part), end)
                    .await
                    .map_err(|_| anyhow::anyhow!("the flusher stopped"))?
                    .map_err(|e| anyhow::anyhow!("fsync: {e}"))?;
            }
        }
        {
            let mut log = part.log();
            part.set_replica_lag_records(data.high_watermark - log.log_end_offset());
            let hw = data.high_watermark.min(log.log_end_offset());
            let moved = hw > log.high_watermark();
            if moved {
                log.set_high_watermark(hw);
            }
            if let Some(start) = lift_start.filter(|&s| s <= log.high_watermark()) {
                tokio::task::block_in_place(|| log.delete_records_before(start))?;
                lift_start = None;
            }
            drop(log);
            if moved {
                part.wake_readers();
            }
        }
    }
}

/// Makes this copy durable up to `end` on the fetcher's own thread, which saves the round trip
/// through the flusher thread on the replication path. Returns false, doing nothing, when a
/// group-commit roll left a sealed segment's directory entry or indexes unsynced: those go
/// through the flusher, whose one plan at a time keeps the directory's fsync ahead of the data
/// that needs it.
fn sync_inline(part: &Partition, end: i64) -> anyhow::Result<bool> {
    let plan = {
        let mut log = part.log();
        if log.seal_pending() {
            return Ok(false);
        }
        if !log.needs_sync(end) {
            return Ok(true);
        }
        log.sync_plan()
    };
    let Some(plan) = plan else {
        return Ok(false);
    };
    let result = plan.execute();
    part.log()
        .complete_sync(&plan, result)
        .map_err(|e| anyhow::anyhow!("fsync: {e}"))?;
    metrics::counter!("strata_flush_fsyncs_total").increment(plan.file_count() as u64);
    Ok(true)
}

/// The base offset of the first batch in `records` when this copy is empty and that batch
/// starts before its end but reaches it (a leader log start inside a batch).
fn straddled_start(part: &Partition, records: &[u8]) -> Option<i64> {
    let first = strata_records::BatchHeader::parse(records).ok()?;
    let log = part.log();
    let end = log.log_end_offset();
    (end == log.log_start_offset() && first.base_offset < end && first.last_offset() >= end)
        .then_some(first.base_offset)
}
