//! FindCoordinator (v0–v4): the coordinator of a group (key type 0) is the leader of its
//! `__consumer_offsets` partition (`abs(java_hash(group id)) % partitions`), as in Kafka;
//! COORDINATOR_NOT_AVAILABLE while that topic does not exist yet (the first such lookup starts
//! creating it, which needs `offsets.topic.replication.factor` live brokers) or the partition
//! has no live leader.
//! Transaction coordinators (key type 1) do not exist yet and answer
//! COORDINATOR_NOT_AVAILABLE, which clients treat as retriable. v4+ batches keys
//! (`coordinator_keys`).

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use strata_group::{partition_for, OFFSETS_TOPIC};

use super::sb;
use crate::broker::Broker;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const INVALID_REQUEST: i16 = 42;
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const NO_OFFSETS_TOPIC: &str =
    "__consumer_offsets does not exist yet (it is created once offsets.topic.replication.factor brokers are live)";
const NO_LEADER: &str = "The group's __consumer_offsets partition has no live leader";
const NO_TXN_MESSAGE: &str =
    "The transaction coordinator is not available (transactions are not implemented yet)";

/// `(error, message, node id, host, port)` for one key.
fn lookup(
    broker: &Arc<Broker>,
    key_type: i8,
    key: &str,
) -> (i16, Option<&'static str>, i32, String, i32) {
    let unavailable = |why| (COORDINATOR_NOT_AVAILABLE, Some(why), -1, String::new(), -1);
    match key_type {
        KEY_TYPE_GROUP => {
            let meta = broker.meta();
            let Some(topic) = meta.topic(OFFSETS_TOPIC) else {
                // First use: create it (in the background); the client retries.
                crate::offsets_topic::request(broker);
                return unavailable(NO_OFFSETS_TOPIC);
            };
            let p = partition_for(key, topic.partitions);
            let leader = meta.leadership(topic, p).leader;
            match meta.brokers.get(&leader).filter(|_| meta.is_live(leader)) {
                Some(b) => (0, None, leader, b.host.clone(), b.port),
                None => unavailable(NO_LEADER),
            }
        }
        KEY_TYPE_TRANSACTION => unavailable(NO_TXN_MESSAGE),
        _ => (
            INVALID_REQUEST,
            Some("Unknown coordinator key type"),
            -1,
            String::new(),
            -1,
        ),
    }
}

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let key_type = if version >= 1 {
        req.key_type
    } else {
        KEY_TYPE_GROUP
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (error, message, node, host, port) = lookup(broker, key_type, &key);
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(sb(&host))
                    .with_port(port)
                    .with_error_code(error)
                    .with_error_message(message.map(sb))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (error, message, node, host, port) = lookup(broker, key_type, &req.key);
    FindCoordinatorResponse::default()
        .with_error_code(error)
        .with_error_message(if version >= 1 { message.map(sb) } else { None })
        .with_node_id(BrokerId(node))
        .with_host(sb(&host))
        .with_port(port)
}
