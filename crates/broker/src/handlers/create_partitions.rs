//! CreatePartitions: grow topics; one result per requested topic. Each topic needs ALTER
//! (TOPIC_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{blocking, sb};
use crate::broker::Broker;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let authz = crate::authz::Authz::new(broker);
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let result = CreatePartitionsTopicResult::default().with_name(t.name);
            if !authz.topic(strata_meta::acl::AclOperation::Alter, &name) {
                return result
                    .with_error_code(crate::authz::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(sb("Authorization failed.")));
            }
            match blocking(|| broker.increase_partitions(&name, t.count, req.validate_only)) {
                Ok(_) => result,
                Err(e) => result
                    .with_error_code(e.kafka_error_code())
                    .with_error_message(Some(sb(&e.message()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
