//! One-line result formatting (`key=value` text or JSON) and small helpers
//! shared by the subcommands.

use std::fmt::Write as _;
use std::time::Duration;

/// An ordered list of result fields, printed on one line.
#[derive(Debug, Default)]
pub(crate) struct Report {
    fields: Vec<(&'static str, Value)>,
}

#[derive(Debug)]
enum Value {
    Int(u64),
    Float(f64, usize),
    Text(String),
}

impl Report {
    pub(crate) fn new(kind: &str) -> Self {
        let mut r = Report::default();
        r.text("kind", kind);
        r
    }

    pub(crate) fn int(&mut self, key: &'static str, v: u64) -> &mut Self {
        self.fields.push((key, Value::Int(v)));
        self
    }

    pub(crate) fn float(&mut self, key: &'static str, v: f64, decimals: usize) -> &mut Self {
        self.fields.push((key, Value::Float(v, decimals)));
        self
    }

    pub(crate) fn text(&mut self, key: &'static str, v: impl Into<String>) -> &mut Self {
        self.fields.push((key, Value::Text(v.into())));
        self
    }

    /// Adds `records_per_s` and `mb_per_s` (MB = 10^6 bytes).
    pub(crate) fn rates(&mut self, records: u64, bytes: u64, elapsed: Duration) -> &mut Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.int("records", records)
            .int("bytes", bytes)
            .float("elapsed_s", secs, 3)
            .float("records_per_s", records as f64 / secs, 0)
            .float("mb_per_s", bytes as f64 / secs / 1e6, 1)
    }

    /// Adds `bytes`, `elapsed_s` and `mb_per_s` (MB = 10^6 bytes).
    pub(crate) fn byte_rate(&mut self, bytes: u64, elapsed: Duration) -> &mut Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.int("bytes", bytes).float("elapsed_s", secs, 3).float(
            "mb_per_s",
            bytes as f64 / secs / 1e6,
            1,
        )
    }

    /// Adds this process's CPU time (user + system) spent since `since`
    /// (from [`cpu_time`]) and its average CPU use over `elapsed`.
    pub(crate) fn cpu(&mut self, since: Option<Duration>, elapsed: Duration) -> &mut Self {
        if let (Some(now), Some(since)) = (cpu_time(), since) {
            let cpu = now.saturating_sub(since);
            let pct = 100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            self.float("client_cpu_s", cpu.as_secs_f64(), 2)
                .float("client_cpu_pct", pct, 0);
        }
        self
    }

    pub(crate) fn print(&self, json: bool) {
        println!("{}", if json { self.to_json() } else { self.to_text() });
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = match v {
                Value::Int(n) => write!(out, "{k}={n}"),
                Value::Float(f, d) => write!(out, "{k}={f:.d$}"),
                Value::Text(s) => write!(out, "{k}={s}"),
            };
        }
        out
    }

    fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = match v {
                Value::Int(n) => write!(out, "\"{k}\":{n}"),
                Value::Float(f, d) => write!(out, "\"{k}\":{f:.d$}"),
                Value::Text(s) => write!(out, "\"{k}\":\"{}\"", s.escape_default()),
            };
        }
        out.push('}');
        out
    }
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux).
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line, i.e. 11 and 12 after `) `.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut it = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = it.next()?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    // CLK_TCK is 100 on every mainstream Linux configuration.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Microseconds as fractional milliseconds.
pub(crate) fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json() {
        let mut r = Report::new("produce");
        r.int("records", 3)
            .float("mb_per_s", 1.26, 1)
            .text("topic", "t");
        assert_eq!(r.to_text(), "kind=produce records=3 mb_per_s=1.3 topic=t");
        assert_eq!(
            r.to_json(),
            r#"{"kind":"produce","records":3,"mb_per_s":1.3,"topic":"t"}"#
        );
    }

    #[test]
    fn cpu_time_is_readable() {
        assert!(cpu_time().is_some());
    }
}
