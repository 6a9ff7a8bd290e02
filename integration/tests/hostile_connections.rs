//! Bounded memory and time under hostile connections, against the real binary over raw TCP.
//!
//! - 100 connections each announce a 100 MiB request, send a few bytes and stall: the broker's
//!   resident memory stays under 64 MiB (it never allocates the announced size), and a normal
//!   client is still answered meanwhile.
//! - `queued.max.request.bytes`: when clients really send more than the budget, the broker stops
//!   reading; in-flight request bytes stay within budget + one frame, and return to 0.
//! - `max.connections.per.ip` and `max.connections` close the connection above the limit at once
//!   (no answer), count it in `strata_connections_rejected_total{reason}`, and free the place when
//!   a connection leaves; other addresses are not affected by one address's limit.
//! - `strata.request.read.timeout.ms` cuts a connection that stalls inside a frame (in the size
//!   prefix or in the body); `connections.max.idle.ms` closes one that starts no request.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use strata_integration::broker::free_port;
use strata_integration::prom::metric;
use strata_integration::{run, Broker};

const API_VERSIONS: i16 = 18;
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const MIB: usize = 1 << 20;

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).context("connecting")?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects from a chosen loopback source address (e.g. 127.0.0.2).
async fn connect_from(source: &str, addr: SocketAddr) -> Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse()?)?;
    let stream = tokio::time::timeout(IO_TIMEOUT, socket.connect(addr))
        .await
        .context("connect timed out")??;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// ApiVersions v0: header v1 with client id "hostile-it", empty body.
fn api_versions_request(correlation_id: i32) -> Vec<u8> {
    let client_id = b"hostile-it";
    let mut h = Vec::new();
    h.extend_from_slice(&API_VERSIONS.to_be_bytes());
    h.extend_from_slice(&0i16.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    h.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    h.extend_from_slice(client_id);
    h
}

/// Sends ApiVersions v0 and checks the answer: same correlation id, error code 0, and an entry
/// for ApiVersions itself.
fn api_versions_ok(stream: &mut TcpStream, correlation_id: i32) -> Result<()> {
    let payload = api_versions_request(correlation_id);
    let mut frame = (payload.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    stream.write_all(&frame).context("sending ApiVersions")?;
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .context("reading a response size")?;
    let size = i32::from_be_bytes(size);
    ensure!((10..100_000).contains(&size), "response size {size}");
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body).context("reading a response")?;
    ensure!(
        i32::from_be_bytes(body[0..4].try_into()?) == correlation_id,
        "wrong correlation id"
    );
    ensure!(
        i16::from_be_bytes(body[4..6].try_into()?) == 0,
        "ApiVersions error code {}",
        i16::from_be_bytes(body[4..6].try_into()?)
    );
    let count = i32::from_be_bytes(body[6..10].try_into()?);
    ensure!(
        (1..1000).contains(&count) && body.len() == 10 + 6 * count as usize,
        "api_keys count {count} for a body of {}",
        body.len()
    );
    let has_api_versions = body[10..]
        .chunks(6)
        .any(|k| i16::from_be_bytes([k[0], k[1]]) == API_VERSIONS);
    ensure!(has_api_versions, "ApiVersions missing from its own answer");
    Ok(())
}

/// Fails unless the broker closes the connection within [`IO_TIMEOUT`] without answering.
fn expect_closed(stream: &mut TcpStream, what: &str) -> Result<()> {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(n) => bail!("{what}: expected a close, got {n} bytes"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            bail!("{what}: still open after {IO_TIMEOUT:?}")
        }
        Err(e) => bail!("{what}: unexpected read error {e}"),
    }
}

/// Fails if the broker closed the connection or sent anything within `wait`.
fn expect_open(stream: &mut TcpStream, wait: Duration, what: &str) -> Result<()> {
    stream.set_read_timeout(Some(wait))?;
    let mut buf = [0u8; 64];
    let r = stream.read(&mut buf);
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    match r {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        Ok(0) => bail!("{what}: closed by the broker"),
        Ok(n) => bail!("{what}: unexpected {n} bytes"),
        Err(e) => bail!("{what}: {e}"),
    }
}

/// A kB figure from /proc/PID/status (`VmRSS`, `VmHWM`).
fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .with_context(|| format!("{field} not in /proc/{pid}/status"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?;
    Ok(kib)
}

/// Polls `f` every 50 ms until it returns true, or fails after `limit`.
async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if f()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_with_metrics(settings: &[&str]) -> Result<(Broker, u16)> {
    start_with_metrics_env(settings, &[])
}

fn start_with_metrics_env(settings: &[&str], env: &[(String, String)]) -> Result<(Broker, u16)> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut args: Vec<&str> = Vec::new();
    for s in settings {
        args.extend(["--set", s]);
    }
    args.extend(["--metrics-listen", &listen]);
    let broker = Broker::start_with_env(&args, env)?;
    Ok((broker, port))
}

/// Waits until the broker has no connection (the harness's readiness probe has been closed), so
/// connection counts start from zero.
/// Waits until the broker holds no connection. A served request first: the harness's readiness
/// probe may still sit in the accept queue, and the listener accepts in order, so once this
/// request is answered the probe has been accepted (and counted) too.
async fn no_connections(broker: &Broker, metrics: u16) -> Result<()> {
    let mut s = connect(broker.addr())?;
    api_versions_ok(&mut s, 0)?;
    drop(s);
    wait_for("no connections", Duration::from_secs(10), || {
        Ok(metric(metrics, "strata_connections")? == 0.0)
    })
    .await
}

#[test]
fn stalled_100_mib_announcements_cost_little_memory() {
    run(Duration::from_secs(60), async {
        // The broker turns transparent huge pages off for itself at start (prctl
        // PR_SET_THP_DISABLE): with them, mimalloc's mostly empty arenas sat near 70 MiB idle.
        // Measured with the broker's own defaults, so the absolute target below is meaningful.
        let (broker, metrics) =
            start_with_metrics_env(&["socket.request.max.bytes=209715200"], &[])?;
        no_connections(&broker, metrics).await?;
        let pid = broker.pid().context("broker pid")?;
        let mut probe = connect(broker.addr())?;
        api_versions_ok(&mut probe, 1)?;
        let before = proc_status_kib(pid, "VmRSS")?;

        // 100 connections: a 100 MiB size prefix, then the first 14 bytes of a request header.
        let mut hostile = Vec::new();
        for i in 0..100 {
            let mut s = connect(broker.addr())?;
            let mut bytes = (100 * MIB as i32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&api_versions_request(1000 + i)[..14]);
            s.write_all(&bytes)?;
            hostile.push(s);
        }
        wait_for("101 connections", Duration::from_secs(10), || {
            Ok(metric(metrics, "strata_connections")? == 101.0)
        })
        .await?;
        // Every stalled frame has been read as far as it goes: each holds what it sent plus one
        // small read's charge (4 KiB), not 100 MiB.
        wait_for(
            "the stalled frames' bytes read",
            Duration::from_secs(10),
            || {
                let in_flight = metric(metrics, "strata_request_bytes_in_flight")?;
                Ok(in_flight >= 100.0 * 14.0)
            },
        )
        .await?;
        let in_flight = metric(metrics, "strata_request_bytes_in_flight")?;
        ensure!(
            in_flight <= 100.0 * (14.0 + 4096.0),
            "in-flight request bytes {in_flight}"
        );

        // A normal client is served meanwhile, on a new connection and on an old one.
        let mut normal = connect(broker.addr())?;
        api_versions_ok(&mut normal, 7)?;
        api_versions_ok(&mut probe, 2)?;

        let rss = proc_status_kib(pid, "VmRSS")?;
        let hwm = proc_status_kib(pid, "VmHWM")?;
        eprintln!(
            "broker RSS: {before} KiB before, {rss} KiB with 100 stalled 100 MiB frames \
             (peak {hwm} KiB); in-flight request bytes {in_flight}"
        );
        // The bound was 64 MiB before the metadata quorum; with openraft and the gRPC stack
        // (tonic, hyper, h2) linked and running, an idle debug-build broker measured 65 MiB here,
        // and 71-72 MiB once arrow and parquet (the Parquet archive) were linked in. Buffering
        // the frames would take 10 GB; the growth bound below is the tight one.
        ensure!(
            rss < 96 * 1024,
            "RSS {rss} KiB with 100 stalled frames (was {before} KiB)"
        );
        ensure!(
            rss.saturating_sub(before) < 16 * 1024,
            "100 stalled frames cost {} KiB",
            rss - before
        );
        // The stalled connections are still open (read timeout 30 s by default).
        for (i, s) in hostile.iter_mut().enumerate().step_by(25) {
            expect_open(
                s,
                Duration::from_millis(10),
                &format!("stalled connection {i}"),
            )?;
        }
        drop(hostile);
        wait_for("stalled frames released", Duration::from_secs(10), || {
            Ok(metric(metrics, "strata_request_bytes_in_flight")? == 0.0)
        })
        .await?;
        Ok(())
    });
}

#[test]
fn request_budget_stops_reading_when_spent() {
    run(Duration::from_secs(60), async {
        const BUDGET: usize = 4 * MIB;
        const FRAME: usize = 2 * MIB;
        let budget = format!("queued.max.request.bytes={BUDGET}");
        let (broker, metrics) = start_with_metrics_env(&[&budget], &[])?;
        let pid = broker.pid().context("broker pid")?;
        let before = proc_status_kib(pid, "VmRSS")?;
        // 8 clients each send all but the last byte of a 2 MiB frame (16 MiB in all) from their
        // own threads; the broker reads only about budget + one frame of it.
        let addr = broker.addr();
        let mut senders = Vec::new();
        for _ in 0..8 {
            senders.push(std::thread::spawn(move || -> Result<TcpStream> {
                let mut s = connect(addr)?;
                s.set_write_timeout(Some(Duration::from_secs(20)))?;
                let mut bytes = (FRAME as i32).to_be_bytes().to_vec();
                bytes.extend_from_slice(&api_versions_request(9)[..14]);
                bytes.resize(4 + FRAME - 1, 0);
                // Writes past what the broker reads land in kernel socket buffers (loopback
                // buffers hold a few MiB), so each 2 MiB write completes.
                s.write_all(&bytes)?;
                Ok(s)
            }));
        }
        let mut streams = Vec::new();
        for t in senders {
            streams.push(t.join().map_err(|_| anyhow::anyhow!("sender panicked"))??);
        }
        // Let the broker read what it will.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let in_flight = metric(metrics, "strata_request_bytes_in_flight")?;
        let rss = proc_status_kib(pid, "VmRSS")?;
        eprintln!(
            "budget {BUDGET}: in-flight {in_flight} of 16 MiB sent; RSS {before} -> {rss} KiB"
        );
        ensure!(
            in_flight >= (BUDGET - 256 * 1024) as f64,
            "the broker should read up to its budget, read {in_flight}"
        );
        ensure!(
            in_flight <= (BUDGET + FRAME) as f64,
            "in-flight {in_flight} above budget + one frame"
        );
        // Memory follows what was read, not the 16 MiB sent (without a budget the broker would
        // hold all of it).
        ensure!(
            rss.saturating_sub(before) < 16 * 1024,
            "RSS grew by {} KiB",
            rss - before
        );
        // Clients leave: their frames are released.
        drop(streams);
        wait_for("in-flight 0", Duration::from_secs(10), || {
            Ok(metric(metrics, "strata_request_bytes_in_flight")? == 0.0)
        })
        .await?;
        let mut normal = connect(broker.addr())?;
        api_versions_ok(&mut normal, 3)?;
        Ok(())
    });
}

#[test]
fn connection_limits_refuse_at_once_and_free_places() {
    run(Duration::from_secs(60), async {
        let (broker, metrics) = start_with_metrics(&["max.connections.per.ip=3"])?;
        no_connections(&broker, metrics).await?;
        let addr = broker.addr();
        let mut first = Vec::new();
        for i in 0..3 {
            let mut s = connect(addr)?;
            api_versions_ok(&mut s, i)?;
            first.push(s);
        }
        let mut fourth = connect(addr)?;
        expect_closed(&mut fourth, "4th connection from 127.0.0.1")?;
        ensure!(
            metric(
                metrics,
                "strata_connections_rejected_total{reason=\"max_connections_per_ip\"}"
            )? == 1.0,
            "one per-IP rejection counted"
        );
        // Another address has its own count.
        let mut other = connect_from("127.0.0.2", addr).await?;
        api_versions_ok(&mut other, 40)?;
        // A connection leaving frees its place.
        drop(first.pop());
        wait_for("a freed place", Duration::from_secs(10), || {
            let mut s = connect(addr)?;
            Ok(api_versions_ok(&mut s, 50).is_ok())
        })
        .await?;
        for (i, s) in first.iter_mut().enumerate() {
            api_versions_ok(s, 60 + i as i32)?;
        }
        drop(broker);

        let (broker, metrics) = start_with_metrics(&["max.connections=2"])?;
        no_connections(&broker, metrics).await?;
        let mut a = connect(broker.addr())?;
        let mut b = connect_from("127.0.0.2", broker.addr()).await?;
        api_versions_ok(&mut a, 1)?;
        api_versions_ok(&mut b, 2)?;
        let mut c = connect_from("127.0.0.3", broker.addr()).await?;
        expect_closed(&mut c, "3rd connection with max.connections=2")?;
        ensure!(
            metric(
                metrics,
                "strata_connections_rejected_total{reason=\"max_connections\"}"
            )? == 1.0,
            "one max.connections rejection counted"
        );
        api_versions_ok(&mut a, 3)?;
        Ok(())
    });
}

#[test]
fn stalled_frames_and_idle_connections_are_cut() {
    run(Duration::from_secs(60), async {
        let (broker, metrics) = start_with_metrics(&[
            "strata.request.read.timeout.ms=1000",
            "connections.max.idle.ms=2500",
        ])?;
        let addr = broker.addr();
        // Stalls inside the size prefix, and inside the body.
        let mut in_prefix = connect(addr)?;
        in_prefix.write_all(&[0, 0])?;
        let mut in_body = connect(addr)?;
        in_body.write_all(&1000i32.to_be_bytes())?;
        in_body.write_all(&api_versions_request(1)[..14])?;
        // Starts nothing: only the idle timeout applies to it.
        let mut quiet = connect(addr)?;
        let started = Instant::now();
        expect_open(
            &mut in_body,
            Duration::from_millis(300),
            "stalled body before the timeout",
        )?;
        expect_closed(&mut in_prefix, "stalled in the size prefix")?;
        expect_closed(&mut in_body, "stalled in the body")?;
        ensure!(
            started.elapsed() < Duration::from_millis(2500),
            "read timeout cut took {:?}",
            started.elapsed()
        );
        ensure!(
            metric(
                metrics,
                "strata_connections_closed_total{reason=\"read_timeout\"}"
            )? == 2.0,
            "two read-timeout cuts counted"
        );
        // The quiet connection outlived the read timeout, and is served.
        api_versions_ok(&mut quiet, 2)?;
        // A connection that keeps sending requests is not idle.
        let mut busy = connect(addr)?;
        for i in 0..8 {
            api_versions_ok(&mut busy, 100 + i)?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // `quiet` has now been silent for about 4 s since its last request: closed as idle.
        expect_closed(&mut quiet, "idle connection")?;
        api_versions_ok(&mut busy, 200)?;
        ensure!(
            metric(metrics, "strata_connections_closed_total{reason=\"idle\"}")? >= 1.0,
            "idle close counted"
        );
        Ok(())
    });
}
