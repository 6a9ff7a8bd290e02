//! Rows to JSON Lines: one JSON object per row, with the archive schema's column names.
//!
//! | field | JSON |
//! |---|---|
//! | `offset`, `timestamp` (ms since the epoch), `timestamp_type`, `partition`, `producer_id`, `producer_epoch` | number |
//! | `key`, `value` | string when the bytes are UTF-8; `{"base64": "…"}` (standard alphabet, padded) otherwise; `null` for null |
//! | `headers` | array of `{"key": string, "value": as above}`, in wire order |
//!
//! Invariant: every line is one complete object ending in `\n`; bytes are never altered (text
//! is written only when the bytes are valid UTF-8, so it decodes back to the same bytes).

use std::io::Write;

use base64::Engine;
use serde_json::{json, Value};

use crate::rows::Row;
use crate::ArchiveError;

/// JSON of a nullable byte string (see the module docs).
fn bytes_json(b: Option<&[u8]>) -> Value {
    match b {
        None => Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }),
        },
    }
}

/// The JSON object of one row.
pub fn row_json(row: &Row<'_>) -> Value {
    let r = row.record;
    let headers: Vec<Value> = r
        .headers
        .iter()
        .map(|(k, v)| json!({ "key": String::from_utf8_lossy(k), "value": bytes_json(v.as_deref()) }))
        .collect();
    json!({
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestamp_type": row.timestamp_type,
        "key": bytes_json(r.key.as_deref()),
        "value": bytes_json(r.value.as_deref()),
        "headers": headers,
        "partition": row.partition,
        "producer_id": row.producer_id,
        "producer_epoch": row.producer_epoch,
    })
}

/// A JSON Lines file being written to `W`.
pub struct JsonlSink<W: Write> {
    out: W,
}

impl<W: Write> JsonlSink<W> {
    /// Starts a file on `out`.
    pub fn new(out: W) -> JsonlSink<W> {
        JsonlSink { out }
    }

    /// Appends one row (one line).
    pub fn push(&mut self, row: &Row<'_>) -> Result<(), ArchiveError> {
        serde_json::to_writer(&mut self.out, &row_json(row)).map_err(ArchiveError::Json)?;
        self.out.write_all(b"\n").map_err(ArchiveError::Io)?;
        Ok(())
    }

    /// Flushes; returns the output.
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        self.out.flush().map_err(ArchiveError::Io)?;
        Ok(self.out)
    }
}
