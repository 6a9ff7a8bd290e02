//! DescribeCluster: the registered brokers and the controller (the metadata quorum leader).
//! Open to every principal, as in Kafka; with `include_cluster_authorized_operations` it says
//! what the principal may do on the cluster.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::sb;
use crate::broker::Broker;

pub(crate) fn handle(broker: &Arc<Broker>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let meta = broker.meta();
    let cluster_id = meta.cluster_id.clone().unwrap_or_default();
    let brokers = super::metadata::live_brokers(broker, &meta)
        .into_iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(sb(&b.host))
                .with_port(b.port)
                .with_rack(b.rack.as_deref().map(sb))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(1)
        .with_cluster_id(sb(&cluster_id))
        .with_controller_id(BrokerId(super::metadata::controller_id(broker)))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            crate::authz::Authz::new(broker).operations(strata_meta::acl::ResourceType::Cluster)(
                strata_meta::acl::CLUSTER_NAME,
            )
        } else {
            i32::MIN
        })
}
