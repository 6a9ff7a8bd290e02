//! Frame caps on a SASL listener (issue 13, hostile input): before a client has authenticated,
//! a frame larger than `sasl.server.max.receive.size` is refused by its size prefix alone and
//! the connection is closed at once, while the same prefix on the PLAINTEXT listener (capped
//! by `socket.request.max.bytes`) is accepted and the broker waits for its body. The broker
//! keeps serving afterwards.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use strata_integration::broker::free_port;
use strata_integration::Broker;

/// Writes a size prefix of `size` and the first bytes of a SaslHandshake v1 header, then
/// reports whether the broker closed the connection within `wait`.
fn closed_after_prefix(addr: &str, size: i32, wait: Duration) -> Result<bool> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut frame = size.to_be_bytes().to_vec();
    frame.extend_from_slice(&17i16.to_be_bytes()); // SaslHandshake
    frame.extend_from_slice(&1i16.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    s.write_all(&frame)?;
    closed_within(&mut s, wait)
}

/// True if the broker closes `s` (EOF or reset) within `wait`; `s` must have a short read
/// timeout.
fn closed_within(s: &mut TcpStream, wait: Duration) -> Result<bool> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// One request frame: header v1 (`key`, `version`, correlation id 1, null client id) + body.
fn request(key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut req = Vec::new();
    req.extend_from_slice(&key.to_be_bytes());
    req.extend_from_slice(&version.to_be_bytes());
    req.extend_from_slice(&1i32.to_be_bytes());
    req.extend_from_slice(&(-1i16).to_be_bytes());
    req.extend_from_slice(body);
    let mut frame = (req.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&req);
    frame
}

/// The body of the next response frame.
fn response(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// Logs in with PLAIN (SaslHandshake v1, SaslAuthenticate v1), then writes a `size` prefix and
/// reports whether the broker closed the connection within 1.5 s.
fn authenticated_then_large_prefix(addr: &str, size: i32) -> Result<bool> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mechanism = b"PLAIN";
    let mut body = (mechanism.len() as i16).to_be_bytes().to_vec();
    body.extend_from_slice(mechanism);
    s.write_all(&request(17, 1, &body))?;
    let handshake = response(&mut s)?;
    ensure!(handshake[4..6] == [0, 0], "SaslHandshake failed");
    let token = b"\0admin\0admin-secret";
    let mut body = (token.len() as i32).to_be_bytes().to_vec();
    body.extend_from_slice(token);
    s.write_all(&request(36, 1, &body))?;
    let auth = response(&mut s)?;
    ensure!(
        auth[4..6] == [0, 0],
        "SaslAuthenticate failed: {:?}",
        &auth[4..6]
    );
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut frame = size.to_be_bytes().to_vec();
    frame.extend_from_slice(&0i16.to_be_bytes()); // Produce
    frame.extend_from_slice(&9i16.to_be_bytes());
    s.write_all(&frame)?;
    closed_within(&mut s, Duration::from_millis(1500))
}

#[test]
fn oversized_frames_before_sasl_authentication_close_the_connection() -> Result<()> {
    let (plain, sasl) = (free_port()?, free_port()?);
    let listen = format!("127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}");
    let broker = Broker::start_listeners(
        &listen,
        &[
            "--set",
            "sasl.server.max.receive.size=65536",
            "--add-scram",
            "SCRAM-SHA-256=[name=admin,password=admin-secret]",
        ],
    )?;
    let (plain_addr, sasl_addr) = (format!("127.0.0.1:{plain}"), format!("127.0.0.1:{sasl}"));
    // 1 MiB is over the SASL cap (64 KiB here) but under socket.request.max.bytes (100 MiB).
    ensure!(
        closed_after_prefix(&sasl_addr, 1 << 20, Duration::from_secs(5))?,
        "a 1 MiB frame before authentication was not refused on the SASL listener"
    );
    ensure!(
        !closed_after_prefix(&plain_addr, 1 << 20, Duration::from_millis(1500))?,
        "the PLAINTEXT listener refused a frame under socket.request.max.bytes"
    );
    // A frame under the cap is read (the broker waits for its body rather than closing).
    ensure!(
        !closed_after_prefix(&sasl_addr, 1000, Duration::from_millis(1500))?,
        "a small frame before authentication was refused"
    );
    // After a PLAIN login the full socket.request.max.bytes applies again.
    ensure!(
        !authenticated_then_large_prefix(&sasl_addr, 1 << 20)?,
        "a 1 MiB frame after authentication was refused"
    );
    // Still serving: a fresh connection gets an ApiVersions answer on both listeners.
    for addr in [&plain_addr, &sasl_addr] {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut req = Vec::new();
        req.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
        req.extend_from_slice(&0i16.to_be_bytes());
        req.extend_from_slice(&7i32.to_be_bytes());
        req.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        let mut frame = (req.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&req);
        s.write_all(&frame)?;
        let mut size = [0u8; 4];
        s.read_exact(&mut size)?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        s.read_exact(&mut body)?;
        ensure!(
            body[..4] == 7i32.to_be_bytes(),
            "wrong correlation id from {addr}"
        );
        ensure!(body[4..6] == [0, 0], "ApiVersions error from {addr}");
    }
    drop(broker);
    Ok(())
}
