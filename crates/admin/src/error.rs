//! Errors of the admin API, as gRPC statuses that carry Kafka's error name.
//!
//! Invariants:
//! - A Kafka error answered by a broker travels as a [`KafkaError`] inside the call's
//!   `anyhow::Error`; [`to_status`] finds it anywhere in the error's chain.
//! - Every status [`to_status`] builds has a `google.rpc.ErrorInfo` detail whose `reason` is
//!   Kafka's error name (`UNKNOWN_TOPIC_OR_PARTITION`, …), `domain` is [`ERROR_DOMAIN`] and
//!   `metadata["kafka_error_code"]` is the numeric code. An error with no Kafka error in its
//!   chain (the broker could not be reached, the connection broke, a response was unreadable)
//!   is `UNAVAILABLE` with reason `NETWORK_EXCEPTION` (code 13): the caller may retry.
//! - The gRPC code follows the Kafka error's meaning ([`grpc_code`]): already exists →
//!   `ALREADY_EXISTS`, unknown topic or group → `NOT_FOUND`, invalid input → `INVALID_ARGUMENT`,
//!   retriable (no leader, no coordinator, timeouts) → `UNAVAILABLE`, authorization →
//!   `PERMISSION_DENIED`, anything else → `UNKNOWN`.

use std::collections::HashMap;
use std::fmt;

use kafka_protocol::ResponseError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::cluster_client::error_name;

/// `ErrorInfo.domain` of every admin API error.
pub const ERROR_DOMAIN: &str = "strata.admin.v1";

/// Kafka's NETWORK_EXCEPTION: the reason given when the broker could not be asked.
const NETWORK_EXCEPTION: i16 = 13;

/// A Kafka error code answered for one request (or chosen by the service for bad input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    /// Kafka's error code (never 0).
    pub code: i16,
    /// What failed, e.g. `CreateTopics`.
    pub what: String,
    /// The broker's error message, if any.
    pub message: Option<String>,
}

impl KafkaError {
    /// An error `code` of `what`, with the broker's `message`.
    pub fn new(code: i16, what: &str, message: Option<&str>) -> KafkaError {
        KafkaError {
            code,
            what: what.to_string(),
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        }
    }

    /// Ok for code 0, else the error as an `anyhow::Error`.
    pub fn check(code: i16, what: &str, message: Option<&str>) -> anyhow::Result<()> {
        if code == 0 {
            Ok(())
        } else {
            Err(KafkaError::new(code, what, message).into())
        }
    }

    /// Kafka's name of the error (`UNKNOWN_TOPIC_OR_PARTITION`).
    pub fn name(&self) -> String {
        error_name(self.code)
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.what, self.name())?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for KafkaError {}

/// The gRPC code for Kafka error `code` (see the module docs).
pub fn grpc_code(code: i16) -> Code {
    use ResponseError as E;
    let Some(e) = ResponseError::try_from_code(code) else {
        return Code::Ok;
    };
    match e {
        E::TopicAlreadyExists => Code::AlreadyExists,
        E::UnknownTopicOrPartition | E::UnknownTopicId | E::GroupIdNotFound => Code::NotFound,
        E::InvalidConfig
        | E::InvalidTopicException
        | E::InvalidPartitions
        | E::InvalidReplicationFactor
        | E::InvalidReplicaAssignment
        | E::InvalidRequest
        | E::InvalidGroupId
        | E::PolicyViolation => Code::InvalidArgument,
        E::TopicAuthorizationFailed
        | E::GroupAuthorizationFailed
        | E::ClusterAuthorizationFailed => Code::PermissionDenied,
        E::NonEmptyGroup => Code::FailedPrecondition,
        E::UnsupportedVersion => Code::Unimplemented,
        e if e.is_retriable() => Code::Unavailable,
        E::NetworkException | E::BrokerNotAvailable | E::NotController => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The status for a failed call (see the module docs).
pub fn to_status(err: &anyhow::Error) -> Status {
    let (code, kafka_code) = match err.chain().find_map(|c| c.downcast_ref::<KafkaError>()) {
        Some(k) => (grpc_code(k.code), k.code),
        None => (Code::Unavailable, NETWORK_EXCEPTION),
    };
    let reason = error_name(kafka_code);
    let metadata = HashMap::from([("kafka_error_code".to_string(), kafka_code.to_string())]);
    Status::with_error_details(
        code,
        format!("{err:#}"),
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

/// An INVALID_REQUEST error for bad input to `what` (empty names and the like).
pub fn invalid_request(what: &str, message: &str) -> anyhow::Error {
    KafkaError::new(42, what, Some(message)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn reason(status: &Status) -> (String, String, String) {
        let info = status
            .get_details_error_info()
            .expect("an ErrorInfo detail");
        (
            info.reason,
            info.domain,
            info.metadata["kafka_error_code"].clone(),
        )
    }

    #[test]
    fn kafka_errors_map_to_grpc_codes_with_their_name() {
        let cases = [
            (36, Code::AlreadyExists, "TOPIC_ALREADY_EXISTS"),
            (3, Code::NotFound, "UNKNOWN_TOPIC_OR_PARTITION"),
            (69, Code::NotFound, "GROUP_ID_NOT_FOUND"),
            (40, Code::InvalidArgument, "INVALID_CONFIG"),
            (17, Code::InvalidArgument, "INVALID_TOPIC_EXCEPTION"),
            (37, Code::InvalidArgument, "INVALID_PARTITIONS"),
            (5, Code::Unavailable, "LEADER_NOT_AVAILABLE"),
            (15, Code::Unavailable, "COORDINATOR_NOT_AVAILABLE"),
            (7, Code::Unavailable, "REQUEST_TIMED_OUT"),
            (29, Code::PermissionDenied, "TOPIC_AUTHORIZATION_FAILED"),
            (68, Code::FailedPrecondition, "NON_EMPTY_GROUP"),
            (35, Code::Unimplemented, "UNSUPPORTED_VERSION"),
        ];
        for (code, grpc, name) in cases {
            let err = anyhow::Error::from(KafkaError::new(code, "X", None));
            let status = to_status(&err);
            assert_eq!(status.code(), grpc, "{name}");
            assert_eq!(
                reason(&status),
                (name.to_string(), ERROR_DOMAIN.to_string(), code.to_string())
            );
        }
    }

    #[test]
    fn the_kafka_error_is_found_under_context() {
        let err = Err::<(), _>(anyhow::Error::from(KafkaError::new(
            3,
            "Metadata",
            Some("no such topic"),
        )))
        .context("describe topic t")
        .unwrap_err();
        let status = to_status(&err);
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "describe topic t: Metadata failed: UNKNOWN_TOPIC_OR_PARTITION (no such topic)"
        );
        assert_eq!(reason(&status).0, "UNKNOWN_TOPIC_OR_PARTITION");
    }

    #[test]
    fn transport_errors_are_unavailable_network_exception() {
        let status = to_status(&anyhow::anyhow!("connection refused"));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            reason(&status),
            (
                "NETWORK_EXCEPTION".to_string(),
                ERROR_DOMAIN.to_string(),
                "13".to_string()
            )
        );
    }

    #[test]
    fn check_passes_zero_and_invalid_request_is_invalid_argument() {
        assert!(KafkaError::check(0, "X", None).is_ok());
        let status = to_status(&invalid_request("CreateTopic", "empty topic name"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(reason(&status).0, "INVALID_REQUEST");
    }
}
