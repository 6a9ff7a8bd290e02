//! Offline partitions answer KAFKA_STORAGE_ERROR (56) in Produce, Fetch, ListOffsets and
//! Metadata, while other partitions serve: a partition whose `partition.metadata` cannot be
//! read does not stop `Broker::open`.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::*;

use super::test_support::{call, name, open_broker as open};

fn produce(topic: &str) -> RequestKind {
    let batch = strata_records::testing::build_batch(1000, &[(None, Some(b"v"), 0)], -1, -1, -1);
    RequestKind::Produce(ProduceRequest::default().with_acks(-1).with_topic_data(
        vec![produce_request::TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(batch))),
                ])],
    ))
}

fn fetch(topic: &str) -> RequestKind {
    RequestKind::Fetch(FetchRequest::default().with_max_bytes(1 << 20).with_topics(
        vec![fetch_request::FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)])],
    ))
}

fn list_offsets(topic: &str) -> RequestKind {
    RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1)
            ]),
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_fails_to_open_answers_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path());
        b.create_topic("bad", 1, 1, BTreeMap::new(), false).unwrap();
        b.create_topic("good", 1, 1, BTreeMap::new(), false)
            .unwrap();
        b.close_logs().unwrap();
    }
    std::fs::write(dir.path().join("bad-0/partition.metadata"), "version: 9\n").unwrap();
    let b = open(dir.path());
    assert!(b.is_partition_offline("bad", 0));
    assert!(!b.is_partition_offline("good", 0));

    for (topic, expected) in [("bad", 56), ("good", 0)] {
        let r: ProduceResponse = call(&b, ApiKey::Produce, 9, produce(topic)).await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, expected,
            "{topic}"
        );
        let r: FetchResponse = call(&b, ApiKey::Fetch, 11, fetch(topic)).await;
        assert_eq!(r.responses[0].partitions[0].error_code, expected, "{topic}");
        let r: ListOffsetsResponse = call(&b, ApiKey::ListOffsets, 7, list_offsets(topic)).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.offset),
            (expected, if expected == 0 { 1 } else { -1 })
        );
    }
    let r: MetadataResponse = call(
        &b,
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    )
    .await;
    // Every topic: the two user topics (`__consumer_offsets` is created on first use only).
    assert!(r.topics.iter().all(|t| !t.is_internal));
    let mut codes: Vec<(String, i16)> = r
        .topics
        .iter()
        .filter(|t| !t.is_internal)
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.partitions[0].error_code,
            )
        })
        .collect();
    codes.sort();
    assert_eq!(codes, [("bad".to_string(), 56), ("good".to_string(), 0)]);
    // The directory is kept as it was, and deleting the topic clears the placeholder.
    assert!(dir.path().join("bad-0/00000000000000000000.log").exists());
    b.delete_topic("bad").unwrap();
    assert!(!b.is_partition_offline("bad", 0));
}
