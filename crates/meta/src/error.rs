//! Metadata errors: a kind that maps to a Kafka error code, plus context.

use std::fmt;

/// What kind of metadata failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetaErrorKind {
    /// Topic name is invalid (INVALID_TOPIC_EXCEPTION, 17).
    InvalidTopic,
    /// Topic already exists (TOPIC_ALREADY_EXISTS, 36).
    TopicExists,
    /// Topic does not exist (UNKNOWN_TOPIC_OR_PARTITION, 3).
    UnknownTopic,
    /// Bad partition count (INVALID_PARTITIONS, 37).
    InvalidPartitions,
    /// Bad replication factor (INVALID_REPLICATION_FACTOR, 38).
    InvalidReplicationFactor,
    /// Unknown config name or bad value (INVALID_CONFIG, 40).
    InvalidConfig,
    /// The journal could not be read or written (KAFKA_STORAGE_ERROR, 56).
    Storage,
    /// The journal is damaged (not a torn tail); refusing to cut it (KAFKA_STORAGE_ERROR, 56).
    Damaged,
    /// The request cannot be stored as asked, e.g. it is too large (INVALID_REQUEST, 42).
    InvalidRequest,
    /// The change would exceed a broker limit (POLICY_VIOLATION, 44).
    PolicyViolation,
    /// A replica list names no broker, a broker twice, or a broker that is not registered
    /// (INVALID_REPLICA_ASSIGNMENT, 39).
    InvalidReplicaAssignment,
    /// Cancelling a reassignment of a partition that is not being reassigned
    /// (NO_REASSIGNMENT_IN_PROGRESS, 85).
    NoReassignmentInProgress,
    /// The asker no longer leads the partition (FENCED_LEADER_EPOCH, 74).
    FencedLeaderEpoch,
    /// The change is based on a stale partition epoch (INVALID_UPDATE_VERSION, 108).
    StaleUpdate,
    /// The metadata quorum has no leader reachable from here, or lost leadership while the
    /// change was in flight; the outcome is unknown to the caller (REQUEST_TIMED_OUT, 7).
    NoQuorum,
    /// The named resource (e.g. a user's SCRAM credential) does not exist
    /// (RESOURCE_NOT_FOUND, 91).
    ResourceNotFound,
    /// A SCRAM mechanism other than SCRAM-SHA-256 and SCRAM-SHA-512
    /// (UNSUPPORTED_SASL_MECHANISM, 33).
    UnsupportedSaslMechanism,
    /// SCRAM iterations outside 4096..=16384 (UNACCEPTABLE_CREDENTIAL, 93).
    UnacceptableCredential,
    /// The quorum's state machine failed; this node must stop serving metadata
    /// (KAFKA_STORAGE_ERROR, 56).
    Fatal,
}

/// A metadata error.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MetaError {
    /// The kind.
    pub kind: MetaErrorKind,
    /// Human context (returned to clients as the error message).
    pub message: String,
}

impl MetaError {
    /// Builds an error.
    pub fn new(kind: MetaErrorKind, message: impl Into<String>) -> Self {
        MetaError {
            kind,
            message: message.into(),
        }
    }

    /// An I/O failure with its context (KAFKA_STORAGE_ERROR).
    pub fn io(context: impl fmt::Display, e: std::io::Error) -> Self {
        MetaError::new(MetaErrorKind::Storage, format!("{context}: {e}"))
    }

    /// The Kafka error code for this error.
    pub fn kafka_error_code(&self) -> i16 {
        match self.kind {
            MetaErrorKind::InvalidTopic => 17,
            MetaErrorKind::TopicExists => 36,
            MetaErrorKind::UnknownTopic => 3,
            MetaErrorKind::InvalidPartitions => 37,
            MetaErrorKind::InvalidReplicationFactor => 38,
            MetaErrorKind::InvalidConfig => 40,
            MetaErrorKind::Storage | MetaErrorKind::Damaged | MetaErrorKind::Fatal => 56,
            MetaErrorKind::NoQuorum => 7,
            MetaErrorKind::FencedLeaderEpoch => 74,
            MetaErrorKind::StaleUpdate => 108,
            MetaErrorKind::InvalidRequest => 42,
            MetaErrorKind::InvalidReplicaAssignment => 39,
            MetaErrorKind::NoReassignmentInProgress => 85,
            MetaErrorKind::PolicyViolation => 44,
            MetaErrorKind::ResourceNotFound => 91,
            MetaErrorKind::UnsupportedSaslMechanism => 33,
            MetaErrorKind::UnacceptableCredential => 93,
        }
    }
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for MetaError {}
