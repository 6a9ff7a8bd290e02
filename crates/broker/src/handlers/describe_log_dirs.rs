//! DescribeLogDirs: the partition logs this broker hosts, as `kafka-log-dirs.sh --describe` and
//! AdminClient `describeLogDirs` read them, plus the log cleaner's view of each partition of a
//! compacted topic (Strata's tagged field, [`strata_wire::CleanerState`]).
//!
//! - One log directory (`log.dirs`), listed even when it holds nothing. Its total and usable
//!   bytes (v4) are -1, Kafka's "unknown".
//! - Request `topics` null: every hosted partition; otherwise the listed partitions this broker
//!   hosts (others are left out, as Kafka does).
//! - Each hosted partition, leader or follower: `partition_size` is the bytes of its local
//!   segments; `offset_lag` is `max(high watermark - log end, 0)` as Kafka computes it for a
//!   current replica (0 on a leader); `is_future_key` is false (no intra-broker moves).
//! - A partition whose log is offline (a failed disk read) is left out; Kafka reports a whole
//!   failed directory with KAFKA_STORAGE_ERROR, but Strata fails partitions one at a time.
//! - On v2+ (flexible), a partition of a topic whose `cleanup.policy` contains `compact`
//!   carries [`strata_wire::CLEANER_STATE_TAG`]: `PartitionLog::cleanable_state` under the
//!   topic's cleaner settings now, and whether the cleaner would take it now (what
//!   `strata topic describe` shows). It reads the cleaner checkpoint file, so the whole answer
//!   is built on a blocking thread.
//! - On v2+, a broker with tiered storage tags its log-directory result with
//!   [`strata_wire::REMOTE_REQUESTS_TAG`]: its object-store requests by kind and payload bytes
//!   since it started (`RemoteStore::accounting`), what `strata tier status
//!   --bootstrap-server` reports as requests per GiB uploaded and read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use strata_wire::{CleanerState, RemoteRequests, CLEANER_STATE_TAG, REMOTE_REQUESTS_TAG};

use super::{blocking, sb};
use crate::broker::{now_ms, Broker};
use crate::log_cleaner::topic_cleaner_config;
use crate::partition::Partition;

/// Kafka's `DescribeLogDirsResponse.UNKNOWN_VOLUME_BYTES`.
const UNKNOWN_VOLUME_BYTES: i64 = -1;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    // None: every partition; Some: the (topic, partition) pairs asked for.
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
            .collect()
    });
    let mut hosted: Vec<Arc<Partition>> = broker
        .all_partitions()
        .into_iter()
        .filter(|p| !p.is_offline())
        .filter(|p| {
            wanted
                .as_ref()
                .is_none_or(|w| w.contains(&(p.topic.clone(), p.index)))
        })
        .collect();
    hosted.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
    let now = now_ms();
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    blocking(|| {
        for part in &hosted {
            let entry = describe_partition(broker, part, version, now);
            topics.entry(part.topic.clone()).or_default().push(entry);
        }
    });
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(sb(&name)))
                .with_partitions(partitions)
        })
        .collect();
    let dir = broker.config.data_dir.display().to_string();
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(sb(&dir))
        .with_topics(topics)
        .with_total_bytes(UNKNOWN_VOLUME_BYTES)
        .with_usable_bytes(UNKNOWN_VOLUME_BYTES);
    if let Some(tier) = broker.tier().filter(|_| version >= 2) {
        let field = remote_requests(&tier.store().accounting());
        result = result.with_unknown_tagged_field(REMOTE_REQUESTS_TAG, field.encode());
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// The tagged field from a store's accounting.
fn remote_requests(s: &strata_tier::store::AccountingSnapshot) -> RemoteRequests {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    RemoteRequests {
        http: s.source == strata_tier::store::CountSource::Http,
        bytes_uploaded: clamp(s.bytes_uploaded),
        bytes_read: clamp(s.bytes_read),
        requests: s
            .requests
            .iter()
            .map(|(kind, n)| (kind.label().to_string(), clamp(*n)))
            .collect(),
    }
}

fn describe_partition(
    broker: &Broker,
    part: &Partition,
    version: i16,
    now: i64,
) -> DescribeLogDirsPartition {
    // The topic's cleaner settings, if it is compacted (and the version can carry them).
    let cleaner = if version >= 2 {
        broker
            .meta()
            .topic(&part.topic)
            .and_then(|t| topic_cleaner_config(&broker.config, &t.configs, 0))
    } else {
        None
    };
    let log = part.log();
    let mut entry = DescribeLogDirsPartition::default()
        .with_partition_index(part.index)
        .with_partition_size(log.size_bytes() as i64)
        .with_offset_lag((log.high_watermark() - log.log_end_offset()).max(0));
    let tier = broker
        .tier()
        .filter(|_| part.settings().remote_storage_enable);
    if let (Some(config), Some(tier)) = (cleaner, tier) {
        // A tiered compacted partition is compacted in the bucket, not locally: its state is
        // the remote one (crates/tier/src/remote_compaction.rs).
        match tier.remote_cleanable_state(&part.topic_id, part.index, &config, now) {
            Ok(state) => {
                let field = cleaner_state(
                    (state.first_dirty_offset, state.cleanable_end),
                    (state.clean_bytes, state.dirty_bytes, state.dirty_ratio),
                    state.needs_cleaning,
                    state.oldest_dirty_timestamp,
                );
                entry = entry.with_unknown_tagged_field(CLEANER_STATE_TAG, field.encode());
            }
            Err(e) => {
                tracing::warn!(topic = %part.topic, partition = part.index, error = %e,
                    "cannot read the partition's remote cleanable state");
            }
        }
    } else if let Some(config) = cleaner {
        match log.cleanable_state(&config, now) {
            Ok(state) => {
                let field = cleaner_state(
                    (state.first_dirty_offset, state.cleanable_end),
                    (state.clean_bytes, state.dirty_bytes, state.dirty_ratio),
                    state.needs_cleaning(&config, now),
                    state.oldest_dirty_timestamp,
                );
                entry = entry.with_unknown_tagged_field(CLEANER_STATE_TAG, field.encode());
            }
            Err(e) => {
                tracing::warn!(topic = %part.topic, partition = part.index, error = %e,
                    "cannot read the partition's cleanable state");
            }
        }
    }
    entry
}

/// The tagged field from a cleanable state: `(first dirty, cleanable end)`, `(clean bytes,
/// dirty bytes, dirty ratio)`, whether a clean is due, and the oldest dirty timestamp.
fn cleaner_state(
    (first_dirty_offset, cleanable_end_offset): (i64, i64),
    (clean, dirty, dirty_ratio): (u64, u64, f64),
    needs_cleaning: bool,
    oldest_dirty: Option<i64>,
) -> CleanerState {
    CleanerState {
        first_dirty_offset,
        cleanable_end_offset,
        clean_bytes: clean as i64,
        dirty_bytes: dirty as i64,
        dirty_ratio,
        needs_cleaning,
        oldest_dirty_timestamp: oldest_dirty.unwrap_or(-1),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    use kafka_protocol::messages::{ApiKey, RequestKind};
    use strata_records::testing::build_batch;

    use super::*;
    use crate::handlers::test_support::{call, name, open_broker};

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Appends one batch of one record (key `k`, a 400 kB value) at time `ts`: two such
    /// batches fit in a segment of `segment.bytes=1048576`, a third rolls it.
    fn append(b: &Broker, topic: &str, k: &str, ts: i64) -> usize {
        let value = vec![7u8; 400_000];
        let mut batch = build_batch(ts, &[(Some(k.as_bytes()), Some(&value), 0)], -1, -1, -1);
        let part = b.partition(topic, 0).unwrap();
        part.log().append(&mut batch, 0, ts).unwrap();
        part.refresh_high_watermark();
        batch.len()
    }

    async fn describe(
        b: &Arc<Broker>,
        version: i16,
        topics: Option<Vec<DescribableLogDirTopic>>,
    ) -> DescribeLogDirsResponse {
        let req = DescribeLogDirsRequest::default().with_topics(topics);
        call(
            b,
            ApiKey::DescribeLogDirs,
            version,
            RequestKind::DescribeLogDirs(req),
        )
        .await
    }

    /// `(partition index, size, offset lag)` of a listed partition.
    type Listed = (i32, i64, i64);

    fn cleaner_state(p: &DescribeLogDirsPartition) -> Option<CleanerState> {
        p.unknown_tagged_fields
            .get(&CLEANER_STATE_TAG)
            .map(|v| CleanerState::decode(v).expect("a version-0 value"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lists_hosted_logs_with_the_cleanable_state_of_compacted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let b = open_broker(dir.path());
        let compact = configs(&[("cleanup.policy", "compact"), ("segment.bytes", "1048576")]);
        b.create_topic("c", 1, 1, compact, false).unwrap();
        b.create_topic("d", 2, 1, configs(&[("segment.bytes", "1048576")]), false)
            .unwrap();
        let now = now_ms();
        let mut size = 0;
        for i in 0..5 {
            size = append(&b, "c", &format!("k{i}"), now - 1000);
        }
        append(&b, "d", "k", now);
        let log_size = |t: &str| b.partition(t, 0).unwrap().log().size_bytes() as i64;
        assert_eq!(log_size("c"), 5 * size as i64);

        let r = describe(&b, 4, None).await;
        assert_eq!((r.error_code, r.results.len()), (0, 1));
        let result = &r.results[0];
        assert_eq!(result.log_dir.as_str(), dir.path().display().to_string());
        assert_eq!((result.total_bytes, result.usable_bytes), (-1, -1));
        // The broker's object-store accounting, when it tiers.
        let requests = result
            .unknown_tagged_fields
            .get(&REMOTE_REQUESTS_TAG)
            .map(|v| RemoteRequests::decode(v).expect("a version-0 value"));
        match b.tier() {
            Some(tier) => {
                let requests = requests.expect("a tiering broker reports its requests");
                let kinds = tier.store().accounting().requests.len();
                assert_eq!(requests.requests.len(), kinds);
            }
            None => assert_eq!(requests, None),
        }
        let listed: Vec<(String, Vec<Listed>)> = result
            .topics
            .iter()
            .map(|t| {
                let parts = t.partitions.iter();
                let parts = parts.map(|p| (p.partition_index, p.partition_size, p.offset_lag));
                (t.name.0.to_string(), parts.collect())
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("c".to_string(), vec![(0, log_size("c"), 0)]),
                ("d".to_string(), vec![(0, log_size("d"), 0), (1, 0, 0)]),
            ]
        );
        // Segments [0,1] [2,3] sealed, [4] active: nothing cleaned yet, all of it dirty.
        let c = &result.topics[0].partitions[0];
        assert_eq!(
            cleaner_state(c),
            Some(CleanerState {
                first_dirty_offset: 0,
                cleanable_end_offset: 4,
                clean_bytes: 0,
                dirty_bytes: 4 * size as i64,
                dirty_ratio: 1.0,
                needs_cleaning: true,
                oldest_dirty_timestamp: now - 1000,
            })
        );
        assert!(result.topics[1]
            .partitions
            .iter()
            .all(|p| p.unknown_tagged_fields.is_empty()));

        // A cleaner checkpoint at 2: the first segment is clean, the second one dirty.
        let part = b.partition("c", 0).unwrap();
        let checkpoint = part.log().dir().join(strata_log::CLEANER_CHECKPOINT);
        std::fs::write(&checkpoint, "0\n2\n").unwrap();
        // min.cleanable.dirty.ratio above one half: the cleaner would wait.
        b.replace_topic_configs(
            "c",
            configs(&[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "1048576"),
                ("min.cleanable.dirty.ratio", "0.6"),
            ]),
            false,
        )
        .unwrap();
        let only_c = vec![DescribableLogDirTopic::default()
            .with_topic(name("c"))
            .with_partitions(vec![0, 7])];
        let r = describe(&b, 2, Some(only_c.clone())).await;
        let topics = &r.results[0].topics;
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partitions.len(), 1, "partition 7 is not hosted");
        assert_eq!(
            cleaner_state(&topics[0].partitions[0]),
            Some(CleanerState {
                first_dirty_offset: 2,
                cleanable_end_offset: 4,
                clean_bytes: 2 * size as i64,
                dirty_bytes: 2 * size as i64,
                dirty_ratio: 0.5,
                needs_cleaning: false,
                oldest_dirty_timestamp: now - 1000,
            })
        );
        // v1 is not flexible: no tagged fields, the rest as on v2+.
        let r = describe(&b, 1, Some(only_c)).await;
        assert!(r.results[0].unknown_tagged_fields.is_empty());
        let p = &r.results[0].topics[0].partitions[0];
        assert_eq!((p.partition_size, cleaner_state(p)), (log_size("c"), None));
    }
}
