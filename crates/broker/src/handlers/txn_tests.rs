//! The partition side of transactions through the handlers, against a real broker state in a
//! temp dir: read_committed Fetch stops at the last stable offset and reports aborted
//! transactions, ListOffsets answers the LSO, WriteTxnMarkers writes markers with
//! per-partition errors, DescribeProducers shows the transaction state.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::*;

use crate::broker::Broker;

const P1: i64 = 1000;

use super::test_support::{call, name, open_broker as broker};

/// A transactional batch of P1 (epoch 0, sequence `seq`) with one record.
fn txn_batch(seq: i32) -> Vec<u8> {
    let mut out = strata_records::testing::build_batch(1000, &[(None, Some(b"t"), 0)], P1, 0, seq);
    let attrs = i16::from_be_bytes([out[21], out[22]]) | 0x10;
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = strata_records::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn plain_batch() -> Vec<u8> {
    strata_records::testing::build_batch(1000, &[(None, Some(b"p"), 0)], -1, -1, -1)
}

/// Fetch v12 of `t`-0 from offset 0: (error, high watermark, LSO, aborted, batch base offsets).
async fn fetch(
    b: &Arc<Broker>,
    isolation: i8,
) -> (i16, i64, i64, Option<Vec<(i64, i64)>>, Vec<i64>) {
    let req = FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name("t"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let resp: FetchResponse = call(b, ApiKey::Fetch, 12, RequestKind::Fetch(req)).await;
    let p = &resp.responses[0].partitions[0];
    let records = p.records.clone().unwrap_or_default();
    let offsets = strata_records::batches(&records)
        .map(|h| h.unwrap().1.base_offset)
        .collect();
    let aborted = p.aborted_transactions.as_ref().map(|a| {
        a.iter()
            .map(|t| (t.producer_id.0, t.first_offset))
            .collect()
    });
    (
        p.error_code,
        p.high_watermark,
        p.last_stable_offset,
        aborted,
        offsets,
    )
}

async fn latest(b: &Arc<Broker>, isolation: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_isolation_level(isolation)
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
            ])]);
    let resp: ListOffsetsResponse =
        call(b, ApiKey::ListOffsets, 5, RequestKind::ListOffsets(req)).await;
    resp.topics[0].partitions[0].offset
}

async fn end_txn(b: &Arc<Broker>, commit: bool, partitions: Vec<i32>) -> Vec<i16> {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![
        write_txn_markers_request::WritableTxnMarker::default()
            .with_producer_id(ProducerId(P1))
            .with_producer_epoch(0)
            .with_transaction_result(commit)
            .with_coordinator_epoch(3)
            .with_topics(vec![
                write_txn_markers_request::WritableTxnMarkerTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(partitions),
            ]),
    ]);
    let resp: WriteTxnMarkersResponse = call(
        b,
        ApiKey::WriteTxnMarkers,
        1,
        RequestKind::WriteTxnMarkers(req),
    )
    .await;
    assert_eq!(resp.markers[0].producer_id.0, P1);
    resp.markers[0].topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_fetch_stops_at_the_lso_and_reports_aborted_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    let part = b.partition("t", 0).unwrap();
    // The broker's clock: markers are stamped with it (an older append time would age the
    // segment past segment.ms and roll it under the marker).
    let now = crate::broker::now_ms();
    part.log().append(&mut plain_batch(), 0, now).unwrap(); // 0
    part.log().append(&mut txn_batch(0), 0, now).unwrap(); // 1
    part.log().append(&mut plain_batch(), 0, now).unwrap(); // 2
    part.log().append(&mut txn_batch(1), 0, now).unwrap(); // 3

    // The open transaction hides offsets 1.. from read_committed, not from read_uncommitted.
    assert_eq!(fetch(&b, 1).await, (0, 4, 1, Some(vec![]), vec![0]));
    assert_eq!(fetch(&b, 0).await, (0, 4, 1, None, vec![0, 1, 2, 3]));
    assert_eq!((latest(&b, 0).await, latest(&b, 1).await), (4, 1));

    // ABORT (an unknown partition gets its own error); the marker lands at 4.
    assert_eq!(end_txn(&b, false, vec![0, 7]).await, vec![0, 3]);
    assert_eq!(
        fetch(&b, 1).await,
        (0, 5, 5, Some(vec![(P1, 1)]), vec![0, 1, 2, 3, 4])
    );
    assert_eq!(latest(&b, 1).await, 5);

    // A stale producer epoch is refused per partition.
    part.log().append(&mut txn_batch(2), 0, now).unwrap(); // 5
    let stale = WriteTxnMarkersRequest::default().with_markers(vec![
        write_txn_markers_request::WritableTxnMarker::default()
            .with_producer_id(ProducerId(P1))
            .with_producer_epoch(-1)
            .with_transaction_result(true)
            .with_topics(vec![
                write_txn_markers_request::WritableTxnMarkerTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0]),
            ]),
    ]);
    let resp: WriteTxnMarkersResponse = call(
        &b,
        ApiKey::WriteTxnMarkers,
        1,
        RequestKind::WriteTxnMarkers(stale),
    )
    .await;
    assert_eq!(resp.markers[0].topics[0].partitions[0].error_code, 47);

    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(name("t"))
            .with_partition_indexes(vec![0, 9]),
    ]);
    let resp: DescribeProducersResponse = call(
        &b,
        ApiKey::DescribeProducers,
        0,
        RequestKind::DescribeProducers(req),
    )
    .await;
    let parts = &resp.topics[0].partitions;
    assert_eq!((parts[0].error_code, parts[1].error_code), (0, 3));
    let p = &parts[0].active_producers[0];
    assert_eq!(p.producer_id.0, P1);
    assert_eq!((p.producer_epoch, p.last_sequence), (0, 2));
    assert_eq!((p.coordinator_epoch, p.current_txn_start_offset), (3, 5));

    // COMMIT: the LSO reaches the high watermark; the earlier abort is still reported.
    assert_eq!(end_txn(&b, true, vec![0]).await, vec![0]);
    let (error, hw, lso, aborted, offsets) = fetch(&b, 1).await;
    assert_eq!((error, hw, lso), (0, 7, 7));
    assert_eq!(aborted, Some(vec![(P1, 1)]));
    assert_eq!(offsets, vec![0, 1, 2, 3, 4, 5, 6]);
}
