//! A read replica's refusals (`strata.read.replica`, see `read_replica.rs`): Produce and every
//! request that would change topics, records, configs, leadership or producer state get
//! POLICY_VIOLATION (44), non-retriable, with a message that says where to write instead.
//! Reads, consumer groups and their offset commits (local to the replica) are not refused.
//!
//! Invariant: a refused request changes nothing; `acks=0` produce, which has no response to
//! carry an error, closes the connection (as Kafka does for a failed acks=0 produce).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsResponse,
    AlterPartitionReassignmentsResponse, CreatePartitionsResponse, CreateTopicsResponse,
    DeleteRecordsResponse, DeleteTopicsResponse, ElectLeadersResponse,
    IncrementalAlterConfigsResponse, InitProducerIdResponse, ProduceResponse, ProducerId,
    RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use super::sb;

/// POLICY_VIOLATION.
pub(crate) const POLICY_VIOLATION: i16 = 44;

/// The message every refusal carries.
pub(crate) const MESSAGE: &str = "this broker is a read replica: it serves the tiered archive \
                                  read-only; produce and administer topics on the writer cluster";

/// What to do with a request a read replica refuses.
pub(crate) enum Refusal {
    /// Answer with this response.
    Respond(Box<ResponseKind>),
    /// Close the connection (acks=0 produce).
    Close,
}

fn msg() -> Option<StrBytes> {
    Some(sb(MESSAGE))
}

/// The refusal of `body`, or `None` if a read replica serves it.
pub(crate) fn refuse(body: &RequestKind) -> Option<Refusal> {
    let response = match body {
        RequestKind::Produce(r) => {
            if r.acks == 0 {
                return Some(Refusal::Close);
            }
            let responses = r
                .topic_data
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| {
                                    PartitionProduceResponse::default()
                                        .with_index(p.index)
                                        .with_error_code(POLICY_VIOLATION)
                                        .with_base_offset(-1)
                                        .with_log_append_time_ms(-1)
                                        .with_log_start_offset(-1)
                                        .with_error_message(msg())
                                })
                                .collect(),
                        )
                })
                .collect();
            ResponseKind::Produce(ProduceResponse::default().with_responses(responses))
        }
        RequestKind::CreateTopics(r) => {
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    CreatableTopicResult::default()
                        .with_name(t.name.clone())
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                        .with_error_code(POLICY_VIOLATION)
                        .with_error_message(msg())
                })
                .collect();
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(topics))
        }
        RequestKind::DeleteTopics(r) => {
            let mut responses: Vec<DeletableTopicResult> = r
                .topic_names
                .iter()
                .map(|n| DeletableTopicResult::default().with_name(Some(n.clone())))
                .collect();
            responses.extend(r.topics.iter().map(|t| {
                DeletableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
            }));
            let responses = responses
                .into_iter()
                .map(|x| {
                    x.with_error_code(POLICY_VIOLATION)
                        .with_error_message(msg())
                })
                .collect();
            ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses))
        }
        RequestKind::CreatePartitions(r) => {
            let results = r
                .topics
                .iter()
                .map(|t| {
                    CreatePartitionsTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(POLICY_VIOLATION)
                        .with_error_message(msg())
                })
                .collect();
            ResponseKind::CreatePartitions(
                CreatePartitionsResponse::default().with_results(results),
            )
        }
        RequestKind::AlterConfigs(r) => {
            let responses = r
                .resources
                .iter()
                .map(|x| {
                    alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(x.resource_type)
                        .with_resource_name(x.resource_name.clone())
                        .with_error_code(POLICY_VIOLATION)
                        .with_error_message(msg())
                })
                .collect();
            ResponseKind::AlterConfigs(AlterConfigsResponse::default().with_responses(responses))
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            let responses = r
                .resources
                .iter()
                .map(|x| {
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(x.resource_type)
                        .with_resource_name(x.resource_name.clone())
                        .with_error_code(POLICY_VIOLATION)
                        .with_error_message(msg())
                })
                .collect();
            ResponseKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsResponse::default().with_responses(responses),
            )
        }
        RequestKind::DeleteRecords(r) => {
            let topics = r
                .topics
                .iter()
                .map(|t| {
                    DeleteRecordsTopicResult::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    DeleteRecordsPartitionResult::default()
                                        .with_partition_index(p.partition_index)
                                        .with_low_watermark(-1)
                                        .with_error_code(POLICY_VIOLATION)
                                })
                                .collect(),
                        )
                })
                .collect();
            ResponseKind::DeleteRecords(DeleteRecordsResponse::default().with_topics(topics))
        }
        RequestKind::InitProducerId(_) => ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_error_code(POLICY_VIOLATION),
        ),
        RequestKind::ElectLeaders(_) => ResponseKind::ElectLeaders(
            ElectLeadersResponse::default().with_error_code(POLICY_VIOLATION),
        ),
        RequestKind::AlterPartitionReassignments(_) => ResponseKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsResponse::default()
                .with_error_code(POLICY_VIOLATION)
                .with_error_message(msg()),
        ),
        _ => return None,
    };
    metrics::counter!("strata_read_replica_refused_requests_total").increment(1);
    Some(Refusal::Respond(Box::new(response)))
}
