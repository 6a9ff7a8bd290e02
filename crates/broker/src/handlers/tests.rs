//! Handler tests against a real broker state in a temp dir: every advertised version of every
//! API produces a response that `kafka-protocol` decodes, and Produce/Fetch/ListOffsets return
//! exact offsets and bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, HeaderVersion, StrBytes};

use super::dispatch;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::reply::Reply;
use strata_wire::ResponseChunks;

fn broker(dir: &std::path::Path) -> Arc<Broker> {
    let mut raw = BTreeMap::new();
    raw.insert("log.dirs".to_string(), dir.display().to_string());
    raw.insert("listeners".to_string(), "127.0.0.1:0".to_string());
    Broker::open(BrokerConfig::from_map(raw).unwrap()).unwrap()
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn header(key: ApiKey, version: i16) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(11)
}

/// Flattens a reply into one frame body (after the size prefix), reading file ranges.
fn frame(reply: Reply) -> Bytes {
    let mut all = Vec::new();
    match reply {
        Reply::Frame(b) => all.extend_from_slice(&b),
        Reply::Chunks(chunks) => {
            for c in chunks {
                match c {
                    ResponseChunks::Bytes(b) => all.extend_from_slice(&b),
                    ResponseChunks::File(slice, len) => {
                        let data = slice.read_to_vec().unwrap();
                        assert_eq!(data.len(), len);
                        all.extend_from_slice(&data);
                    }
                }
            }
        }
        Reply::None => panic!("no reply"),
        Reply::Close => panic!("connection closed"),
        Reply::Deferred(_) => panic!("unresolved deferred reply"),
    }
    let mut b = Bytes::from(all);
    assert_eq!(b.get_i32() as usize, b.len());
    b
}

fn decode<R: Decodable + HeaderVersion>(reply: Reply, version: i16) -> R {
    let mut b = frame(reply);
    let h = ResponseHeader::decode(&mut b, R::header_version(version)).unwrap();
    assert_eq!(h.correlation_id, 11);
    let r = R::decode(&mut b, version).unwrap();
    assert!(!b.has_remaining(), "trailing bytes");
    r
}

async fn call(b: &Arc<Broker>, key: ApiKey, version: i16, body: RequestKind) -> Reply {
    dispatch(b, key, header(key, version), body)
        .await
        .resolve()
        .await
}

fn default_request(key: ApiKey, topic: &str) -> RequestKind {
    match key {
        ApiKey::Produce => {
            RequestKind::Produce(ProduceRequest::default().with_acks(1).with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(strata_records::testing::build_batch(
                        1000,
                        &[(Some(b"k"), Some(b"v"), 0)],
                        -1,
                        -1,
                        -1,
                    ))))]),
        ]))
        }
        ApiKey::Fetch => {
            RequestKind::Fetch(FetchRequest::default().with_max_bytes(1 << 20).with_topics(
                vec![fetch_request::FetchTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(vec![fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20)])],
            ))
        }
        ApiKey::ListOffsets => {
            RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default()
                    .with_timestamp(-1)]),
        ]))
        }
        ApiKey::Metadata => RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str("g"))
                .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
        ),
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_validate_only(true)
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(name("fresh"))
                    .with_num_partitions(2)
                    .with_replication_factor(1)]),
        ),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default().with_topic_names(vec![name("nope")]),
        ),
        ApiKey::DeleteRecords => {
            RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default().with_offset(0),
                    ]),
            ]))
        }
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default().with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(name(topic))
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default(),
                    ]),
            ]),
        ),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(
            DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_string(topic.to_string())),
                ]),
        ),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(
            AlterConfigsRequest::default()
                .with_validate_only(true)
                .with_resources(vec![alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_string(topic.to_string()))]),
        ),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(
            CreatePartitionsRequest::default()
                .with_validate_only(true)
                .with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(name(topic))
                        .with_count(3),
                ]),
        ),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default()
                .with_validate_only(true)
                .with_resources(vec![
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_string(topic.to_string())),
                ]),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(DescribeQuorumRequest::default()),
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(ElectLeadersRequest::default()),
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default().with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default(),
                    ]),
            ]),
        ),
        ApiKey::ListPartitionReassignments => {
            RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default())
        }
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_committed_offset(1)
                                .with_committed_metadata(Some(StrBytes::from_static_str("m"))),
                        ]),
                ]),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(name(topic))
                        .with_partition_indexes(vec![0]),
                ]))
                .with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(StrBytes::from_static_str("g")))
                        .with_topics(None),
                ]),
        ),
        // A JoinGroup with a session timeout below the minimum is answered at once (no parking).
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_session_timeout_ms(1)
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(StrBytes::from_static_str("range"))]),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default().with_group_id(GroupId(StrBytes::from_static_str("g"))),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_member_id(StrBytes::from_static_str("m"))
                .with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(StrBytes::from_static_str("m"))]),
        ),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default().with_group_id(GroupId(StrBytes::from_static_str("g"))),
        ),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str("g"))]),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(StrBytes::from_static_str("nope"))]),
        ),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default(),
                        ]),
                ]),
        ),
        ApiKey::WriteTxnMarkers => {
            RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![
                write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(1))
                    .with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(name(topic))
                            .with_partition_indexes(vec![0]),
                    ]),
            ]))
        }
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(name(topic))
                    .with_partition_indexes(vec![0]),
            ]))
        }
        ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_static_str("t")))
                .with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![0]),
                ])
                .with_transactions(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_static_str("t")))
                        .with_topics(vec![
                            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                                .with_name(name(topic))
                                .with_partitions(vec![0]),
                        ]),
                ]),
        ),
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("t")))
                .with_group_id(GroupId(StrBytes::from_static_str("g"))),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("t"))),
        ),
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("t")))
                .with_group_id(GroupId(StrBytes::from_static_str("g"))),
        ),
        ApiKey::ListTransactions => {
            RequestKind::ListTransactions(ListTransactionsRequest::default())
        }
        ApiKey::DescribeLogDirs => {
            RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(None))
        }
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("t"))]),
        ),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(
            kafka_protocol::messages::SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_static_str("PLAIN")),
        ),
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            kafka_protocol::messages::SaslAuthenticateRequest::default(),
        ),
        ApiKey::DescribeUserScramCredentials => RequestKind::DescribeUserScramCredentials(
            kafka_protocol::messages::DescribeUserScramCredentialsRequest::default()
                .with_users(None),
        ),
        ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(
            kafka_protocol::messages::AlterUserScramCredentialsRequest::default(),
        ),
        ApiKey::CreateAcls => RequestKind::CreateAcls(
            kafka_protocol::messages::CreateAclsRequest::default().with_creations(vec![
                kafka_protocol::messages::create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_string(topic.to_string()))
                    .with_resource_pattern_type(3)
                    .with_principal(StrBytes::from_static_str("User:alice"))
                    .with_host(StrBytes::from_static_str("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ]),
        ),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            kafka_protocol::messages::DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(
            kafka_protocol::messages::DeleteAclsRequest::default().with_filters(vec![
                kafka_protocol::messages::delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ]),
        ),
        other => panic!("no default request for {other:?}"),
    }
}

/// Starts `__consumer_offsets` on first use (as a FindCoordinator does) and waits until this
/// broker coordinates its groups.
async fn offsets_topic_ready(b: &Arc<Broker>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (0..b.group.partition_count()).any(|p| b.group.leads(p).is_none()) {
        crate::internal_topics::request(b, crate::internal_topics::InternalTopic::Offsets);
        assert!(
            std::time::Instant::now() < deadline,
            "__consumer_offsets never created"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    b.group.wait_loaded().await;
    assert!(b.group.is_ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_version_answers_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    offsets_topic_ready(&b).await;
    for (key, min, max) in strata_wire::SUPPORTED_APIS {
        let lowest = if *key == ApiKey::Produce { 3 } else { *min };
        for version in lowest..=*max {
            let reply = call(&b, *key, version, default_request(*key, "t")).await;
            let mut body = frame(reply);
            let hv = key.response_header_version(version);
            ResponseHeader::decode(&mut body, hv).unwrap();
            ResponseKind::decode(*key, &mut body, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
            assert!(!body.has_remaining(), "{key:?} v{version}: trailing bytes");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_fetch_and_list_offsets_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    for expected_base in [0i64, 1, 2] {
        let resp: ProduceResponse = decode(
            call(
                &b,
                ApiKey::Produce,
                9,
                default_request(ApiKey::Produce, "t"),
            )
            .await,
            9,
        );
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset, p.log_start_offset),
            (0, expected_base, 0)
        );
    }
    let resp: FetchResponse = decode(
        call(&b, ApiKey::Fetch, 11, default_request(ApiKey::Fetch, "t")).await,
        11,
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!(
        (
            p.error_code,
            p.high_watermark,
            p.last_stable_offset,
            p.log_start_offset
        ),
        (0, 3, 3, 0)
    );
    let records = p.records.clone().unwrap();
    let one =
        strata_records::testing::build_batch(1000, &[(Some(b"k"), Some(b"v"), 0)], -1, -1, -1);
    assert_eq!(records.len(), 3 * one.len());
    for (i, h) in strata_records::batches(&records).enumerate() {
        let (_, h) = h.unwrap();
        assert_eq!(h.base_offset, i as i64);
        assert_eq!(h.partition_leader_epoch, 0);
    }
    // The payload is the client's batch byte-for-byte after the base offset field.
    assert_eq!(&records[8..one.len()], &one[8..]);
    let resp: ListOffsetsResponse = decode(
        call(
            &b,
            ApiKey::ListOffsets,
            7,
            default_request(ApiKey::ListOffsets, "t"),
        )
        .await,
        7,
    );
    assert_eq!(resp.topics[0].partitions[0].offset, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_refusals_carry_kafka_codes() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    let mut batch =
        strata_records::testing::build_batch(1000, &[(None, Some(b"v"), 0)], -1, -1, -1);
    let last = batch.len() - 1;
    batch[last] ^= 1;
    let produce = |topic: &str, acks: i16, records: Vec<u8>| {
        RequestKind::Produce(ProduceRequest::default().with_acks(acks).with_topic_data(
            vec![produce_request::TopicProduceData::default()
                    .with_name(name(topic))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from(records))),
                    ])],
        ))
    };
    let code = |resp: ProduceResponse| resp.responses[0].partition_responses[0].error_code;
    let good = strata_records::testing::build_batch(1000, &[(None, Some(b"v"), 0)], -1, -1, -1);
    let r: ProduceResponse = decode(
        call(&b, ApiKey::Produce, 9, produce("t", 1, batch)).await,
        9,
    );
    assert_eq!(code(r), 2, "bad CRC is CORRUPT_MESSAGE");
    let r: ProduceResponse = decode(
        call(&b, ApiKey::Produce, 9, produce("nope", 1, good.clone())).await,
        9,
    );
    assert_eq!(code(r), 3, "unknown topic");
    let r: ProduceResponse = decode(
        call(&b, ApiKey::Produce, 9, produce("t", 2, good.clone())).await,
        9,
    );
    assert_eq!(code(r), 21, "invalid acks");
    let mut two = good.clone();
    two.extend_from_slice(&good);
    let r: ProduceResponse = decode(call(&b, ApiKey::Produce, 9, produce("t", 1, two)).await, 9);
    assert_eq!(code(r), 87, "two batches");
    let big = strata_records::testing::build_batch(
        1000,
        &[(None, Some(&vec![7u8; 2_000_000]), 0)],
        -1,
        -1,
        -1,
    );
    let r: ProduceResponse = decode(call(&b, ApiKey::Produce, 9, produce("t", 1, big)).await, 9);
    assert_eq!(code(r), 10, "MESSAGE_TOO_LARGE");
    assert!(
        matches!(
            call(&b, ApiKey::Produce, 9, produce("t", 0, good)).await,
            Reply::None
        ),
        "acks=0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_long_polls_until_data_or_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    let fetch = || {
        let RequestKind::Fetch(f) = default_request(ApiKey::Fetch, "t") else {
            unreachable!()
        };
        RequestKind::Fetch(f.with_max_wait_ms(5_000).with_min_bytes(1))
    };
    let b2 = b.clone();
    let waiter = tokio::spawn(async move { call(&b2, ApiKey::Fetch, 11, fetch()).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "fetch must wait for data");
    call(
        &b,
        ApiKey::Produce,
        9,
        default_request(ApiKey::Produce, "t"),
    )
    .await;
    let resp: FetchResponse = decode(waiter.await.unwrap(), 11);
    assert_eq!(resp.responses[0].partitions[0].high_watermark, 1);
    // No data and a short wait: returns empty after the wait.
    let RequestKind::Fetch(f) = default_request(ApiKey::Fetch, "t") else {
        unreachable!()
    };
    let f = f.with_max_wait_ms(100).with_min_bytes(1);
    let mut f2 = f.clone();
    f2.topics[0].partitions[0].fetch_offset = 1;
    let resp: FetchResponse = decode(
        call(&b, ApiKey::Fetch, 11, RequestKind::Fetch(f2)).await,
        11,
    );
    assert_eq!(
        resp.responses[0].partitions[0]
            .records
            .as_ref()
            .map(|r| r.len()),
        Some(0)
    );
    let mut f3 = f;
    f3.topics[0].partitions[0].fetch_offset = 99;
    let resp: FetchResponse = decode(
        call(&b, ApiKey::Fetch, 11, RequestKind::Fetch(f3)).await,
        11,
    );
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_coordinator_is_this_broker_and_commits_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    // First use creates __consumer_offsets: COORDINATOR_NOT_AVAILABLE until it exists.
    let first: FindCoordinatorResponse = decode(
        call(
            &b,
            ApiKey::FindCoordinator,
            2,
            default_request(ApiKey::FindCoordinator, "t"),
        )
        .await,
        2,
    );
    assert_eq!(first.error_code, 15);
    offsets_topic_ready(&b).await;
    let resp: FindCoordinatorResponse = decode(
        call(
            &b,
            ApiKey::FindCoordinator,
            2,
            default_request(ApiKey::FindCoordinator, "t"),
        )
        .await,
        2,
    );
    assert_eq!(
        (resp.error_code, resp.node_id.0, resp.port),
        (0, b.config.node_id, b.config.advertised_port)
    );
    let txn = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("tx"))
        .with_key_type(1);
    let resp: FindCoordinatorResponse = decode(
        call(
            &b,
            ApiKey::FindCoordinator,
            2,
            RequestKind::FindCoordinator(txn),
        )
        .await,
        2,
    );
    assert_eq!(resp.error_code, 15, "no transaction coordinator yet");
    let commit: OffsetCommitResponse = decode(
        call(
            &b,
            ApiKey::OffsetCommit,
            8,
            default_request(ApiKey::OffsetCommit, "t"),
        )
        .await,
        8,
    );
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    let fetched: OffsetFetchResponse = decode(
        call(
            &b,
            ApiKey::OffsetFetch,
            7,
            default_request(ApiKey::OffsetFetch, "t"),
        )
        .await,
        7,
    );
    let p = &fetched.topics[0].partitions[0];
    assert_eq!((p.committed_offset, p.metadata.as_deref()), (1, Some("m")));
    // The internal partitions survive a restart (they are not orphans).
    b.begin_shutdown();
    b.close_logs().unwrap();
    drop(b);
    let b = broker(dir.path());
    b.group.wait_loaded().await;
    let fetched: OffsetFetchResponse = decode(
        call(
            &b,
            ApiKey::OffsetFetch,
            7,
            default_request(ApiKey::OffsetFetch, "t"),
        )
        .await,
        7,
    );
    assert_eq!(fetched.topics[0].partitions[0].committed_offset, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_reassignment_errors_are_kafkas() {
    use alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    b.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
    // (topic, partition, replicas) → the expected error code.
    let cases: Vec<(&str, i32, Option<Vec<i32>>, i16)> = vec![
        ("t", 0, Some(vec![0]), 0), // already there: nothing to do
        ("t", 0, Some(vec![]), 39),
        ("t", 0, Some(vec![0, 0]), 39),
        ("t", 0, Some(vec![5]), 39), // not a registered broker
        ("t", 0, None, 85),          // nothing to cancel
        ("t", 7, Some(vec![0]), 3),
        ("nope", 0, Some(vec![0]), 3),
    ];
    for (topic, p, replicas, want) in cases {
        let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![
            ReassignableTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(p)
                    .with_replicas(
                        replicas
                            .clone()
                            .map(|r| r.into_iter().map(BrokerId).collect()),
                    )]),
        ]);
        let resp: AlterPartitionReassignmentsResponse = decode(
            call(
                &b,
                ApiKey::AlterPartitionReassignments,
                0,
                RequestKind::AlterPartitionReassignments(req),
            )
            .await,
            0,
        );
        assert_eq!(resp.error_code, 0);
        let r = &resp.responses[0];
        assert_eq!(r.name.0.as_str(), topic);
        assert_eq!(r.partitions[0].partition_index, p);
        assert_eq!(
            r.partitions[0].error_code, want,
            "{topic}-{p} {replicas:?}: {:?}",
            r.partitions[0].error_message
        );
    }
    // v1 (KIP-860): a replication factor change is refused when not allowed, and the flag is
    // echoed; the same replicas as now are accepted.
    for (replicas, allow, want) in [
        (vec![0, 5], false, 38),
        (vec![0], false, 0),
        (vec![0, 5], true, 39), // allowed, but broker 5 is not registered
    ] {
        let req = AlterPartitionReassignmentsRequest::default()
            .with_allow_replication_factor_change(allow)
            .with_topics(vec![ReassignableTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(0)
                    .with_replicas(Some(
                        replicas.iter().copied().map(BrokerId).collect(),
                    ))])]);
        let resp: AlterPartitionReassignmentsResponse = decode(
            call(
                &b,
                ApiKey::AlterPartitionReassignments,
                1,
                RequestKind::AlterPartitionReassignments(req),
            )
            .await,
            1,
        );
        assert_eq!(resp.allow_replication_factor_change, allow);
        assert_eq!(
            resp.responses[0].partitions[0].error_code, want,
            "{replicas:?} allow={allow}"
        );
    }
    let listed: ListPartitionReassignmentsResponse = decode(
        call(
            &b,
            ApiKey::ListPartitionReassignments,
            0,
            RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default()),
        )
        .await,
        0,
    );
    assert_eq!((listed.error_code, listed.topics.len()), (0, 0));
}
