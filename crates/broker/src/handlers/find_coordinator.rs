//! FindCoordinator (v0–v4): the coordinator of a group (key type 0) is the leader of its
//! `__consumer_offsets` partition, of a transactional id (key type 1) the leader of its
//! `__transaction_state` partition (`abs(java_hash(key)) % partitions`), as in Kafka;
//! COORDINATOR_NOT_AVAILABLE while that topic does not exist yet (the first such lookup starts
//! creating it, which needs its replication factor of live brokers) or the partition has no
//! live leader. v4+ batches keys (`coordinator_keys`).
//!
//! A group key needs DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED), a transactional id
//! DESCRIBE on it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::sb;
use crate::broker::Broker;
use crate::internal_topics::{coordinator_of, InternalTopic};

const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const INVALID_REQUEST: i16 = 42;
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// `(error, message, node id, host, port)` for one key.
fn lookup(
    broker: &Arc<Broker>,
    key_type: i8,
    key: &str,
) -> (i16, Option<&'static str>, i32, String, i32) {
    let which = match key_type {
        KEY_TYPE_GROUP => InternalTopic::Offsets,
        KEY_TYPE_TRANSACTION => InternalTopic::Transactions,
        _ => {
            return (
                INVALID_REQUEST,
                Some("Unknown coordinator key type"),
                -1,
                String::new(),
                -1,
            )
        }
    };
    let authz = crate::authz::Authz::new(broker);
    let describe = strata_meta::acl::AclOperation::Describe;
    let denied = match which {
        InternalTopic::Offsets => {
            (!authz.group(describe, key)).then_some(crate::authz::GROUP_AUTHORIZATION_FAILED)
        }
        InternalTopic::Transactions => (!authz.txn(describe, key))
            .then_some(crate::authz::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
    };
    if let Some(code) = denied {
        return (code, None, -1, String::new(), -1);
    }
    match coordinator_of(broker, which, key) {
        Ok((node, host, port)) => (0, None, node, host, port),
        Err(why) => (COORDINATOR_NOT_AVAILABLE, Some(why), -1, String::new(), -1),
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
