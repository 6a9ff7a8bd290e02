//! Heartbeat: delegated to the group coordinator; REBALANCE_IN_PROGRESS tells a member to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
    broker.group.heartbeat(req, version).await
}
