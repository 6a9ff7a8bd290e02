//! Request handlers, one file per Kafka API, routed by API key.
//!
//! Invariant: the routes here are exactly `strata_wire::SUPPORTED_APIS` (a test checks it), so
//! ApiVersions can never advertise an API that is not handled.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use strata_wire::encode_response;

use crate::broker::Broker;
use crate::reply::Reply;

mod acl_wire;
mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_user_scram_credentials;
mod api_versions;
mod cluster_gate;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_acls;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_transactions;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_txn;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
mod marker_append;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod read_only;
mod sasl_elsewhere;
mod sync_group;
mod txn_offset_commit;
pub(crate) mod write_txn_markers;

tokio::task_local! {
    /// The peer address of the connection whose request is being handled (set by `connection`).
    pub(crate) static PEER: std::net::SocketAddr;
    /// The name of the listener the request came in on (set by `connection`).
    pub(crate) static LISTENER: &'static str;
}

/// The name of the listener the request being handled came in on (`PLAINTEXT` outside a
/// connection, e.g. in unit tests).
pub(crate) fn listener() -> &'static str {
    LISTENER.try_with(|l| *l).unwrap_or("PLAINTEXT")
}

/// Routes one decoded request to its handler and encodes the reply.
pub(crate) async fn dispatch(
    broker: &Arc<Broker>,
    api_key: ApiKey,
    header: RequestHeader,
    body: RequestKind,
) -> Reply {
    let version = header.request_api_version;
    let correlation_id = header.correlation_id;
    if broker.config.read_replica {
        match read_only::refuse(&body) {
            Some(read_only::Refusal::Respond(response)) => {
                return encode(correlation_id, api_key, version, &response);
            }
            Some(read_only::Refusal::Close) => return Reply::Close,
            None => {}
        }
    }
    if broker.config.authorizer.is_some() {
        let authz = crate::authz::Authz::new(broker);
        if let Some(response) = cluster_gate::refuse(&authz, &body) {
            return encode(correlation_id, api_key, version, &response);
        }
    }
    let response = match body {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::handle(version)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(broker, r, version)),
        RequestKind::Produce(r) => {
            return match produce::handle(broker, r, version) {
                Some(pending) => Reply::Deferred(Box::pin(async move {
                    let response = ResponseKind::Produce(pending.await);
                    encode(correlation_id, api_key, version, &response)
                })),
                None => Reply::None,
            };
        }
        RequestKind::Fetch(r) => return fetch::handle(broker, r, version, correlation_id).await,
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, r, version).await)
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(broker, r, version))
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(broker, r))
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(broker, r))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(broker, r))
        }
        RequestKind::DescribeLogDirs(r) => {
            ResponseKind::DescribeLogDirs(describe_log_dirs::handle(broker, r, version))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(alter_configs::handle_legacy(broker, r))
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(alter_configs::handle_incremental(broker, r))
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(delete_records::handle(broker, r))
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(broker, r))
        }
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(elect_leaders::handle(broker, r).await)
        }
        RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
            alter_partition_reassignments::handle(broker, r).await,
        ),
        RequestKind::ListPartitionReassignments(r) => ResponseKind::ListPartitionReassignments(
            list_partition_reassignments::handle(broker, r).await,
        ),
        RequestKind::DescribeQuorum(_) => {
            ResponseKind::DescribeQuorum(describe_quorum::handle(broker))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, r, version))
        }
        RequestKind::JoinGroup(r) => {
            let client_id = header.client_id.as_deref().unwrap_or("");
            ResponseKind::JoinGroup(join_group::handle(broker, r, version, client_id).await)
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(sync_group::handle(broker, r, version).await)
        }
        RequestKind::Heartbeat(r) => {
            ResponseKind::Heartbeat(heartbeat::handle(broker, r, version).await)
        }
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(leave_group::handle(broker, r, version).await)
        }
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offset_commit::handle(broker, r, version).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(broker, r, version).await)
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(offset_delete::handle(broker, r, version).await)
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(list_groups::handle(broker, r, version).await)
        }
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(describe_groups::handle(broker, r, version).await)
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(delete_groups::handle(broker, r, version).await)
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(broker, r, version))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(broker, r, version))
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(broker, r, version))
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(broker, r, version)),
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(broker, r, version).await)
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(list_transactions::handle(broker, r, version))
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(broker, r))
        }
        RequestKind::WriteTxnMarkers(r) => {
            ResponseKind::WriteTxnMarkers(write_txn_markers::handle(broker, r).await)
        }
        RequestKind::DescribeProducers(r) => {
            ResponseKind::DescribeProducers(describe_producers::handle(broker, r))
        }
        RequestKind::SaslHandshake(_) => ResponseKind::SaslHandshake(sasl_elsewhere::handshake()),
        RequestKind::SaslAuthenticate(_) => {
            ResponseKind::SaslAuthenticate(sasl_elsewhere::authenticate())
        }
        RequestKind::DescribeUserScramCredentials(r) => ResponseKind::DescribeUserScramCredentials(
            describe_user_scram_credentials::handle(broker, r),
        ),
        RequestKind::AlterUserScramCredentials(r) => {
            ResponseKind::AlterUserScramCredentials(alter_user_scram_credentials::handle(broker, r))
        }
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(create_acls::handle(broker, r)),
        RequestKind::DescribeAcls(r) => {
            ResponseKind::DescribeAcls(describe_acls::handle(broker, r))
        }
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(delete_acls::handle(broker, r)),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, r))
        }
        other => {
            tracing::warn!(
                ?api_key,
                "no handler for {:?}; closing",
                std::mem::discriminant(&other)
            );
            return Reply::Close;
        }
    };
    encode(correlation_id, api_key, version, &response)
}

/// Encodes a response frame, or closes the connection if that fails.
pub(crate) fn encode(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    response: &ResponseKind,
) -> Reply {
    match encode_response(correlation_id, api_key, version, response) {
        Ok(frame) => Reply::Frame(frame),
        Err(e) => {
            tracing::error!(error = %e, "response encoding failed; closing");
            Reply::Close
        }
    }
}

/// Owned `StrBytes` from a `&str`.
pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Runs blocking work (fsync, metadata journal) without stalling the async workers.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[cfg(test)]
mod acl_tests;
#[cfg(test)]
mod offline_tests;
#[cfg(test)]
mod reassign_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
