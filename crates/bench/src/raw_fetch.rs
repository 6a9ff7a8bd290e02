//! `raw-fetch`: a minimal Fetch v4 client over a blocking socket, for
//! measuring the broker's fetch path without librdkafka's per-record cost.
//! It reads whole responses and walks only the record-batch headers (to count
//! records and find the next offset); record contents are never decoded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _};

use crate::cli::RawFetchArgs;
use crate::report::{cpu_time, Report};

const FETCH_KEY: i16 = 1;
const FETCH_VERSION: i16 = 4;
/// Bytes of a v2 record-batch header up to and including the record count.
const BATCH_HEADER: usize = 61;

pub(crate) fn run(args: &RawFetchArgs) -> anyhow::Result<()> {
    let mut sock = TcpStream::connect(&args.target.bootstrap_server)
        .with_context(|| format!("connecting to {}", args.target.bootstrap_server))?;
    sock.set_nodelay(true)?;
    let mut buf = Vec::new();
    let mut offset = 0i64;
    let (mut records, mut wire_bytes, mut responses) = (0u64, 0u64, 0u64);
    let cpu0 = cpu_time();
    let start = Instant::now();
    while records < args.records {
        let request = fetch_request(responses as i32, args, offset);
        sock.write_all(&request)?;
        let mut len = [0u8; 4];
        sock.read_exact(&mut len)?;
        buf.resize(i32::from_be_bytes(len).max(0) as usize, 0);
        sock.read_exact(&mut buf)?;
        responses += 1;
        let batches = batches_in(&buf).context("parsing fetch response")?;
        ensure!(
            batches.count > 0,
            "no complete batch at offset {offset} (have {records} of {} records)",
            args.records
        );
        records += batches.records;
        wire_bytes += batches.bytes;
        offset = batches.next_offset;
    }
    let elapsed = start.elapsed();
    let mut report = Report::new("raw-fetch");
    report
        .text("topic", &args.target.topic)
        .rates(records, wire_bytes, elapsed)
        .int("responses", responses)
        .cpu(cpu0, elapsed);
    report.print(args.json);
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A size-prefixed Fetch v4 request for one partition.
fn fetch_request(correlation_id: i32, args: &RawFetchArgs, offset: i64) -> Vec<u8> {
    let max = args.fetch_max_bytes as i32;
    let mut b = vec![0u8; 4];
    b.extend_from_slice(&FETCH_KEY.to_be_bytes());
    b.extend_from_slice(&FETCH_VERSION.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    put_str(&mut b, "strata-loadgen-raw");
    b.extend_from_slice(&(-1i32).to_be_bytes()); // replica_id
    b.extend_from_slice(&500i32.to_be_bytes()); // max_wait_ms
    b.extend_from_slice(&1i32.to_be_bytes()); // min_bytes
    b.extend_from_slice(&max.to_be_bytes()); // max_bytes
    b.push(0); // isolation_level: read uncommitted
    b.extend_from_slice(&1i32.to_be_bytes()); // one topic
    put_str(&mut b, &args.target.topic);
    b.extend_from_slice(&1i32.to_be_bytes()); // one partition
    b.extend_from_slice(&args.target.partition.to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&max.to_be_bytes()); // partition_max_bytes
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b
}

#[derive(Debug, Default, PartialEq)]
struct Batches {
    count: u64,
    records: u64,
    bytes: u64,
    next_offset: i64,
}

/// Big-endian cursor over a response body.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        ensure!(self.0.len() >= n, "response truncated");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i16(&mut self) -> anyhow::Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }
    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }
}

/// Complete record batches of the first partition of a Fetch v4 response
/// (after the size prefix).
fn batches_in(resp: &[u8]) -> anyhow::Result<Batches> {
    let mut c = Cursor(resp);
    c.take(4)?; // correlation id
    c.take(4)?; // throttle_time_ms
    ensure!(c.i32()? >= 1, "no topic in response");
    let name_len = c.i16()?.max(0) as usize;
    c.take(name_len)?;
    ensure!(c.i32()? >= 1, "no partition in response");
    c.take(4)?; // partition index
    let error = c.i16()?;
    if error != 0 {
        bail!("fetch error code {error}");
    }
    c.take(16)?; // high watermark, last stable offset
    let aborted = c.i32()?;
    c.take(aborted.max(0) as usize * 16)?;
    let len = c.i32()?.max(0) as usize;
    let mut records = c.take(len)?;
    let mut out = Batches::default();
    while records.len() >= BATCH_HEADER {
        let base = i64::from_be_bytes(records[0..8].try_into()?);
        let size = 12 + i32::from_be_bytes(records[8..12].try_into()?).max(0) as usize;
        if size > records.len() {
            break; // partial batch at the end of the response
        }
        let last_delta = i32::from_be_bytes(records[23..27].try_into()?);
        let count = i32::from_be_bytes(records[57..61].try_into()?);
        out.count += 1;
        out.records += count.max(0) as u64;
        out.bytes += size as u64;
        out.next_offset = base + i64::from(last_delta) + 1;
        records = &records[size..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: i64, last_delta: i32, count: i32, body: usize) -> Vec<u8> {
        let mut b = vec![0u8; BATCH_HEADER + body];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&((BATCH_HEADER + body - 12) as i32).to_be_bytes());
        b[23..27].copy_from_slice(&last_delta.to_be_bytes());
        b[57..61].copy_from_slice(&count.to_be_bytes());
        b
    }

    #[test]
    fn walks_batches_and_ignores_partial_tail() {
        let mut records = batch(0, 9, 10, 100);
        records.extend(batch(10, 4, 5, 50));
        records.extend(&batch(15, 0, 1, 10)[..30]);
        let mut resp = vec![0u8; 8];
        resp.extend_from_slice(&1i32.to_be_bytes());
        resp.extend_from_slice(&1i16.to_be_bytes());
        resp.push(b't');
        resp.extend_from_slice(&1i32.to_be_bytes());
        resp.extend_from_slice(&[0u8; 4 + 2 + 16]);
        resp.extend_from_slice(&0i32.to_be_bytes());
        resp.extend_from_slice(&(records.len() as i32).to_be_bytes());
        resp.extend_from_slice(&records);
        let got = batches_in(&resp).unwrap();
        assert_eq!(
            got,
            Batches {
                count: 2,
                records: 15,
                bytes: (2 * BATCH_HEADER + 150) as u64,
                next_offset: 15
            }
        );
    }
}
