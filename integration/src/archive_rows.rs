//! Archive rows (Parquet or JSON Lines, `strata_archive`'s schema) as the Python readers print
//! them, and their comparison with what a consumer read.
//!
//! A reader prints one `ROW <offset> <timestamp ms> <timestamp_type> <partition> <key> <value>
//! [<headers>]` line per row: a byte string as `=<hex>`, null as `-`; headers as
//! `<hex key>:<value>` joined by commas.

use anyhow::{ensure, Context, Result};

use crate::client::Record;

/// One archive row as a reader prints it (byte strings hex-encoded, `None` = null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    /// Offset.
    pub offset: i64,
    /// Timestamp, ms.
    pub timestamp: i64,
    /// 0 CreateTime, 1 LogAppendTime.
    pub timestamp_type: i8,
    /// Partition.
    pub partition: i32,
    /// Key, hex.
    pub key: Option<String>,
    /// Value, hex.
    pub value: Option<String>,
    /// Headers: UTF-8 key, hex value.
    pub headers: Vec<(String, Option<String>)>,
}

/// `=<hex>` or `-`.
fn field(s: &str) -> Result<Option<String>> {
    match s {
        "-" => Ok(None),
        _ => Ok(Some(s.strip_prefix('=').context("byte field")?.to_string())),
    }
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses the part of a `ROW` line after `ROW `.
pub fn parse_row(line: &str) -> Result<ArchiveRow> {
    let f: Vec<&str> = line.split(' ').collect();
    ensure!(f.len() == 7, "ROW line: {line}");
    let headers = f[6]
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .context("headers")?;
    let headers = if headers.is_empty() {
        Vec::new()
    } else {
        headers
            .split(',')
            .map(|h| {
                let (k, v) = h.split_once(':').context("header")?;
                let k = (0..k.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&k[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()?;
                Ok((String::from_utf8(k)?, field(v)?))
            })
            .collect::<Result<Vec<_>>>()?
    };
    Ok(ArchiveRow {
        offset: f[0].parse()?,
        timestamp: f[1].parse()?,
        timestamp_type: f[2].parse()?,
        partition: f[3].parse()?,
        key: field(f[4])?,
        value: field(f[5])?,
        headers,
    })
}

/// Fails unless `row` is what the consumer read as `c` (CreateTime).
pub fn ensure_matches(row: &ArchiveRow, c: &Record) -> Result<()> {
    let want_headers: Vec<(String, Option<String>)> = c
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_deref().map(hex)))
        .collect();
    ensure!(
        row.offset == c.offset
            && row.partition == c.partition
            && Some(row.timestamp) == c.timestamp
            && row.timestamp_type == 0
            && row.key == c.key.as_deref().map(hex)
            && row.value == c.value.as_deref().map(hex)
            && row.headers == want_headers,
        "offset {}: archive {row:?} vs consumer {c:?}",
        c.offset
    );
    Ok(())
}

/// The `DUCKDB …` line a reader prints for files holding exactly `consumed` (one topic): rows,
/// sum of offsets, null keys, value bytes, headers, topics.
pub fn duckdb_line(consumed: &[Record]) -> String {
    let offsets: i64 = consumed.iter().map(|c| c.offset).sum();
    let null_keys = consumed.iter().filter(|c| c.key.is_none()).count();
    let value_bytes: usize = consumed
        .iter()
        .map(|c| c.value.as_ref().map_or(0, Vec::len))
        .sum();
    let headers: usize = consumed.iter().map(|c| c.headers.len()).sum();
    let topics = usize::from(!consumed.is_empty());
    format!(
        "DUCKDB {} {offsets} {null_keys} {value_bytes} {headers} {topics}",
        consumed.len()
    )
}
