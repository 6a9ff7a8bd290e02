//! DeleteTopics: by name (v1–v5) or by name/id (v6). Each topic needs DELETE
//! (TOPIC_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::{blocking, sb};
use crate::broker::Broker;

const UNKNOWN_TOPIC_ID: i16 = 100;

pub(crate) fn handle(broker: &Arc<Broker>, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
        .collect();
    for t in &req.topics {
        targets.push((t.name.as_ref().map(|n| n.0.to_string()), t.topic_id));
    }
    let authz = crate::authz::Authz::new(broker);
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(n) => Some(n),
                None => broker
                    .meta()
                    .topic_by_id(&id.to_string())
                    .map(|t| t.name.clone()),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.as_deref().map(|n| TopicName(sb(n))))
                .with_topic_id(id);
            let Some(name) = name else {
                return result
                    .with_error_code(UNKNOWN_TOPIC_ID)
                    .with_error_message(Some(sb("Topic id not found")));
            };
            if !authz.topic(strata_meta::acl::AclOperation::Delete, &name) {
                return result
                    .with_error_code(crate::authz::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(sb("Authorization failed.")));
            }
            match blocking(|| broker.delete_topic(&name)) {
                Ok(t) => result.with_topic_id(uuid::Uuid::parse_str(&t.topic_id).unwrap_or(id)),
                Err(e) => result
                    .with_error_code(e.kafka_error_code())
                    .with_error_message(Some(sb(&e.message()))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
