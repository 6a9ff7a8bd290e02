//! SyncGroup: delegated to the group coordinator (`strata_group`); followers park until the leader's assignment is stored.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::broker::Broker;

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    broker.group.sync_group(req, version).await
}
