//! Honest request accounting: how many requests of each billable kind a [`super::RemoteStore`]
//! sent to its object store, and how many payload bytes it moved, since it was opened.
//!
//! # What is counted
//!
//! - **S3 stores** count at the HTTP level ([`super::http_counting`]): every HTTP request
//!   object_store sends (a multipart upload is its create, every part, its complete or abort;
//!   a listing is one request per result page; a retry is another request) is classified by
//!   [`classify`] from its method, query string and `Range` header, when it is sent — whether or
//!   not an answer comes back, since a request that reached the server may be billed.
//! - **`file://` stores** (and stores wrapped with [`super::RemoteStore::from_object_store`])
//!   make no HTTP requests: they count *logical* object_store calls into the same kinds
//!   ([`super::logical_counting`]), which is what the equivalent S3 requests would be, except
//!   that a listing counts one request however many pages S3 would return.
//!   [`AccountingSnapshot::source`] says which of the two a snapshot holds.
//! - Payload bytes are counted by successful [`super::RemoteStore`] calls: `bytes_uploaded` is
//!   the object bytes written (put, put_if_absent, upload_file), `bytes_read` the object bytes
//!   read (get, get_range). Retried or failed attempts add requests, never bytes, so the
//!   per-GiB figures below are what an operator pays per GiB actually stored or read.
//!
//! # Invariants
//!
//! - Counters only grow (relaxed atomics; a snapshot is a consistent-enough view for
//!   reporting, not a linearizable one).
//! - Each request counted here also increments
//!   [`super::metrics::HTTP_REQUESTS_TOTAL`]`{kind}` by one, so within one process with one
//!   store the metric and [`AccountingSnapshot::requests`] agree exactly.
//! - Kind labels ([`RequestKind::label`]) are stable: dashboards and the DescribeLogDirs tagged
//!   field (`strata_wire::RemoteRequests`) carry them by name.

use std::sync::atomic::{AtomicU64, Ordering};

use super::metrics;

/// One GiB in bytes.
pub const GIB: f64 = (1u64 << 30) as f64;

/// The kind of one object-store request, as S3 bills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// GET of a whole object.
    Get,
    /// GET of a byte range (a `Range` header).
    GetRange,
    /// HEAD of an object.
    Head,
    /// PUT of a whole object.
    Put,
    /// GET of a listing (`list-type=2`, or any GET on the bucket itself).
    List,
    /// DELETE of an object (or a POST `?delete` batch).
    Delete,
    /// POST `?uploads`: initiate a multipart upload.
    MultipartCreate,
    /// PUT `?partNumber=..&uploadId=..`: one part.
    MultipartPart,
    /// POST `?uploadId=..`: complete a multipart upload.
    MultipartComplete,
    /// DELETE `?uploadId=..`: abort a multipart upload.
    MultipartAbort,
    /// Anything else (e.g. GET `?uploadId` listing parts, token or metadata requests).
    Other,
}

impl RequestKind {
    /// Every kind, in label order of reports.
    pub const ALL: [RequestKind; 11] = [
        RequestKind::Get,
        RequestKind::GetRange,
        RequestKind::Head,
        RequestKind::Put,
        RequestKind::List,
        RequestKind::Delete,
        RequestKind::MultipartCreate,
        RequestKind::MultipartPart,
        RequestKind::MultipartComplete,
        RequestKind::MultipartAbort,
        RequestKind::Other,
    ];

    /// The metric label (`kind`) of this kind.
    pub fn label(self) -> &'static str {
        match self {
            RequestKind::Get => "get",
            RequestKind::GetRange => "get_range",
            RequestKind::Head => "head",
            RequestKind::Put => "put",
            RequestKind::List => "list",
            RequestKind::Delete => "delete",
            RequestKind::MultipartCreate => "multipart_create",
            RequestKind::MultipartPart => "multipart_part",
            RequestKind::MultipartComplete => "multipart_complete",
            RequestKind::MultipartAbort => "multipart_abort",
            RequestKind::Other => "other",
        }
    }

    /// The kind labelled `label`, if any.
    pub fn from_label(label: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.label() == label)
    }

    /// Requests that write (S3's PUT, COPY, POST class, billed per 1 000 at the higher rate):
    /// put and every multipart step. LIST is billed at that rate too but is not part of writing
    /// data, so it is reported on its own.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            RequestKind::Put
                | RequestKind::MultipartCreate
                | RequestKind::MultipartPart
                | RequestKind::MultipartComplete
                | RequestKind::MultipartAbort
        )
    }

    /// Requests that read object data: get and get_range.
    pub fn is_read(self) -> bool {
        matches!(self, RequestKind::Get | RequestKind::GetRange)
    }

    fn index(self) -> usize {
        RequestKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(RequestKind::ALL.len() - 1)
    }
}

/// Classifies one HTTP request to S3 from its method, URL path and query, and whether it
/// carries a `Range` header. `bucket_path` is the path of the bucket itself (`/bucket` with
/// path-style addressing, empty with virtual-hosted addressing): a GET there is a listing.
pub fn classify(
    method: &str,
    path: &str,
    query: Option<&str>,
    has_range: bool,
    bucket_path: &str,
) -> RequestKind {
    let has = |name: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|pair| pair.split('=').next() == Some(name))
        })
    };
    let upload_id = has("uploadId");
    let on_bucket = path.trim_end_matches('/') == bucket_path.trim_end_matches('/');
    match method.to_ascii_uppercase().as_str() {
        "GET" if upload_id => RequestKind::Other,
        "GET" if has("list-type") || on_bucket => RequestKind::List,
        "GET" if has_range => RequestKind::GetRange,
        "GET" => RequestKind::Get,
        "HEAD" => RequestKind::Head,
        "PUT" if upload_id && has("partNumber") => RequestKind::MultipartPart,
        "PUT" if upload_id || on_bucket => RequestKind::Other,
        "PUT" => RequestKind::Put,
        "POST" if has("uploads") => RequestKind::MultipartCreate,
        "POST" if upload_id => RequestKind::MultipartComplete,
        "POST" if has("delete") => RequestKind::Delete,
        "DELETE" if upload_id => RequestKind::MultipartAbort,
        "DELETE" if on_bucket => RequestKind::Other,
        "DELETE" => RequestKind::Delete,
        _ => RequestKind::Other,
    }
}

/// How a store's requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountSource {
    /// Every HTTP request sent (S3 stores).
    Http,
    /// Logical object_store calls mapped to the request S3 would get (`file://` and wrapped
    /// stores).
    Logical,
}

impl CountSource {
    /// `http` or `logical`.
    pub fn label(self) -> &'static str {
        match self {
            CountSource::Http => "http",
            CountSource::Logical => "logical",
        }
    }
}

/// The live counters of one store (shared by its clones and its HTTP connector).
#[derive(Debug)]
pub struct Accounting {
    source: CountSource,
    requests: [AtomicU64; RequestKind::ALL.len()],
    bytes_uploaded: AtomicU64,
    bytes_read: AtomicU64,
}

impl Accounting {
    /// Zeroed counters that count from `source`.
    pub fn new(source: CountSource) -> Accounting {
        Accounting {
            source,
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            bytes_uploaded: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
        }
    }

    /// Counts one request of `kind` (and the metric).
    pub fn record_request(&self, kind: RequestKind) {
        self.requests[kind.index()].fetch_add(1, Ordering::Relaxed);
        metrics::record_http_request(kind.label());
    }

    /// Counts `bytes` of object payload written by a successful call (and the metric).
    pub(crate) fn record_uploaded(&self, bytes: u64) {
        self.bytes_uploaded.fetch_add(bytes, Ordering::Relaxed);
        metrics::record_bytes("put", bytes);
    }

    /// Counts `bytes` of object payload read by a successful call (and the metric).
    pub(crate) fn record_read(&self, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        metrics::record_bytes("get", bytes);
    }

    /// The totals so far.
    pub fn snapshot(&self) -> AccountingSnapshot {
        AccountingSnapshot {
            source: self.source,
            requests: RequestKind::ALL
                .iter()
                .map(|k| (*k, self.requests[k.index()].load(Ordering::Relaxed)))
                .collect(),
            bytes_uploaded: self.bytes_uploaded.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
        }
    }
}

/// A store's totals since it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingSnapshot {
    /// How requests were counted.
    pub source: CountSource,
    /// Requests by kind, every kind present, in [`RequestKind::ALL`] order.
    pub requests: Vec<(RequestKind, u64)>,
    /// Object payload bytes written by successful calls.
    pub bytes_uploaded: u64,
    /// Object payload bytes read by successful calls.
    pub bytes_read: u64,
}

impl AccountingSnapshot {
    /// Requests of `kind`.
    pub fn count(&self, kind: RequestKind) -> u64 {
        self.requests
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Write requests ([`RequestKind::is_write`]) per GiB uploaded; `None` before any upload.
    pub fn write_requests_per_gib_uploaded(&self) -> Option<f64> {
        per_gib(self.sum(RequestKind::is_write), self.bytes_uploaded)
    }

    /// Read requests ([`RequestKind::is_read`]) per GiB read; `None` before any read.
    pub fn read_requests_per_gib_read(&self) -> Option<f64> {
        per_gib(self.sum(RequestKind::is_read), self.bytes_read)
    }

    fn sum(&self, which: fn(RequestKind) -> bool) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| which(*k))
            .map(|(_, n)| n)
            .sum()
    }
}

/// `requests / (bytes / GiB)`, `None` for no bytes.
pub fn per_gib(requests: u64, bytes: u64) -> Option<f64> {
    (bytes > 0).then(|| requests as f64 / (bytes as f64 / GIB))
}

#[cfg(test)]
#[path = "accounting_tests.rs"]
mod tests;
