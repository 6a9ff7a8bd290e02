//! Group ids and other stored strings over raw frames: flexible request versions carry compact
//! strings longer than the 32767 bytes `__consumer_offsets` stores, and the broker refuses them
//! with Kafka's codes instead of cutting them (docs/groups.md, "Input limits"), then keeps
//! serving the same connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use strata_integration::{run, Broker};

const JOIN_GROUP: i16 = 11;
const OFFSET_COMMIT: i16 = 8;
const INVALID_GROUP_ID: i16 = 24;
const INVALID_REQUEST: i16 = 42;
const MEMBER_ID_REQUIRED: i16 = 79;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const FIND_COORDINATOR: i16 = 10;

/// FindCoordinator v0 for `group` (request header v1); its answer's error code follows the
/// correlation id.
fn find_coordinator(correlation_id: i32, group: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&FIND_COORDINATOR.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&9i16.to_be_bytes());
    b.extend_from_slice(b"strata-it");
    b.extend_from_slice(&(group.len() as i16).to_be_bytes());
    b.extend_from_slice(group.as_bytes());
    b
}

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn compact_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            uvarint(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Request header v2 (flexible).
fn header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    h.extend_from_slice(&9i16.to_be_bytes());
    h.extend_from_slice(b"strata-it");
    h.push(0);
    h
}

/// JoinGroup v9 with one protocol `range`.
fn join_group(correlation_id: i32, group: &str, instance: Option<&str>) -> Vec<u8> {
    let mut b = header(JOIN_GROUP, 9, correlation_id);
    compact_str(&mut b, Some(group));
    b.extend_from_slice(&10_000i32.to_be_bytes());
    b.extend_from_slice(&10_000i32.to_be_bytes());
    compact_str(&mut b, Some(""));
    compact_str(&mut b, instance);
    compact_str(&mut b, Some("consumer"));
    uvarint(&mut b, 2); // one protocol
    compact_str(&mut b, Some("range"));
    uvarint(&mut b, 3); // metadata: 2 bytes
    b.extend_from_slice(&[0, 0]);
    b.push(0);
    compact_str(&mut b, None); // reason
    b.push(0);
    b
}

/// OffsetCommit v8, one partition of topic `t`.
fn offset_commit(correlation_id: i32, group: &str) -> Vec<u8> {
    let mut b = header(OFFSET_COMMIT, 8, correlation_id);
    compact_str(&mut b, Some(group));
    b.extend_from_slice(&(-1i32).to_be_bytes());
    compact_str(&mut b, Some(""));
    compact_str(&mut b, None);
    uvarint(&mut b, 2);
    compact_str(&mut b, Some("t"));
    uvarint(&mut b, 2);
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&5i64.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    compact_str(&mut b, Some(""));
    b.push(0);
    b.push(0);
    b.push(0);
    b
}

fn exchange(stream: &mut TcpStream, payload: &[u8]) -> Result<Vec<u8>> {
    let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).context("reading a response")?;
    let size = i32::from_be_bytes(size);
    ensure!((8..10_000_000).contains(&size), "response size {size}");
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// The JoinGroup v9 error code: after correlation id, empty tagged fields and throttle time.
fn join_error(body: &[u8]) -> Result<i16> {
    ensure!(
        body[4] == 0,
        "unexpected tagged fields in the response header"
    );
    Ok(i16::from_be_bytes([body[9], body[10]]))
}

/// The only partition's error code of an OffsetCommit v8 answer for topic `t`.
fn commit_error(body: &[u8]) -> Result<i16> {
    // corr id (4), header tags (1), throttle (4), topics (1 = one), name "t" (2), partitions
    // (1 = one), partition index (4), then the error code.
    ensure!(body.len() >= 19 && body[9] == 2 && body[10] == 2 && body[12] == 2);
    Ok(i16::from_be_bytes([body[17], body[18]]))
}

#[test]
fn over_long_group_strings_are_refused_not_cut() {
    run(Duration::from_secs(60), async {
        let broker = Broker::start(&[])?;
        let mut stream = TcpStream::connect(broker.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        // 20000 two-byte characters: 40000 bytes, more than an int16 string holds.
        let long = "é".repeat(20_000);

        // As a client does: FindCoordinator first (the first one creates __consumer_offsets
        // and is answered COORDINATOR_NOT_AVAILABLE until it exists).
        let mut found = false;
        for attempt in 0..100 {
            let body = exchange(&mut stream, &find_coordinator(1000 + attempt, "ok"))?;
            let code = i16::from_be_bytes([body[4], body[5]]);
            if code == COORDINATOR_NOT_AVAILABLE {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            ensure!(code == 0, "FindCoordinator answered {code}");
            found = true;
            break;
        }
        ensure!(found, "no group coordinator within 10 s");

        // A group id that fits, first: MEMBER_ID_REQUIRED once the coordinator has loaded.
        let mut loaded = false;
        for attempt in 0..100 {
            let code = join_error(&exchange(&mut stream, &join_group(attempt, "ok", None))?)?;
            if code == COORDINATOR_LOAD_IN_PROGRESS || code == NOT_COORDINATOR {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            ensure!(code == MEMBER_ID_REQUIRED, "JoinGroup answered {code}");
            loaded = true;
            break;
        }
        if !loaded {
            bail!("the group coordinator never finished loading");
        }

        let code = join_error(&exchange(&mut stream, &join_group(200, &long, None))?)?;
        ensure!(code == INVALID_GROUP_ID, "40000-byte group id: {code}");
        let code = join_error(&exchange(&mut stream, &join_group(201, "g", Some(&long)))?)?;
        ensure!(
            code == INVALID_REQUEST,
            "40000-byte group.instance.id: {code}"
        );
        let code = commit_error(&exchange(&mut stream, &offset_commit(202, &long))?)?;
        ensure!(
            code == INVALID_GROUP_ID,
            "OffsetCommit, 40000-byte group id: {code}"
        );

        // The same connection keeps working.
        let code = join_error(&exchange(&mut stream, &join_group(203, "ok", None))?)?;
        ensure!(code == MEMBER_ID_REQUIRED, "JoinGroup answered {code}");
        Ok(())
    });
}
