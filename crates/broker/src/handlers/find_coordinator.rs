//! FindCoordinator (v0–v4): one broker coordinates every group (key type 0) — the registered
//! broker with the lowest id, so that every broker gives the same answer (the coordinator
//! follows `__consumer_offsets` partition leadership once that topic is replicated); transaction
//! coordinators (key type 1) do not exist yet and answer COORDINATOR_NOT_AVAILABLE, which
//! clients treat as retriable. v4+ batches keys (`coordinator_keys`).

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::sb;
use crate::broker::Broker;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const INVALID_REQUEST: i16 = 42;
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const NO_TXN_MESSAGE: &str =
    "The transaction coordinator is not available (transactions are not implemented yet)";

/// `(error, message, node id, host, port)` for one key.
fn lookup(broker: &Broker, key_type: i8) -> (i16, Option<&'static str>, i32, String, i32) {
    match key_type {
        KEY_TYPE_GROUP => {
            let meta = broker.meta();
            let coordinator = super::metadata::live_brokers(broker, &meta)
                .into_iter()
                .next()
                .expect("live_brokers lists this broker at least");
            (
                0,
                None,
                coordinator.node_id,
                coordinator.host,
                coordinator.port,
            )
        }
        KEY_TYPE_TRANSACTION => (
            COORDINATOR_NOT_AVAILABLE,
            Some(NO_TXN_MESSAGE),
            -1,
            String::new(),
            -1,
        ),
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
                let (error, message, node, host, port) = lookup(broker, key_type);
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
    let (error, message, node, host, port) = lookup(broker, key_type);
    FindCoordinatorResponse::default()
        .with_error_code(error)
        .with_error_message(if version >= 1 { message.map(sb) } else { None })
        .with_node_id(BrokerId(node))
        .with_host(sb(&host))
        .with_port(port)
}
