//! Request parsing: header first, then the body through `kafka-protocol`.
//!
//! Invariants:
//! - Never panics on any input (fuzzed by `fuzz/fuzz_targets/request.rs`); every failure is a
//!   [`WireError`] whose kind tells the broker to close the connection, except an ApiVersions
//!   request at a version Strata does not know, which yields
//!   [`ParsedRequest::ApiVersionsUnsupported`] so the broker can answer in v0 (KIP-511).
//! - Only advertised versions reach the body decoder (see [`crate::advertised`]).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use crate::error::{WireError, WireErrorKind};
use crate::versions::{advertised, MIN_DECODED_PRODUCE_VERSION};

/// A request frame after parsing.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per request and moved straight into dispatch
pub enum ParsedRequest {
    /// A fully decoded request at an advertised version.
    Request {
        /// The API this request belongs to.
        api_key: ApiKey,
        /// The decoded request header.
        header: RequestHeader,
        /// The decoded request body.
        body: RequestKind,
    },
    /// ApiVersions at a version outside the advertised range: answer with the v0 fallback.
    ApiVersionsUnsupported {
        /// Correlation id to echo.
        correlation_id: i32,
        /// The version the client tried.
        version: i16,
    },
}

/// Parses one request frame (the bytes after the size prefix).
pub fn parse_request(mut frame: Bytes) -> Result<ParsedRequest, WireError> {
    if frame.len() < 8 {
        return Err(WireError::new(
            WireErrorKind::Malformed,
            format!("request of {} bytes has no header", frame.len()),
        ));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| {
        WireError::new(
            WireErrorKind::UnknownApiKey,
            format!("unknown api key {raw_key} (correlation id {correlation_id})"),
        )
    })?;
    if !advertised(api_key, version) {
        if api_key == ApiKey::ApiVersions {
            return Ok(ParsedRequest::ApiVersionsUnsupported {
                correlation_id,
                version,
            });
        }
        return Err(unsupported(api_key, version, correlation_id));
    }
    if api_key == ApiKey::Produce && version < MIN_DECODED_PRODUCE_VERSION {
        // Advertised from 0 only for old librdkafka's compression check; Kafka 4 refuses these too.
        return Err(unsupported(api_key, version, correlation_id));
    }
    let header_version = api_key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| malformed(api_key, version, "header", e))?;
    let body = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|e| malformed(api_key, version, "body", e))?;
    if frame.has_remaining() {
        tracing::debug!(
            ?api_key,
            version,
            trailing = frame.remaining(),
            "ignoring trailing bytes after request body"
        );
    }
    Ok(ParsedRequest::Request {
        api_key,
        header,
        body,
    })
}

fn unsupported(api_key: ApiKey, version: i16, correlation_id: i32) -> WireError {
    WireError::new(
        WireErrorKind::UnsupportedVersion,
        format!("{api_key:?} v{version} is not supported (correlation id {correlation_id})"),
    )
}

fn malformed(api_key: ApiKey, version: i16, part: &str, e: anyhow::Error) -> WireError {
    WireError::new(
        WireErrorKind::Malformed,
        format!("cannot decode {api_key:?} v{version} {part}: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn frame(key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_every_api_versions_version() {
        for v in 0..=4 {
            let parsed = parse_request(frame(
                ApiKey::ApiVersions,
                v,
                &ApiVersionsRequest::default(),
            ))
            .unwrap();
            match parsed {
                ParsedRequest::Request {
                    api_key, header, ..
                } => {
                    assert_eq!(api_key, ApiKey::ApiVersions);
                    assert_eq!(header.correlation_id, 7);
                    assert_eq!(header.client_id.as_deref(), Some("test"));
                }
                other => panic!("v{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_api_versions_version_asks_for_fallback() {
        let mut raw = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).to_vec();
        raw[2..4].copy_from_slice(&9i16.to_be_bytes());
        match parse_request(Bytes::from(raw)).unwrap() {
            ParsedRequest::ApiVersionsUnsupported {
                correlation_id,
                version,
            } => {
                assert_eq!((correlation_id, version), (7, 9));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_key_unsupported_version_and_garbage_are_errors() {
        let mut raw = frame(ApiKey::Metadata, 4, &MetadataRequest::default()).to_vec();
        raw[0..2].copy_from_slice(&999i16.to_be_bytes());
        let e = parse_request(Bytes::from(raw.clone())).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::UnknownApiKey);
        raw[0..2].copy_from_slice(&(ApiKey::Metadata as i16).to_be_bytes());
        raw[2..4].copy_from_slice(&40i16.to_be_bytes());
        let e = parse_request(Bytes::from(raw.clone())).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::UnsupportedVersion);
        let e = parse_request(Bytes::from_static(&[0, 3, 0, 4, 0, 0, 0, 1, 0xff])).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Malformed);
        let e = parse_request(Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0])).unwrap_err();
        assert_eq!(
            e.kind,
            WireErrorKind::UnsupportedVersion,
            "Produce v2 is refused"
        );
    }

    #[test]
    fn hostile_array_length_does_not_allocate() {
        // Metadata v4: header v1 (client id null), then topics array with length i32::MAX.
        let mut raw = vec![0, 3, 0, 4, 0, 0, 0, 1, 0xff, 0xff];
        raw.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = parse_request(Bytes::from(raw)).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Malformed);
    }
}
