//! Broker errors: a kind (mapped to a Kafka error code) plus context.

use std::fmt;

use strata_log::LogError;
use strata_meta::MetaError;

/// A broker-level error.
#[derive(Debug)]
pub enum BrokerError {
    /// Filesystem or socket failure with context.
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Metadata validation or storage failure.
    Meta(MetaError),
    /// Log failure.
    Log(LogError),
    /// A setting is invalid or a configured service cannot be reached at startup.
    Config(String),
}

impl BrokerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BrokerError::Io {
            context: context.into(),
            source,
        }
    }

    /// The Kafka error code.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            BrokerError::Io { .. } => 56,
            BrokerError::Meta(e) => e.kafka_error_code(),
            BrokerError::Log(e) => e.kafka_error_code(),
            BrokerError::Config(_) => 56,
        }
    }

    /// The message returned to clients.
    pub fn message(&self) -> String {
        match self {
            BrokerError::Meta(e) => e.message.clone(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::Io { context, source } => write!(f, "{context}: {source}"),
            BrokerError::Meta(e) => write!(f, "{e}"),
            BrokerError::Log(e) => write!(f, "{e}"),
            BrokerError::Config(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for BrokerError {}

impl From<MetaError> for BrokerError {
    fn from(e: MetaError) -> Self {
        BrokerError::Meta(e)
    }
}

impl From<LogError> for BrokerError {
    fn from(e: LogError) -> Self {
        BrokerError::Log(e)
    }
}
