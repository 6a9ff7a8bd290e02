//! A minimal Kafka protocol client: one connection, one request at a time, message types from
//! `kafka-protocol`. Used by the CLI's admin subcommands and by followers fetching from their
//! leader (Fetch with a replica id, over the leader's Kafka listener).
//!
//! Invariant: a response larger than [`MAX_RESPONSE`] or with the wrong correlation id is an
//! error, and the connection should be dropped.

use anyhow::{bail, Context};
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted.
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// A connection to one broker.
#[derive(Debug)]
pub struct KafkaClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl KafkaClient {
    /// Connects to the first reachable broker of `bootstrap` (HOST:PORT, or a comma-separated
    /// list of them, as Kafka's `bootstrap.servers`).
    pub async fn connect(bootstrap: &str) -> anyhow::Result<KafkaClient> {
        let mut last = None;
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(KafkaClient {
                        stream,
                        correlation_id: 0,
                    });
                }
                Err(e) => last = Some(anyhow::Error::new(e).context(format!("connect to {addr}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no broker address in '{bootstrap}'")))
    }

    /// Sends `req` at `version` and waits for its response.
    pub async fn call<R: Request>(&mut self, req: R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation_id += 1;
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("bad api key {}", R::KEY))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("strata-cli")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, key.request_header_version(version))?;
        req.encode(&mut buf, version)?;
        let size = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).await.context("send request")?;
        let size = self.stream.read_i32().await.context("read response size")?;
        if size < 4 || size as usize > MAX_RESPONSE {
            bail!("bad response size {size}");
        }
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .await
            .context("read response")?;
        let mut body = bytes::Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        if header.correlation_id != self.correlation_id {
            bail!("correlation id mismatch");
        }
        let resp = R::Response::decode(&mut body, version)?;
        if body.has_remaining() {
            tracing::debug!(trailing = body.remaining(), "trailing response bytes");
        }
        Ok(resp)
    }
}
