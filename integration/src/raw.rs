//! A raw Kafka connection for the requests librdkafka does not expose (FindCoordinator,
//! OffsetFetch to a chosen broker, AlterPartitionReassignments, a Fetch with a rack id, ...):
//! one request at a time, message types from the `kafka-protocol` crate, the correlation id
//! checked on every answer, responses capped at 64 MiB.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

/// One blocking connection to a broker's Kafka listener.
pub struct RawConn {
    stream: TcpStream,
    correlation: i32,
    client_id: &'static str,
}

impl RawConn {
    /// Connects to `addr` (5 s), with `read_timeout` per answer; requests carry `client_id`.
    pub fn open(
        addr: SocketAddr,
        client_id: &'static str,
        read_timeout: Duration,
    ) -> Result<RawConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(read_timeout))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(RawConn {
            stream,
            correlation: 0,
            client_id,
        })
    }

    /// Sends `req` as API `key` at `version` and decodes the answer.
    pub fn call<Req, Resp>(&mut self, key: ApiKey, version: i16, req: &Req) -> Result<Resp>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.send(key, version, req)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        ensure!((0..=64 << 20).contains(&size), "response size {size}");
        let mut body = vec![0u8; usize::try_from(size)?];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, Resp::header_version(version))?;
        ensure!(
            rh.correlation_id == self.correlation,
            "correlation id {} in the response to {}",
            rh.correlation_id,
            self.correlation
        );
        Resp::decode(&mut body, version)
    }

    /// Sends `req` as API `key` at `version` without reading an answer (for requests the
    /// broker is expected to answer by closing the connection).
    pub fn send<Req>(&mut self, key: ApiKey, version: i16, req: &Req) -> Result<()>
    where
        Req: Encodable + HeaderVersion,
    {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, Req::header_version(version))?;
        req.encode(&mut buf, version)?;
        let mut frame = i32::try_from(buf.len())?.to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// The next read returns end-of-file (within the read timeout), with no byte before it.
    pub fn expect_eof(&mut self, what: &str) -> Result<()> {
        let mut buf = [0u8; 64];
        match self.stream.read(&mut buf) {
            Ok(0) => Ok(()),
            Ok(n) => bail!("{what}: {n} bytes instead of end-of-file: {:?}", &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("{what}: the connection is still open after the read timeout")
            }
            Err(e) => bail!("{what}: {e} instead of end-of-file"),
        }
    }
}
