//! The records of `__transaction_state`, in Kafka's layouts (`TransactionLogKey` v0 and
//! `TransactionLogValue` v0), so the topic reads like Kafka's:
//!
//! - key: `version: i16 = 0`, `transactional_id: string (i16 length)`;
//! - value: `version: i16 = 0`, `producer_id: i64`, `producer_epoch: i16`,
//!   `transaction_timeout_ms: i32`, `transaction_status: i8`, `transaction_partitions:
//!   nullable array (i32 count; null for an Empty transaction, as Kafka writes it) of
//!   { topic: string, partition_ids: array of i32 }`,
//!   `transaction_last_update_timestamp_ms: i64`, `transaction_start_timestamp_ms: i64`;
//! - a null value (tombstone) deletes the transactional id.
//!
//! Invariants: every record carries its version; a version this build does not read is an
//! error (the partition fails to load rather than silently dropping state); strings longer
//! than `i16::MAX` bytes are refused when encoding, never cut.

use std::collections::BTreeSet;

use crate::state::{TxnMetadata, TxnState};

/// Key and value version written.
pub(crate) const VERSION: i16 = 0;

/// A record that cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("__transaction_state record: {0}")]
pub struct FormatError(pub String);

fn err(what: impl Into<String>) -> FormatError {
    FormatError(what.into())
}

fn put_string(out: &mut Vec<u8>, s: &str) -> Result<(), FormatError> {
    let len = i16::try_from(s.len()).map_err(|_| err(format!("string of {} bytes", s.len())))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Encodes the key of `transactional_id`.
pub fn encode_key(transactional_id: &str) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&VERSION.to_be_bytes());
    put_string(&mut out, transactional_id)?;
    Ok(out)
}

/// Encodes the value of `m`.
pub fn encode_value(m: &TxnMetadata) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&m.producer_id.to_be_bytes());
    out.extend_from_slice(&m.producer_epoch.to_be_bytes());
    out.extend_from_slice(&m.timeout_ms.to_be_bytes());
    out.push(m.state.code() as u8);
    let topics = m.topics();
    // Kafka writes a null partition array for an Empty transaction.
    let count = if m.state == TxnState::Empty {
        -1
    } else {
        i32::try_from(topics.len()).map_err(|_| err("too many topics"))?
    };
    out.extend_from_slice(&count.to_be_bytes());
    for (topic, partitions) in &topics {
        put_string(&mut out, topic)?;
        out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for p in partitions {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    out.extend_from_slice(&m.update_ms.to_be_bytes());
    out.extend_from_slice(&m.start_ms.to_be_bytes());
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| err("truncated"))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn i8(&mut self) -> Result<i8, FormatError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, FormatError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, FormatError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self) -> Result<String, FormatError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| err("negative string length"))?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| err("string is not UTF-8"))
    }
    fn count(&mut self) -> Result<Option<usize>, FormatError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        let n = n as usize;
        // Every element takes at least 4 bytes: a count beyond that is corrupt, not a reason
        // to allocate.
        if n > (self.buf.len() - self.at) / 2 {
            return Err(err("array count larger than the record"));
        }
        Ok(Some(n))
    }
}

/// Decodes a key to its transactional id.
pub fn decode_key(key: &[u8]) -> Result<String, FormatError> {
    let mut r = Reader { buf: key, at: 0 };
    let version = r.i16()?;
    if version != VERSION {
        return Err(err(format!("key version {version}")));
    }
    r.string()
}

/// Decodes a value of `transactional_id`.
pub fn decode_value(transactional_id: &str, value: &[u8]) -> Result<TxnMetadata, FormatError> {
    let mut r = Reader { buf: value, at: 0 };
    let version = r.i16()?;
    if version != VERSION {
        return Err(err(format!(
            "value version {version} (this build reads {VERSION})"
        )));
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state = TxnState::from_code(r.i8()?).ok_or_else(|| err("unknown transaction status"))?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = r.count()? {
        for _ in 0..topics {
            let topic = r.string()?;
            for _ in 0..r.count()?.unwrap_or(0) {
                partitions.insert((topic.clone(), r.i32()?));
            }
        }
    }
    let update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Ok(TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        update_ms,
        start_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_bytes() {
        let mut m = TxnMetadata::new("tx", 7, 2, 60_000, 1_000);
        m.state = TxnState::Ongoing;
        m.partitions.insert(("a".into(), 1));
        m.partitions.insert(("a".into(), 0));
        m.start_ms = 900;
        let key = encode_key("tx").unwrap();
        assert_eq!(key, vec![0, 0, 0, 2, b't', b'x']);
        let value = encode_value(&m).unwrap();
        let mut want = vec![0, 0];
        want.extend_from_slice(&7i64.to_be_bytes());
        want.extend_from_slice(&2i16.to_be_bytes());
        want.extend_from_slice(&60_000i32.to_be_bytes());
        want.push(1);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'a']);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&1_000i64.to_be_bytes());
        want.extend_from_slice(&900i64.to_be_bytes());
        assert_eq!(value, want);
        assert_eq!(decode_key(&key).unwrap(), "tx");
        let back = decode_value("tx", &value).unwrap();
        assert_eq!(back.partitions, m.partitions);
        assert_eq!(
            (
                back.producer_id,
                back.producer_epoch,
                back.state,
                back.start_ms
            ),
            (7, 2, TxnState::Ongoing, 900)
        );
    }

    #[test]
    fn hostile_values_are_errors() {
        assert!(decode_value("t", &[0, 1]).is_err());
        assert!(decode_value("t", &[0, 0, 1]).is_err());
        let mut v = encode_value(&TxnMetadata::new("t", 1, 0, 1, 1)).unwrap();
        v[16] = 0x7f; // topic count huge
        assert!(decode_value("t", &v).is_err());
        assert!(decode_key(&[0, 0, 0xff, 0xff]).is_err());
    }
}
