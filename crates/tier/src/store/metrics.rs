//! Metrics of remote storage calls (the `metrics` facade; the broker installs the exporter).
//!
//! - `strata_remote_requests_total{op,outcome}`: attempts, by operation and outcome (`ok` or
//!   an error kind label: `transient`, `timeout`, `permanent`, `not_found`, `already_exists`).
//!   `head` of a missing object and `delete` of a missing object count as `not_found`.
//! - `strata_remote_request_seconds{op}`: duration of each attempt (histogram; buckets are set by
//!   the exporter, [`REQUEST_SECONDS_BUCKETS`] is the suggested set).
//! - `strata_remote_retries_total{op}`: attempts scheduled after a retryable failure, including
//!   per-part retries of multipart uploads (`op="upload_part"`).
//! - `strata_remote_bytes_total{op}`: payload bytes moved by successful calls; `op` is `get`
//!   (get, get_range) or `put` (put, put_if_absent, upload_file).
//!
//! - `strata_remote_http_requests_total{kind}`: requests sent to the object store, by billable
//!   kind (see [`super::accounting`]): `get`, `get_range`, `head`, `put`, `list`, `delete`,
//!   `multipart_create`, `multipart_part`, `multipart_complete`, `multipart_abort`, `other`.
//!   S3 stores count every HTTP request (retries and each multipart step included); `file://`
//!   stores count the logical calls as the request S3 would get.
//!
//! `op` is one of `put`, `put_if_absent`, `upload_file`, `upload_part`, `get`, `get_range`,
//! `head`, `list`, `delete`. `op` counts logical attempts; `kind` counts requests, which is what
//! S3 bills: use `kind` for cost.

use std::time::Duration;

/// Attempts by operation and outcome.
pub const REQUESTS_TOTAL: &str = "strata_remote_requests_total";
/// Payload bytes by direction (`get` / `put`).
pub const BYTES_TOTAL: &str = "strata_remote_bytes_total";
/// Attempt durations.
pub const REQUEST_SECONDS: &str = "strata_remote_request_seconds";
/// Retries scheduled.
pub const RETRIES_TOTAL: &str = "strata_remote_retries_total";
/// Requests sent to the object store, by kind.
pub const HTTP_REQUESTS_TOTAL: &str = "strata_remote_http_requests_total";

/// Suggested histogram buckets for [`REQUEST_SECONDS`] (seconds).
pub const REQUEST_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Registers descriptions of the metrics above with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Remote object storage attempts by operation and outcome"
    );
    metrics::describe_counter!(
        BYTES_TOTAL,
        metrics::Unit::Bytes,
        "Payload bytes moved to (put) or from (get) remote object storage"
    );
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Duration of one remote object storage attempt"
    );
    metrics::describe_counter!(
        RETRIES_TOTAL,
        "Remote object storage attempts retried after a transient failure or timeout"
    );
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "Requests sent to remote object storage, by kind (what the provider bills)"
    );
}

pub(crate) fn record_attempt(op: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(REQUESTS_TOTAL, "op" => op, "outcome" => outcome).increment(1);
    metrics::histogram!(REQUEST_SECONDS, "op" => op).record(elapsed.as_secs_f64());
}

pub(crate) fn record_retry(op: &'static str) {
    metrics::counter!(RETRIES_TOTAL, "op" => op).increment(1);
}

pub(crate) fn record_bytes(direction: &'static str, bytes: u64) {
    metrics::counter!(BYTES_TOTAL, "op" => direction).increment(bytes);
}

pub(crate) fn record_http_request(kind: &'static str) {
    metrics::counter!(HTTP_REQUESTS_TOTAL, "kind" => kind).increment(1);
}
