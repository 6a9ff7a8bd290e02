//! The APIs that act on the cluster as a whole, and the cluster operation each needs, as Kafka
//! authorizes them: DescribeLogDirs, DescribeQuorum, ListPartitionReassignments and
//! DescribeUserScramCredentials need DESCRIBE; ElectLeaders, AlterPartitionReassignments and
//! AlterUserScramCredentials need ALTER; WriteTxnMarkers (between brokers) needs
//! CLUSTER_ACTION. A denied request gets CLUSTER_AUTHORIZATION_FAILED where its response has
//! an error, and changes nothing.
//!
//! Invariant: `refuse` answers only requests of these APIs, and only when the authorizer
//! denies them; every other request passes untouched.

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsResponse, AlterUserScramCredentialsResponse,
    DescribeLogDirsResponse, DescribeQuorumResponse, DescribeUserScramCredentialsResponse,
    ElectLeadersResponse, ListPartitionReassignmentsResponse, RequestKind, ResponseKind,
    WriteTxnMarkersResponse,
};
use strata_meta::acl::AclOperation;

use super::sb;
use crate::authz::{Authz, CLUSTER_AUTHORIZATION_FAILED as DENIED};

/// The message of every refusal.
const MESSAGE: &str = "Cluster authorization failed.";

/// The operation `body` needs on the cluster, if it is one of these APIs.
fn needs(body: &RequestKind) -> Option<AclOperation> {
    Some(match body {
        RequestKind::DescribeLogDirs(_)
        | RequestKind::DescribeQuorum(_)
        | RequestKind::ListPartitionReassignments(_)
        | RequestKind::DescribeUserScramCredentials(_) => AclOperation::Describe,
        RequestKind::ElectLeaders(_)
        | RequestKind::AlterPartitionReassignments(_)
        | RequestKind::AlterUserScramCredentials(_) => AclOperation::Alter,
        RequestKind::WriteTxnMarkers(_) => AclOperation::ClusterAction,
        _ => return None,
    })
}

/// The refusal of `body` when the principal lacks what it needs on the cluster.
pub(crate) fn refuse(authz: &Authz, body: &RequestKind) -> Option<ResponseKind> {
    let op = needs(body)?;
    if authz.cluster(op) {
        return None;
    }
    let msg = || Some(sb(MESSAGE));
    Some(match body {
        RequestKind::DescribeLogDirs(_) => ResponseKind::DescribeLogDirs(
            DescribeLogDirsResponse::default().with_error_code(DENIED),
        ),
        RequestKind::DescribeQuorum(_) => ResponseKind::DescribeQuorum(
            DescribeQuorumResponse::default()
                .with_error_code(DENIED)
                .with_error_message(msg()),
        ),
        RequestKind::ListPartitionReassignments(_) => ResponseKind::ListPartitionReassignments(
            ListPartitionReassignmentsResponse::default()
                .with_error_code(DENIED)
                .with_error_message(msg()),
        ),
        RequestKind::DescribeUserScramCredentials(_) => ResponseKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsResponse::default()
                .with_error_code(DENIED)
                .with_error_message(msg()),
        ),
        RequestKind::ElectLeaders(_) => {
            ResponseKind::ElectLeaders(ElectLeadersResponse::default().with_error_code(DENIED))
        }
        RequestKind::AlterPartitionReassignments(_) => ResponseKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsResponse::default()
                .with_error_code(DENIED)
                .with_error_message(msg()),
        ),
        RequestKind::AlterUserScramCredentials(r) => {
            let mut users: Vec<String> = Vec::new();
            for u in r
                .deletions
                .iter()
                .map(|d| d.name.to_string())
                .chain(r.upsertions.iter().map(|u| u.name.to_string()))
            {
                if !users.contains(&u) {
                    users.push(u);
                }
            }
            ResponseKind::AlterUserScramCredentials(
                AlterUserScramCredentialsResponse::default().with_results(
                    users
                        .iter()
                        .map(|u| {
                            AlterUserScramCredentialsResult::default()
                                .with_user(sb(u))
                                .with_error_code(DENIED)
                                .with_error_message(msg())
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::WriteTxnMarkers(r) => ResponseKind::WriteTxnMarkers(
            WriteTxnMarkersResponse::default().with_markers(
                r.markers
                    .iter()
                    .map(|m| {
                        WritableTxnMarkerResult::default()
                            .with_producer_id(m.producer_id)
                            .with_topics(
                                m.topics
                                    .iter()
                                    .map(|t| {
                                        WritableTxnMarkerTopicResult::default()
                                            .with_name(t.name.clone())
                                            .with_partitions(
                                                t.partition_indexes
                                                    .iter()
                                                    .map(|&p| {
                                                        WritableTxnMarkerPartitionResult::default()
                                                            .with_partition_index(p)
                                                            .with_error_code(DENIED)
                                                    })
                                                    .collect(),
                                            )
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        _ => return None,
    })
}
