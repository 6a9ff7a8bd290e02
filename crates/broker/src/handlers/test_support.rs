//! What the handler tests share: a broker over a temp dir, and one request through the real
//! dispatcher decoded back into its response type.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, HeaderVersion, StrBytes};
use strata_wire::ResponseChunks;

use super::dispatch;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::reply::Reply;

/// A broker with its data in `dir`, listening nowhere in particular.
pub(crate) fn open_broker(dir: &std::path::Path) -> Arc<Broker> {
    let mut raw = BTreeMap::new();
    raw.insert("log.dirs".to_string(), dir.display().to_string());
    raw.insert("listeners".to_string(), "127.0.0.1:0".to_string());
    Broker::open(BrokerConfig::from_map(raw).unwrap()).unwrap()
}

/// A broker with its data in `dir` and these settings added.
pub(crate) fn open_broker_with(dir: &std::path::Path, settings: &[(&str, &str)]) -> Arc<Broker> {
    let mut raw = BTreeMap::new();
    raw.insert("log.dirs".to_string(), dir.display().to_string());
    raw.insert("listeners".to_string(), "127.0.0.1:0".to_string());
    for (k, v) in settings {
        raw.insert(k.to_string(), v.to_string());
    }
    Broker::open(BrokerConfig::from_map(raw).unwrap()).unwrap()
}

/// A topic name.
pub(crate) fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Dispatches `body` as `key` v`version` and decodes the whole response frame (file chunks
/// read back), checking its length prefix.
pub(crate) async fn call<R: Decodable + HeaderVersion>(
    b: &Arc<Broker>,
    key: ApiKey,
    version: i16,
    body: RequestKind,
) -> R {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7);
    let mut all = Vec::new();
    match dispatch(b, key, header, body).await.resolve().await {
        Reply::Frame(f) => all.extend_from_slice(&f),
        Reply::Chunks(chunks) => {
            for c in chunks {
                match c {
                    ResponseChunks::Bytes(b) => all.extend_from_slice(&b),
                    ResponseChunks::File(slice, _) => {
                        all.extend_from_slice(&slice.read_to_vec().unwrap())
                    }
                }
            }
        }
        _ => panic!("no response frame for {key:?} v{version}"),
    }
    let mut b = Bytes::from(all);
    assert_eq!(b.get_i32() as usize, b.len());
    ResponseHeader::decode(&mut b, R::header_version(version)).unwrap();
    R::decode(&mut b, version).unwrap()
}
