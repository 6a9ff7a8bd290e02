//! Hostile and unusual frames over raw TCP (no client library): oversized, negative and
//! truncated size prefixes, garbage headers, an unsupported ApiVersions version, and the
//! ApiVersions answers real clients depend on (v0 from aiokafka, v3 from librdkafka).
//!
//! Kafka's rules checked here: a frame larger than `socket.request.max.bytes`, a negative size
//! or a request that cannot be parsed closes the connection (and only that connection); an
//! ApiVersions request of an unsupported version is answered in the v0 format with
//! UNSUPPORTED_VERSION (35) and the supported ranges, so the client can retry with a version
//! it shares; the ApiVersions response header is always v0 (correlation id only).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use strata_integration::{run, Broker};

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const API_VERSIONS: i16 = 18;

fn connect(broker: &Broker) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&broker.addr(), Duration::from_secs(5))
        .context("connecting to the broker")?;
    stream.set_read_timeout(Some(CLOSE_TIMEOUT))?;
    stream.set_write_timeout(Some(CLOSE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A request header v1 (non-flexible) or v2 (flexible: adds empty tagged fields).
fn request_header(api_key: i16, api_version: i16, correlation_id: i32, flexible: bool) -> Vec<u8> {
    let client_id = b"strata-it";
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&api_version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    h.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    h.extend_from_slice(client_id);
    if flexible {
        h.push(0);
    }
    h
}

/// A compact string: unsigned varint (length + 1), then the bytes (all test strings < 127).
fn compact_string(s: &str) -> Vec<u8> {
    let mut v = vec![(s.len() + 1) as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// ApiVersions v3+ request body: client software name and version, empty tagged fields.
fn api_versions_v3_body() -> Vec<u8> {
    let mut b = compact_string("strata-it");
    b.extend(compact_string("1.0"));
    b.push(0);
    b
}

fn send_frame(stream: &mut TcpStream, payload: &[u8]) -> Result<()> {
    let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).context("sending a frame")
}

fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .context("reading a response size")?;
    let size = i32::from_be_bytes(size);
    ensure!(
        (0..=10_000_000).contains(&size),
        "response size {size} out of range"
    );
    let mut payload = vec![0u8; size as usize];
    stream
        .read_exact(&mut payload)
        .context("reading a response body")?;
    Ok(payload)
}

/// Fails unless the broker closes the connection within [`CLOSE_TIMEOUT`] without sending
/// anything.
fn expect_closed(stream: &mut TcpStream, what: &str) -> Result<()> {
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(n) => bail!(
            "{what}: expected the connection to close, got {n} bytes: {:?}",
            &buf[..n]
        ),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            bail!("{what}: the connection was still open after {CLOSE_TIMEOUT:?}")
        }
        Err(e) => bail!("{what}: unexpected read error {e}"),
    }
}

/// A little reader for response bodies.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos + n;
        let bytes = self
            .buf
            .get(self.pos..end)
            .with_context(|| format!("response truncated at byte {}", self.pos))?;
        self.pos = end;
        Ok(bytes)
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint too long")
    }

    /// Skips a tagged-fields section.
    fn tagged_fields(&mut self) -> Result<()> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let len = usize::try_from(self.uvarint()?)?;
            self.take(len)?;
        }
        Ok(())
    }

    fn ensure_consumed(&self, what: &str) -> Result<()> {
        ensure!(
            self.pos == self.buf.len(),
            "{what}: {} unexpected trailing bytes",
            self.buf.len() - self.pos
        );
        Ok(())
    }
}

/// (api key, min version, max version)
type ApiRange = (i16, i16, i16);

/// Decodes a v0 ApiVersions response (after the header): error code and ranges.
fn decode_api_versions_v0(c: &mut Cursor<'_>) -> Result<(i16, Vec<ApiRange>)> {
    let error = c.i16()?;
    let count = c.i32()?;
    ensure!((0..1000).contains(&count), "api_keys count {count}");
    let mut keys = Vec::new();
    for _ in 0..count {
        keys.push((c.i16()?, c.i16()?, c.i16()?));
    }
    c.ensure_consumed("ApiVersions v0 response")?;
    Ok((error, keys))
}

fn range_of(keys: &[ApiRange], key: i16) -> Option<(i16, i16)> {
    keys.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, min, max)| (*min, *max))
}

/// Sends ApiVersions v0 and returns the decoded answer.
fn api_versions_v0(stream: &mut TcpStream, correlation_id: i32) -> Result<(i16, Vec<ApiRange>)> {
    send_frame(
        stream,
        &request_header(API_VERSIONS, 0, correlation_id, false),
    )?;
    let response = read_frame(stream)?;
    let mut c = Cursor::new(&response);
    ensure!(
        c.i32()? == correlation_id,
        "ApiVersions v0: wrong correlation id"
    );
    decode_api_versions_v0(&mut c)
}

/// Fails unless a new connection gets a successful ApiVersions v0 answer.
fn ensure_alive(broker: &Broker) -> Result<()> {
    let mut stream = connect(broker).context("the broker no longer accepts connections")?;
    let (error, keys) = api_versions_v0(&mut stream, 4242)
        .context("the broker no longer answers ApiVersions on a new connection")?;
    ensure!(
        error == 0 && !keys.is_empty(),
        "ApiVersions v0 on a new connection: error {error}, {} keys",
        keys.len()
    );
    Ok(())
}

#[test]
fn oversized_frame_closes_the_connection() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&["--set", "socket.request.max.bytes=1048576"])?;
        let mut stream = connect(&broker)?;
        stream.write_all(&200_000_000i32.to_be_bytes())?;
        expect_closed(
            &mut stream,
            "size prefix 200000000 > socket.request.max.bytes",
        )?;
        ensure_alive(&broker)?;

        // Just over the limit: still refused.
        let mut stream = connect(&broker)?;
        stream.write_all(&(1_048_577i32).to_be_bytes())?;
        expect_closed(
            &mut stream,
            "size prefix 1048577 > socket.request.max.bytes",
        )?;
        ensure_alive(&broker)
    });
}

#[test]
fn negative_size_closes_the_connection() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&[])?;
        let mut stream = connect(&broker)?;
        stream.write_all(&(-1i32).to_be_bytes())?;
        expect_closed(&mut stream, "size prefix -1")?;
        ensure_alive(&broker)
    });
}

#[test]
fn garbage_closes_the_connection() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&[])?;

        // API key -1 and nonsense everywhere.
        let mut stream = connect(&broker)?;
        send_frame(&mut stream, &[0xff; 16])?;
        expect_closed(&mut stream, "16 bytes of 0xff")?;
        ensure_alive(&broker)?;

        // A header cut short: Metadata v1 with no correlation id.
        let mut stream = connect(&broker)?;
        send_frame(&mut stream, &[0, 3, 0, 1, 0, 0])?;
        expect_closed(&mut stream, "truncated request header")?;
        ensure_alive(&broker)?;

        // A client id longer than the frame.
        let mut stream = connect(&broker)?;
        let mut header = request_header(3, 1, 7, false);
        header.truncate(8);
        header.extend_from_slice(&1000i16.to_be_bytes());
        header.extend_from_slice(b"short");
        send_frame(&mut stream, &header)?;
        expect_closed(&mut stream, "client id length past the end of the frame")?;
        ensure_alive(&broker)?;

        // Half a frame, then the client stops sending.
        let mut stream = connect(&broker)?;
        stream.write_all(&100i32.to_be_bytes())?;
        stream.write_all(&[0u8; 10])?;
        stream.shutdown(Shutdown::Write)?;
        expect_closed(&mut stream, "frame cut short by the client")?;
        ensure_alive(&broker)
    });
}

#[test]
fn unsupported_api_versions_version_gets_error_35_in_v0_format() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&[])?;
        let mut stream = connect(&broker)?;
        let mut request = request_header(API_VERSIONS, 9, 99, true);
        request.extend(api_versions_v3_body());
        send_frame(&mut stream, &request)?;
        let response = read_frame(&mut stream)?;

        // Header v0: the correlation id only; body in the v0 format.
        let mut c = Cursor::new(&response);
        ensure!(c.i32()? == 99, "wrong correlation id");
        let (error, keys) = decode_api_versions_v0(&mut c)?;
        ensure!(
            error == 35,
            "error code {error}, expected 35 (UNSUPPORTED_VERSION)"
        );
        let range = range_of(&keys, API_VERSIONS);
        ensure!(
            matches!(range, Some((0, max)) if max >= 3),
            "ApiVersions range {range:?} in the error response (keys: {keys:?})"
        );

        // The connection stays usable: the client retries with a version it shares.
        let (error, _) = api_versions_v0(&mut stream, 100)?;
        ensure!(
            error == 0,
            "ApiVersions v0 after the v9 attempt: error {error}"
        );
        Ok(())
    });
}

#[test]
fn api_versions_v0_and_v3_advertise_what_clients_need() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&[])?;
        let mut stream = connect(&broker)?;
        let (error, v0_keys) = api_versions_v0(&mut stream, 1)?;
        ensure!(error == 0, "ApiVersions v0: error {error}");
        let mut sorted: Vec<i16> = v0_keys.iter().map(|k| k.0).collect();
        sorted.sort_unstable();
        sorted.dedup();
        ensure!(
            sorted.len() == v0_keys.len(),
            "duplicate api keys: {v0_keys:?}"
        );
        for (key, min, max) in &v0_keys {
            ensure!(0 <= *min && min <= max, "key {key}: bad range {min}..{max}");
        }
        let produce = range_of(&v0_keys, 0);
        ensure!(
            matches!(produce, Some((0, max)) if max >= 7),
            "Produce range {produce:?}: must start at 0 (old librdkafka) and reach 7"
        );
        let fetch = range_of(&v0_keys, 1);
        ensure!(
            matches!(fetch, Some((min, max)) if min <= 4 && max >= 11),
            "Fetch range {fetch:?}: must contain 4..11"
        );
        let api_versions = range_of(&v0_keys, API_VERSIONS);
        ensure!(
            matches!(api_versions, Some((0, max)) if max >= 3),
            "ApiVersions range {api_versions:?}"
        );
        let metadata = range_of(&v0_keys, 3);
        ensure!(
            matches!(metadata, Some((0, max)) if max >= 4),
            "Metadata range {metadata:?}"
        );

        // v3, as librdkafka sends it: flexible request header v2, response header still v0.
        let mut request = request_header(API_VERSIONS, 3, 2, true);
        request.extend(api_versions_v3_body());
        send_frame(&mut stream, &request)?;
        let response = read_frame(&mut stream)?;
        let mut c = Cursor::new(&response);
        ensure!(c.i32()? == 2, "ApiVersions v3: wrong correlation id");
        let error = c.i16()?;
        ensure!(error == 0, "ApiVersions v3: error {error}");
        let count = c.uvarint()?;
        ensure!(count >= 1, "ApiVersions v3: null api_keys array");
        let mut v3_keys = Vec::new();
        for _ in 0..count - 1 {
            v3_keys.push((c.i16()?, c.i16()?, c.i16()?));
            c.tagged_fields()?;
        }
        let throttle = c.i32()?;
        ensure!(throttle >= 0, "throttle_time_ms {throttle}");
        c.tagged_fields()?;
        c.ensure_consumed("ApiVersions v3 response")?;
        ensure!(
            v3_keys == v0_keys,
            "v3 and v0 advertise different ranges:\nv0 {v0_keys:?}\nv3 {v3_keys:?}"
        );
        Ok(())
    });
}
