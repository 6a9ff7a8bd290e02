//! Kafka wire protocol for Strata: frame limits, request parsing, response encoding and the
//! advertised version table. This crate does no I/O: the broker reads frames from sockets and
//! hands their bytes here.
//!
//! Invariants:
//! - Message structs always come from the `kafka-protocol` crate; the only bytes written by hand
//!   are the ApiVersions v0 fallback (KIP-511), the Fetch response framing around record
//!   payloads, which must be emitted in pieces so record bytes can go out with sendfile(2), and
//!   the values of Strata's tagged-field extensions in DescribeLogDirs ([`CleanerState`],
//!   [`RemoteRequests`]).
//! - A request is either decoded completely or rejected with a [`WireError`] that tells the
//!   broker whether to answer (ApiVersions fallback) or to close the connection.
#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod cleaner_state;
mod error;
mod fetch_response;
mod frame;
mod remote_requests;
mod request;
mod response;
mod versions;

pub use cleaner_state::{CleanerState, CLEANER_STATE_TAG};
pub use error::{WireError, WireErrorKind};
pub use fetch_response::{
    FetchPartitionData, FetchResponseBody, FetchTopicData, Payload, ResponseChunks,
};
pub use frame::{check_frame_size, FRAME_PREFIX_LEN};
pub use remote_requests::{RemoteRequests, REMOTE_REQUESTS_TAG};
pub use request::{parse_request, ParsedRequest};
pub use response::{api_versions_fallback, encode_response};
pub use versions::{advertised, advertised_range, SUPPORTED_APIS};

pub use kafka_protocol;
