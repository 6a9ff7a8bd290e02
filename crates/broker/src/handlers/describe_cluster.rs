//! DescribeCluster: this node as the only broker and the controller.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterResponse};

use super::sb;
use crate::broker::Broker;

pub(crate) fn handle(broker: &Arc<Broker>) -> DescribeClusterResponse {
    let cfg = &broker.config;
    let cluster_id = broker.meta().state().cluster_id.clone().unwrap_or_default();
    DescribeClusterResponse::default()
        .with_endpoint_type(1)
        .with_cluster_id(sb(&cluster_id))
        .with_controller_id(BrokerId(cfg.node_id))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(cfg.node_id))
            .with_host(sb(&cfg.advertised_host))
            .with_port(cfg.advertised_port)])
        .with_cluster_authorized_operations(i32::MIN)
}
