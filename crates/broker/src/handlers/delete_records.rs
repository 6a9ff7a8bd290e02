//! DeleteRecords: advance a partition's log start offset (offset -1 means the high watermark).
//! Each topic needs DELETE (TOPIC_AUTHORIZATION_FAILED otherwise), as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::blocking;
use crate::broker::Broker;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

pub(crate) fn handle(broker: &Arc<Broker>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let authz = crate::authz::Authz::new(broker);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let allowed = authz.topic(strata_meta::acl::AclOperation::Delete, &name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    if !allowed {
                        return result.with_error_code(crate::authz::TOPIC_AUTHORIZATION_FAILED);
                    }
                    let Some(part) = broker.partition(&name, p.partition_index) else {
                        return result.with_error_code(UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let outcome = blocking(|| {
                        let mut log = part.log();
                        let target = if p.offset == -1 {
                            log.high_watermark()
                        } else {
                            p.offset
                        };
                        log.delete_records_before(target)
                    });
                    match outcome {
                        Ok(low) => result.with_low_watermark(low),
                        Err(e) => result.with_error_code(e.kafka_error_code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
