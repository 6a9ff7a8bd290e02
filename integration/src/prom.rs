//! Reading the broker's Prometheus endpoint (`--metrics-listen`) in scenario tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};

/// The whole `/metrics` page.
pub fn scrape(port: u16) -> Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).context("connecting to /metrics")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// The value of one series (`name` or `name{labels…}` exactly as exported), 0 if absent.
pub fn metric(port: u16, series: &str) -> Result<f64> {
    let body = scrape(port)?;
    for line in body.lines() {
        if let Some(v) = line.strip_prefix(series).and_then(|r| r.strip_prefix(' ')) {
            return Ok(v.trim().parse()?);
        }
    }
    Ok(0.0)
}

/// `series` on the metrics port once two reads 300 ms apart agree (requests or connections of
/// clients that just exited may still be in flight); fails after `tries` reads that moved.
pub async fn settled_metric(port: u16, series: &str, tries: usize) -> Result<f64> {
    let mut last = metric(port, series)?;
    for _ in 0..tries {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = metric(port, series)?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    anyhow::bail!("{series} still moving: {last}")
}
