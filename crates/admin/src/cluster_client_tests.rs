//! [`ClusterClient`] against fake brokers on loopback: each answers from a closure, so a test
//! decides which broker is the coordinator or a partition's leader, and when that changes.

use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorResponse, GroupId, ListOffsetsRequest, ListOffsetsResponse,
    MetadataResponse, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// An encoded response body and its header version.
type Reply = (BytesMut, i16);

fn reply<R: Encodable>(resp: R, key: ApiKey, version: i16) -> Reply {
    let mut body = BytesMut::new();
    resp.encode(&mut body, version).expect("encode response");
    (body, key.response_header_version(version))
}

/// A fake broker: answers every request with `answer(api key, version, request body)` and
/// records the api keys it was sent.
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<ApiKey>>>,
}

impl Fake {
    async fn start(answer: impl Fn(ApiKey, i16, Bytes) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer, log) = (Arc::new(answer), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (answer, log) = (answer.clone(), log.clone());
                tokio::spawn(async move {
                    while let Ok(size) = stream.read_i32().await {
                        let mut frame = vec![0u8; size as usize];
                        if stream.read_exact(&mut frame).await.is_err() {
                            return;
                        }
                        let mut frame = Bytes::from(frame);
                        let key = ApiKey::try_from(frame.clone().get_i16()).expect("api key");
                        let version = frame.clone().slice(2..).get_i16();
                        let header =
                            RequestHeader::decode(&mut frame, key.request_header_version(version))
                                .expect("request header");
                        log.lock().expect("log").push(key);
                        let (body, header_version) = answer(key, version, frame);
                        let mut out = BytesMut::new();
                        out.put_i32(0);
                        ResponseHeader::default()
                            .with_correlation_id(header.correlation_id)
                            .encode(&mut out, header_version)
                            .expect("response header");
                        out.extend_from_slice(&body);
                        let len = (out.len() - 4) as i32;
                        out[..4].copy_from_slice(&len.to_be_bytes());
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Fake { addr, seen }
    }

    fn seen(&self, key: ApiKey) -> usize {
        self.seen
            .lock()
            .expect("log")
            .iter()
            .filter(|k| **k == key)
            .count()
    }
}

fn host_port(addr: &str) -> (String, i32) {
    let (h, p) = addr.rsplit_once(':').expect("HOST:PORT");
    (h.to_string(), p.parse().expect("port"))
}

fn coordinator(node: i32, addr: &str) -> FindCoordinatorResponse {
    let (host, port) = host_port(addr);
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(node))
        .with_host(sb(&host))
        .with_port(port)
}

fn offset_fetch(error: i16, committed: i64) -> OffsetFetchResponse {
    OffsetFetchResponse::default()
        .with_error_code(error)
        .with_topics(vec![OffsetFetchResponseTopic::default()
            .with_name(TopicName(sb("t")))
            .with_partitions(vec![OffsetFetchResponsePartition::default()
                .with_partition_index(0)
                .with_committed_offset(committed)])])
}

#[test]
fn error_names_are_kafkas() {
    assert_eq!(error_name(16), "NOT_COORDINATOR");
    assert_eq!(error_name(14), "COORDINATOR_LOAD_IN_PROGRESS");
    assert_eq!(error_name(69), "GROUP_ID_NOT_FOUND");
    assert_eq!(error_name(68), "NON_EMPTY_GROUP");
    assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
    assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
    assert_eq!(error_name(0), "NONE");
    assert_eq!(error_name(9999), "error 9999");
}

#[test]
fn only_coordinator_errors_rediscover() {
    assert!(is_coordinator_error(14));
    assert!(is_coordinator_error(15));
    assert!(is_coordinator_error(16));
    assert!(!is_coordinator_error(0));
    assert!(!is_coordinator_error(69));
    assert!(!is_coordinator_error(6));
}

#[tokio::test]
async fn group_requests_follow_the_coordinator() {
    // Node 3 is the coordinator; node 2 was, and answers NOT_COORDINATOR.
    let node3 = Fake::start(|key, v, _| reply(offset_fetch(0, 42), key, v)).await;
    let node2 = Fake::start(|key, v, _| reply(offset_fetch(16, -1), key, v)).await;
    // The bootstrap broker: COORDINATOR_NOT_AVAILABLE (creating __consumer_offsets), then
    // node 2, then node 3.
    let finds = Arc::new(Mutex::new(0));
    let (addr2, addr3) = (node2.addr.clone(), node3.addr.clone());
    let bootstrap = Fake::start(move |key, v, _| {
        assert_eq!(key, ApiKey::FindCoordinator);
        let mut n = finds.lock().expect("count");
        *n += 1;
        let resp = match *n {
            1 => FindCoordinatorResponse::default().with_error_code(15),
            2 => coordinator(2, &addr2),
            _ => coordinator(3, &addr3),
        };
        reply(resp, key, v)
    })
    .await;

    let mut client = ClusterClient::connect(&bootstrap.addr)
        .await
        .expect("connect");
    let req = OffsetFetchRequest::default().with_group_id(GroupId(sb("g")));
    let resp = client
        .coordinator_call("g", req.clone(), 7, |r| r.error_code)
        .await
        .expect("OffsetFetch");
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.topics[0].partitions[0].committed_offset, 42);
    assert_eq!(bootstrap.seen(ApiKey::FindCoordinator), 3);
    assert_eq!(node2.seen(ApiKey::OffsetFetch), 1);
    assert_eq!(node3.seen(ApiKey::OffsetFetch), 1);

    // The coordinator is remembered: the next request goes straight to node 3.
    client
        .coordinator_call("g", req, 7, |r| r.error_code)
        .await
        .expect("OffsetFetch");
    assert_eq!(bootstrap.seen(ApiKey::FindCoordinator), 3);
    assert_eq!(node3.seen(ApiKey::OffsetFetch), 2);
}

#[tokio::test]
async fn a_permanent_find_coordinator_error_is_not_retried() {
    let bootstrap = Fake::start(|key, v, _| {
        reply(
            FindCoordinatorResponse::default().with_error_code(42),
            key,
            v,
        )
    })
    .await;
    let mut client = ClusterClient::connect(&bootstrap.addr)
        .await
        .expect("connect");
    let err = client
        .coordinator_call(
            "g",
            OffsetFetchRequest::default().with_group_id(GroupId(sb("g"))),
            7,
            |r| r.error_code,
        )
        .await
        .expect_err("INVALID_REQUEST is final");
    assert!(format!("{err:#}").contains("INVALID_REQUEST"), "{err:#}");
    assert_eq!(bootstrap.seen(ApiKey::FindCoordinator), 1);
}

/// Answers ListOffsets for the partitions in `leads` (offset `100 + partition`) and
/// NOT_LEADER_OR_FOLLOWER for the others.
fn list_offsets(body: Bytes, version: i16, leads: &[i32]) -> ListOffsetsResponse {
    let mut body = body;
    let req = ListOffsetsRequest::decode(&mut body, version).expect("ListOffsets request");
    let topics = req
        .topics
        .iter()
        .map(|t| {
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let part = ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index);
                            if leads.contains(&p.partition_index) {
                                part.with_offset(100 + i64::from(p.partition_index))
                            } else {
                                part.with_error_code(6)
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn metadata(brokers: &[(i32, &str)], leaders: &[i32]) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(
            brokers
                .iter()
                .map(|(node, addr)| {
                    let (host, port) = host_port(addr);
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(*node))
                        .with_host(sb(&host))
                        .with_port(port)
                })
                .collect(),
        )
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(sb("t"))))
            .with_partitions(
                leaders
                    .iter()
                    .enumerate()
                    .map(|(p, leader)| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p as i32)
                            .with_leader_id(BrokerId(*leader))
                    })
                    .collect(),
            )])
}

#[tokio::test]
async fn list_offsets_goes_to_each_leader_and_follows_a_move() {
    // Node 2 leads partitions 1 and 2; node 1 (the bootstrap) leads 0. The first Metadata
    // still names node 1 as the leader of 2 (it just moved), so node 1 answers
    // NOT_LEADER_OR_FOLLOWER for it and the client asks again with fresh Metadata.
    let node2 = Fake::start(|key, v, body| reply(list_offsets(body, v, &[1, 2]), key, v)).await;
    let addr2 = node2.addr.clone();
    let addr1 = Arc::new(Mutex::new(String::new()));
    let (me, metadatas) = (addr1.clone(), Arc::new(Mutex::new(0)));
    let node1 = Fake::start(move |key, v, body| match key {
        ApiKey::Metadata => {
            let mut n = metadatas.lock().expect("count");
            *n += 1;
            let leaders: &[i32] = if *n == 1 { &[1, 2, 1] } else { &[1, 2, 2] };
            let me = me.lock().expect("addr").clone();
            reply(metadata(&[(1, &me), (2, &addr2)], leaders), key, v)
        }
        ApiKey::ListOffsets => reply(list_offsets(body, v, &[0]), key, v),
        other => panic!("unexpected {other:?}"),
    })
    .await;
    *addr1.lock().expect("addr") = node1.addr.clone();

    let mut client = ClusterClient::connect(&node1.addr).await.expect("connect");
    let partitions: BTreeSet<TopicPartition> = (0..3).map(|p| ("t".to_string(), p)).collect();
    let [latest] = client
        .list_offsets(&partitions, [-1])
        .await
        .expect("ListOffsets");
    let want: BTreeMap<TopicPartition, i64> = (0..3)
        .map(|p| (("t".to_string(), p), 100 + i64::from(p)))
        .collect();
    assert_eq!(latest, want);
    assert_eq!(node1.seen(ApiKey::Metadata), 2);
    assert_eq!(node1.seen(ApiKey::ListOffsets), 1);
    assert_eq!(node2.seen(ApiKey::ListOffsets), 2);
}
