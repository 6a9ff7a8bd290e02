//! Reading one partition through its leader, as a read_committed consumer does: Fetch (v12,
//! `isolation_level=1`) at an offset, answered from local segments or, for offsets that have
//! left local disk, from the bucket by the broker itself.
//!
//! Leadership errors (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION,
//! FENCED/UNKNOWN_LEADER_EPOCH, KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT) and connection failures
//! send the reader back to Metadata for the leader, with backoff, for at most [`RETRY_FOR`]
//! without an answer; other errors end the export with Kafka's error name.
//!
//! Invariant: a [`Fetched::Data`] holds only whole batches (a trailing partial batch, which
//! Kafka allows in a Fetch response, is cut off and read again by the next fetch).

use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_admin::cluster_client::{error_name, ClusterClient};
use strata_archive::AbortedTxn;
use strata_records::BatchHeader;

/// Fetch version: topic names (v13 moved to topic ids), read_committed, log start offset.
const FETCH_VERSION: i16 = 12;
/// Largest response asked for (all of it from this one partition).
const MAX_BYTES: i32 = 16 << 20;
/// How long the broker may wait for data.
const MAX_WAIT_MS: i32 = 500;
/// How long leadership errors and connection failures are retried.
pub const RETRY_FOR: Duration = Duration::from_secs(60);

const OFFSET_OUT_OF_RANGE: i16 = 1;
const RETRIABLE: [i16; 8] = [3, 5, 6, 7, 13, 56, 74, 75];

/// One Fetch answer.
#[derive(Debug)]
pub enum Fetched {
    /// Records at the offset asked for (possibly none yet).
    Data {
        /// Whole batches; the first may begin before the offset asked for.
        records: Bytes,
        /// Aborted transactions overlapping them.
        aborted: Vec<AbortedTxn>,
        /// The partition's last stable offset.
        last_stable_offset: i64,
    },
    /// The offset is outside the log; it now starts at `log_start`.
    OutOfRange {
        /// The partition's log start.
        log_start: i64,
    },
}

/// Reads one partition of one topic.
pub struct PartitionReader<'a> {
    client: &'a mut ClusterClient,
    topic: String,
    partition: i32,
    leader: Option<i32>,
}

impl<'a> PartitionReader<'a> {
    /// A reader of `topic`'s `partition` through `client`'s cluster.
    pub fn new(client: &'a mut ClusterClient, topic: &str, partition: i32) -> PartitionReader<'a> {
        PartitionReader {
            client,
            topic: topic.to_string(),
            partition,
            leader: None,
        }
    }

    async fn find_leader(&mut self) -> anyhow::Result<Option<i32>> {
        let md = self.client.metadata(Some(&[self.topic.as_str()])).await?;
        Ok(md
            .topics
            .iter()
            .filter(|t| t.name.as_ref().map(|n| n.as_str()) == Some(self.topic.as_str()))
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == self.partition)
            .map(|p| p.leader_id.0)
            .filter(|&l| l >= 0))
    }

    /// Fetches at `offset`, retrying leadership errors (see the module docs).
    pub async fn fetch(&mut self, offset: i64) -> anyhow::Result<Fetched> {
        let deadline = Instant::now() + RETRY_FOR;
        let mut backoff = Duration::from_millis(100);
        loop {
            let why = match self.try_fetch(offset).await {
                Ok(Ok(fetched)) => return Ok(fetched),
                Ok(Err(code)) => format!("the leader answered {}", error_name(code)),
                Err(e) => format!("{e:#}"),
            };
            self.leader = None;
            if Instant::now() >= deadline {
                bail!(
                    "partition {} of {} at offset {offset}: {why} (for {RETRY_FOR:?})",
                    self.partition,
                    self.topic
                );
            }
            tracing::debug!(partition = self.partition, offset, "fetch: {why}; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// One Fetch: `Ok(Err(code))` for a retriable error code.
    async fn try_fetch(&mut self, offset: i64) -> anyhow::Result<Result<Fetched, i16>> {
        let leader = match self.leader {
            Some(l) => l,
            None => match self.find_leader().await? {
                Some(l) => *self.leader.insert(l),
                None => return Ok(Err(5)),
            },
        };
        let req = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(MAX_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(MAX_BYTES)
            .with_isolation_level(1)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(self.topic.clone())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(self.partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(MAX_BYTES)])]);
        let resp = self.client.call_node(leader, req, FETCH_VERSION).await?;
        if resp.error_code != 0 {
            return self.classify(resp.error_code, -1);
        }
        let Some(data) = resp
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == self.partition)
        else {
            bail!("the Fetch response lacks the partition");
        };
        if data.error_code != 0 {
            return self.classify(data.error_code, data.log_start_offset);
        }
        let records = data.records.unwrap_or_default();
        let whole = whole_batches(&records);
        let aborted = data
            .aborted_transactions
            .unwrap_or_default()
            .into_iter()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id.0,
                first_offset: a.first_offset,
            })
            .collect();
        Ok(Ok(Fetched::Data {
            records: records.slice(..whole),
            aborted,
            last_stable_offset: data.last_stable_offset,
        }))
    }

    fn classify(&self, code: i16, log_start: i64) -> anyhow::Result<Result<Fetched, i16>> {
        if code == OFFSET_OUT_OF_RANGE && log_start >= 0 {
            return Ok(Ok(Fetched::OutOfRange { log_start }));
        }
        if RETRIABLE.contains(&code) {
            return Ok(Err(code));
        }
        bail!(
            "partition {} of {}: the leader answered {}",
            self.partition,
            self.topic,
            error_name(code)
        )
    }
}

/// The length of the whole batches at the start of `records` (all of it unless the last batch
/// is cut short; a malformed first batch is left for the decoder to report).
fn whole_batches(records: &[u8]) -> usize {
    let mut end = 0;
    while end < records.len() {
        match BatchHeader::parse(&records[end..]) {
            Ok(h) if h.total_len() <= records.len() - end => end += h.total_len(),
            Ok(_) => break,
            Err(_) if end == 0 => return records.len(),
            Err(_) => break,
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::whole_batches;
    use strata_records::{build_batch, BatchSpec, Compression, NewRecord};

    fn batch(n: usize) -> Vec<u8> {
        let values: Vec<Vec<u8>> = (0..n).map(|i| format!("v{i}").into_bytes()).collect();
        let records: Vec<NewRecord> = values
            .iter()
            .map(|v| NewRecord {
                key: None,
                value: Some(v),
                headers: &[],
                timestamp_delta: 0,
            })
            .collect();
        let spec = BatchSpec {
            compression: Compression::None,
            base_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        };
        build_batch(&spec, &records).unwrap()
    }

    #[test]
    fn a_cut_last_batch_is_left_out() {
        let (a, b) = (batch(3), batch(5));
        let mut both = a.clone();
        both.extend_from_slice(&b);
        assert_eq!(whole_batches(&both), both.len());
        assert_eq!(whole_batches(&both[..both.len() - 1]), a.len());
        assert_eq!(whole_batches(&both[..a.len() + 10]), a.len());
        assert_eq!(whole_batches(&[]), 0);
        // A malformed first batch: everything goes to the decoder, which reports it.
        assert_eq!(whole_batches(&[1, 2, 3]), 3);
    }
}
