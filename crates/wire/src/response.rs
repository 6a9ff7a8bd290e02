//! Response encoding: size prefix, response header (v0 or flexible v1), body.
//!
//! Invariant: the header version comes from `kafka-protocol`'s table, which already implements
//! the KIP-511 rule that ApiVersions responses always carry a v0 header.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use crate::error::{WireError, WireErrorKind};

/// Encodes a complete response frame (size prefix included).
pub fn encode_response(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: &ResponseKind,
) -> Result<Bytes, WireError> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, api_key.response_header_version(version))
        .map_err(|e| encode_error(api_key, version, e))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(api_key, version, e))?;
    let size = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// The KIP-511 answer to an ApiVersions request at an unknown version: header v0,
/// `error_code = UNSUPPORTED_VERSION (35)` and a v0 body listing only ApiVersions' own range.
pub fn api_versions_fallback(correlation_id: i32, min: i16, max: i16) -> Bytes {
    let mut buf = BytesMut::with_capacity(20);
    buf.put_i32(16);
    buf.put_i32(correlation_id);
    buf.put_i16(35);
    buf.put_i32(1);
    buf.put_i16(ApiKey::ApiVersions as i16);
    buf.put_i16(min);
    buf.put_i16(max);
    debug_assert_eq!(buf.len(), 20);
    buf.freeze()
}

fn encode_error(api_key: ApiKey, version: i16, e: anyhow::Error) -> WireError {
    WireError::new(
        WireErrorKind::Encode,
        format!("cannot encode {api_key:?} v{version} response: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn fallback_decodes_as_api_versions_v0() {
        let mut frame = api_versions_fallback(42, 0, 4);
        assert_eq!(frame.get_i32() as usize, frame.len());
        assert_eq!(frame.get_i32(), 42);
        let resp = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
        assert_eq!(resp.error_code, 35);
        assert_eq!(resp.api_keys.len(), 1);
        assert_eq!(resp.api_keys[0].api_key, 18);
        assert_eq!(
            (resp.api_keys[0].min_version, resp.api_keys[0].max_version),
            (0, 4)
        );
    }

    #[test]
    fn api_versions_v3_uses_header_v0() {
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default());
        let mut frame = encode_response(5, ApiKey::ApiVersions, 3, &body).unwrap();
        assert_eq!(frame.get_i32() as usize, frame.len());
        assert_eq!(frame.get_i32(), 5);
        let resp = ApiVersionsResponse::decode(&mut frame, 3).unwrap();
        assert_eq!(resp.error_code, 0);
        assert!(!frame.has_remaining());
    }
}
