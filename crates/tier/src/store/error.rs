//! Store errors: a kind (what a caller may do about it) plus context and the source.
//!
//! Classification of `object_store` errors (checked against object_store 0.14.2):
//! - `NotFound` → [`StoreErrorKind::NotFound`].
//! - `AlreadyExists`, `Precondition`, `NotModified` → [`StoreErrorKind::AlreadyExists`], except
//!   a `409 Conflict` (S3's `ConditionalRequestConflict`: a concurrent conditional write is in
//!   flight), which is [`StoreErrorKind::Transient`]: the next attempt sees the winner.
//! - `InvalidPath`, `NotSupported`, `NotImplemented`, `PermissionDenied`, `Unauthenticated`,
//!   `UnknownConfigurationKey` → [`StoreErrorKind::Permanent`].
//! - `Generic` (everything else the HTTP client reports) is classified from its source chain:
//!   an `object_store::client::HttpError` of kind `Timeout` → `Timeout`; `Connect`, `Request`,
//!   `Interrupted`, `Decode` → `Transient`; an HTTP status (object_store's `RetryError` is not
//!   public, so the status is read from its message "status code: NNN") 5xx/408/429 →
//!   `Transient`, other 4xx and 3xx → `Permanent`; a 200 whose body says `InternalError` or
//!   `SlowDown` → `Transient`; `std::io::Error` kinds by their meaning. An unrecognised error
//!   from a local store (`LocalFileSystem`, `InMemory`) is `Permanent`, from a remote store
//!   `Transient` (bounded by `max_retries`; every operation here is idempotent).

use std::error::Error as StdError;
use std::fmt;

use object_store::client::{HttpError, HttpErrorKind};

/// What a caller can do about a failed store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// May succeed if tried again (5xx, throttling, dropped connection).
    Transient,
    /// Will fail again (bad credentials, 4xx, invalid key, unsupported operation).
    Permanent,
    /// The object does not exist.
    NotFound,
    /// The object exists and the operation required that it did not.
    AlreadyExists,
    /// The attempt did not finish within the per-attempt timeout.
    Timeout,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_label())
    }
}

impl StoreErrorKind {
    /// A short lowercase name, used as the `outcome` metric label.
    pub fn as_label(self) -> &'static str {
        match self {
            StoreErrorKind::Transient => "transient",
            StoreErrorKind::Permanent => "permanent",
            StoreErrorKind::NotFound => "not_found",
            StoreErrorKind::AlreadyExists => "already_exists",
            StoreErrorKind::Timeout => "timeout",
        }
    }
}

/// A failed store operation.
#[derive(Debug)]
pub struct StoreError {
    /// What kind of failure this is.
    pub kind: StoreErrorKind,
    /// What was being done, e.g. `get s3://bucket/prefix/key`.
    pub context: String,
    /// The underlying error, if any.
    pub source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error without a source.
    pub fn new(kind: StoreErrorKind, context: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// An error with a source.
    pub fn with_source(
        kind: StoreErrorKind,
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> StoreError {
        StoreError {
            kind,
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// Wraps an `object_store` error, classifying it.
    pub fn from_object_store(context: impl Into<String>, err: object_store::Error) -> StoreError {
        let kind = classify(&err);
        StoreError::with_source(kind, context, err)
    }

    /// True for the kinds worth another attempt: `Transient` and `Timeout`.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            StoreErrorKind::Transient | StoreErrorKind::Timeout
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.context, self.kind)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Classifies an `object_store` error (see the module doc for the table).
pub fn classify(err: &object_store::Error) -> StoreErrorKind {
    use object_store::Error as E;
    match err {
        E::NotFound { .. } => StoreErrorKind::NotFound,
        E::AlreadyExists { .. } | E::Precondition { .. } | E::NotModified { .. } => {
            if http_status_in_chain(err) == Some(409) {
                StoreErrorKind::Transient
            } else {
                StoreErrorKind::AlreadyExists
            }
        }
        E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::UnknownConfigurationKey { .. } => StoreErrorKind::Permanent,
        E::JoinError { source } => {
            if source.is_panic() {
                StoreErrorKind::Permanent
            } else {
                StoreErrorKind::Transient
            }
        }
        E::Generic { store, source } => classify_generic(store, source.as_ref()),
        // `object_store::Error` is non-exhaustive: a new variant is not assumed retryable.
        _ => StoreErrorKind::Permanent,
    }
}

fn classify_generic(
    store: &str,
    source: &(dyn StdError + Send + Sync + 'static),
) -> StoreErrorKind {
    let mut current: Option<&(dyn StdError + 'static)> = Some(source);
    while let Some(e) = current {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            match http.kind() {
                HttpErrorKind::Timeout => return StoreErrorKind::Timeout,
                HttpErrorKind::Connect
                | HttpErrorKind::Request
                | HttpErrorKind::Interrupted
                | HttpErrorKind::Decode => return StoreErrorKind::Transient,
                // Unknown: keep looking further down the chain.
                _ => {}
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(kind) = classify_io(io) {
                return kind;
            }
        }
        if let Some(se) = e.downcast_ref::<StoreError>() {
            return se.kind;
        }
        let text = e.to_string();
        if let Some(status) = parse_status(&text) {
            return classify_status(status);
        }
        if text.contains("InternalError") || text.contains("SlowDown") {
            return StoreErrorKind::Transient;
        }
        if text.contains("redirect without LOCATION") {
            return StoreErrorKind::Permanent;
        }
        current = e.source();
    }
    match store {
        "LocalFileSystem" | "InMemory" => StoreErrorKind::Permanent,
        _ => StoreErrorKind::Transient,
    }
}

fn classify_io(io: &std::io::Error) -> Option<StoreErrorKind> {
    use std::io::ErrorKind as K;
    Some(match io.kind() {
        K::TimedOut => StoreErrorKind::Timeout,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::Interrupted
        | K::WouldBlock => StoreErrorKind::Transient,
        K::NotFound => StoreErrorKind::NotFound,
        K::AlreadyExists => StoreErrorKind::AlreadyExists,
        K::PermissionDenied | K::InvalidInput | K::InvalidData | K::Unsupported => {
            StoreErrorKind::Permanent
        }
        _ => return None,
    })
}

/// 5xx, 408 Request Timeout and 429 Too Many Requests are worth retrying; the rest is not.
pub(crate) fn classify_status(status: u16) -> StoreErrorKind {
    match status {
        408 | 429 => StoreErrorKind::Transient,
        500..=599 => StoreErrorKind::Transient,
        404 => StoreErrorKind::NotFound,
        _ => StoreErrorKind::Permanent,
    }
}

/// The first HTTP status found in the messages of an error's source chain.
fn http_status_in_chain(err: &(dyn StdError + 'static)) -> Option<u16> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(status) = parse_status(&e.to_string()) {
            return Some(status);
        }
        current = e.source();
    }
    None
}

/// Reads `NNN` from "... status code: NNN ..." (object_store's `RequestError::Status` message).
fn parse_status(text: &str) -> Option<u16> {
    const MARKER: &str = "status code: ";
    let at = text.find(MARKER)? + MARKER.len();
    let digits = text.get(at..at + 3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status: u16 = digits.parse().ok()?;
    (100..600).contains(&status).then_some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Msg(&'static str);
    impl fmt::Display for Msg {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Msg {}

    fn generic(store: &'static str, msg: &'static str) -> object_store::Error {
        object_store::Error::Generic {
            store,
            source: Box::new(Msg(msg)),
        }
    }

    #[test]
    fn parses_status_from_object_store_messages() {
        assert_eq!(
            parse_status("Error performing GET http://x in 1ms - Server returned non-2xx status code: 503 Service Unavailable: <Error/>"),
            Some(503)
        );
        assert_eq!(parse_status("status code: 4x"), None);
        assert_eq!(parse_status("no status here"), None);
    }

    #[test]
    fn classifies_variants() {
        let nf = object_store::Error::NotFound {
            path: "a".into(),
            source: Box::new(Msg("gone")),
        };
        assert_eq!(classify(&nf), StoreErrorKind::NotFound);
        let exists = object_store::Error::AlreadyExists {
            path: "a".into(),
            source: Box::new(Msg("status code: 412 Precondition Failed")),
        };
        assert_eq!(classify(&exists), StoreErrorKind::AlreadyExists);
        let conflict = object_store::Error::AlreadyExists {
            path: "a".into(),
            source: Box::new(Msg("status code: 409 Conflict: ConditionalRequestConflict")),
        };
        assert_eq!(classify(&conflict), StoreErrorKind::Transient);
        let denied = object_store::Error::PermissionDenied {
            path: "a".into(),
            source: Box::new(Msg("status code: 403 Forbidden")),
        };
        assert_eq!(classify(&denied), StoreErrorKind::Permanent);
        assert_eq!(
            classify(&generic("S3", "status code: 503 Service Unavailable")),
            StoreErrorKind::Transient
        );
        assert_eq!(
            classify(&generic("S3", "status code: 429 Too Many Requests")),
            StoreErrorKind::Transient
        );
        assert_eq!(
            classify(&generic("S3", "status code: 400 Bad Request")),
            StoreErrorKind::Permanent
        );
        assert_eq!(
            classify(&generic(
                "S3",
                "Server returned error response: <Code>InternalError</Code>"
            )),
            StoreErrorKind::Transient
        );
        assert_eq!(classify(&generic("S3", "weird")), StoreErrorKind::Transient);
        assert_eq!(
            classify(&generic("LocalFileSystem", "weird")),
            StoreErrorKind::Permanent
        );
        let timeout = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(HttpErrorKind::Timeout, Msg("slow"))),
        };
        assert_eq!(classify(&timeout), StoreErrorKind::Timeout);
        let connect = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(HttpErrorKind::Connect, Msg("refused"))),
        };
        assert_eq!(classify(&connect), StoreErrorKind::Transient);
        let io = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        };
        assert_eq!(classify(&io), StoreErrorKind::Permanent);
    }

    #[test]
    fn retryable_kinds() {
        for (kind, retry) in [
            (StoreErrorKind::Transient, true),
            (StoreErrorKind::Timeout, true),
            (StoreErrorKind::Permanent, false),
            (StoreErrorKind::NotFound, false),
            (StoreErrorKind::AlreadyExists, false),
        ] {
            assert_eq!(StoreError::new(kind, "x").is_retryable(), retry);
        }
    }
}
