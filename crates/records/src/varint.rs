//! Zig-zag varints (protobuf `sint32`/`sint64`) as used inside v2 records.
//!
//! Invariant: reads never index past the slice and reject encodings longer than the type
//! allows (5 bytes for 32-bit, 10 for 64-bit).

use crate::RecordsError;

/// A cursor over a byte slice that only moves forward.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes `start..end` of the underlying slice (callers pass a range already skipped).
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        &self.buf[start..end]
    }

    /// Advances `n` bytes, failing if fewer remain.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), RecordsError> {
        if n > self.remaining() {
            return Err(RecordsError::Truncated {
                need: n,
                have: self.remaining(),
            });
        }
        self.pos += n;
        Ok(())
    }

    fn read_unsigned(&mut self, max_bytes: usize) -> Result<u64, RecordsError> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(RecordsError::Truncated { need: 1, have: 0 });
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordsError::InvalidRecord("varint too long"))
    }

    /// Reads a zig-zag varint that must fit in 32 bits.
    pub(crate) fn varint(&mut self) -> Result<i32, RecordsError> {
        let raw = self.read_unsigned(5)?;
        let raw = u32::try_from(raw).map_err(|_| RecordsError::InvalidRecord("varint overflow"))?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Reads a zig-zag varlong.
    pub(crate) fn varlong(&mut self) -> Result<i64, RecordsError> {
        let raw = self.read_unsigned(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

/// Appends a zig-zag varlong (used by the batch builder).
pub(crate) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        if raw < 0x80 {
            out.push(raw as u8);
            return;
        }
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
}
