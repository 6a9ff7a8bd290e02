//! FindCoordinator: until the group coordinator and transactions land, every key answers
//! COORDINATOR_NOT_AVAILABLE, which every client treats as retriable. Consumers that use
//! `assign()` without committing never ask.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::sb;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const MESSAGE: &str = "The coordinator is not available (consumer groups are not implemented yet)";

pub(crate) fn handle(req: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_host(sb(""))
                    .with_port(-1)
                    .with_error_code(COORDINATOR_NOT_AVAILABLE)
                    .with_error_message(Some(sb(MESSAGE)))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(COORDINATOR_NOT_AVAILABLE)
        .with_error_message(Some(sb(MESSAGE)))
        .with_node_id(BrokerId(-1))
        .with_host(sb(""))
        .with_port(-1)
}
