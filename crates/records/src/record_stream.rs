//! Forward-only byte sources over a batch's records section, for validation in one pass.
//!
//! [`SliceSource`] reads an uncompressed section in place (no allocation). [`StreamSource`]
//! reads a decompressor through a fixed 64 KiB window, so validating a compressed batch never
//! holds its decompressed records: memory is the window plus the codec's own state.
//!
//! Invariants:
//! - no source yields more than its limit ([`MAX_DECOMPRESSED_BYTES`] for codecs); one byte
//!   more is a [`RecordsError::Decompress`] error, never an allocation;
//! - running out of bytes is [`RecordsError::Truncated`]; a codec failure is
//!   [`RecordsError::Decompress`];
//! - snappy blocks are sized from their own length prefix only after it has been checked
//!   against the limit and against snappy's maximum expansion (a block cannot inflate more
//!   than 64 bytes per 3 input bytes), so a lying prefix cannot make us allocate.

use std::io::Read;

use crate::{RecordsError, MAX_DECOMPRESSED_BYTES};

/// Window of decompressed bytes held at once.
const WINDOW: usize = 64 * 1024;
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// Upper bound on snappy's output per input byte (a 3-byte copy emits at most 64 bytes).
const SNAPPY_MAX_RATIO: usize = 22;

/// Bytes read one at a time or skipped, in order.
pub(crate) trait Source {
    /// The next byte.
    fn byte(&mut self) -> Result<u8, RecordsError>;
    /// Skips `n` bytes.
    fn skip(&mut self, n: usize) -> Result<(), RecordsError>;
    /// Bytes consumed so far.
    fn position(&self) -> u64;
    /// True when no byte is left.
    fn at_end(&mut self) -> Result<bool, RecordsError>;

    /// A zig-zag varint that must fit 32 bits (at most 5 bytes).
    #[inline]
    fn varint(&mut self) -> Result<i32, RecordsError> {
        let raw = self.unsigned(5)?;
        let raw = u32::try_from(raw).map_err(|_| RecordsError::InvalidRecord("varint overflow"))?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zig-zag varlong (at most 10 bytes).
    #[inline]
    fn varlong(&mut self) -> Result<i64, RecordsError> {
        let raw = self.unsigned(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    #[inline]
    fn unsigned(&mut self, max_bytes: u32) -> Result<u64, RecordsError> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordsError::InvalidRecord("varint too long"))
    }
}

/// An uncompressed records section, read in place.
pub(crate) struct SliceSource<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        SliceSource { buf, pos: 0 }
    }
}

impl Source for SliceSource<'_> {
    #[inline]
    fn byte(&mut self) -> Result<u8, RecordsError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(RecordsError::Truncated { need: 1, have: 0 }),
        }
    }

    #[inline]
    fn skip(&mut self, n: usize) -> Result<(), RecordsError> {
        let have = self.buf.len() - self.pos;
        if n > have {
            return Err(RecordsError::Truncated { need: n, have });
        }
        self.pos += n;
        Ok(())
    }

    #[inline]
    fn position(&self) -> u64 {
        self.pos as u64
    }

    #[inline]
    fn at_end(&mut self) -> Result<bool, RecordsError> {
        Ok(self.pos == self.buf.len())
    }
}

fn too_large() -> RecordsError {
    RecordsError::Decompress(format!(
        "decompressed records exceed {MAX_DECOMPRESSED_BYTES} bytes"
    ))
}

/// A decompressor read through a fixed window, with a cap on the total output.
pub(crate) struct StreamSource<R> {
    inner: R,
    name: &'static str,
    window: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes of output before `window[0]`.
    before: u64,
    limit: u64,
    eof: bool,
}

impl<R: Read> StreamSource<R> {
    pub(crate) fn new(inner: R, name: &'static str, limit: usize) -> Self {
        StreamSource {
            inner,
            name,
            window: vec![0; WINDOW],
            pos: 0,
            end: 0,
            before: 0,
            limit: limit as u64,
            eof: false,
        }
    }

    /// Refills an exhausted window; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, RecordsError> {
        if self.eof {
            return Ok(false);
        }
        self.before += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.inner.read(&mut self.window) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    if self.before + n as u64 > self.limit {
                        return Err(too_large());
                    }
                    self.end = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(RecordsError::Decompress(format!("{}: {e}", self.name)));
                }
            }
        }
    }
}

impl<R: Read> Source for StreamSource<R> {
    #[inline]
    fn byte(&mut self) -> Result<u8, RecordsError> {
        if self.pos == self.end && !self.fill()? {
            return Err(RecordsError::Truncated { need: 1, have: 0 });
        }
        let b = self.window[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, mut n: usize) -> Result<(), RecordsError> {
        while n > 0 {
            if self.pos == self.end && !self.fill()? {
                return Err(RecordsError::Truncated { need: n, have: 0 });
            }
            let take = n.min(self.end - self.pos);
            self.pos += take;
            n -= take;
        }
        Ok(())
    }

    #[inline]
    fn position(&self) -> u64 {
        self.before + self.pos as u64
    }

    fn at_end(&mut self) -> Result<bool, RecordsError> {
        Ok(self.pos == self.end && !self.fill()?)
    }
}

/// Snappy blocks (raw, or xerial-framed as Kafka's Java client writes them) as a reader,
/// one decompressed block at a time.
pub(crate) struct SnappyReader<'a> {
    rest: &'a [u8],
    framed: bool,
    block: Vec<u8>,
    pos: usize,
    produced: usize,
    limit: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappyReader<'a> {
    pub(crate) fn new(data: &'a [u8], limit: usize) -> Self {
        let framed = data.len() >= XERIAL_HEADER_LEN && data[..8] == XERIAL_MAGIC;
        SnappyReader {
            rest: if framed {
                &data[XERIAL_HEADER_LEN..]
            } else {
                data
            },
            framed,
            block: Vec::new(),
            pos: 0,
            produced: 0,
            limit,
            decoder: snap::raw::Decoder::new(),
        }
    }

    /// Decompresses the next block into `self.block`; false when none is left.
    fn next_block(&mut self) -> std::io::Result<bool> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let chunk = if self.framed {
            let Some(len) = self.rest.get(..4) else {
                return Err(io_err("snappy: truncated chunk length"));
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let chunk = self
                .rest
                .get(4..4 + len)
                .ok_or_else(|| io_err("snappy: truncated chunk"))?;
            self.rest = &self.rest[4 + len..];
            chunk
        } else {
            std::mem::take(&mut self.rest)
        };
        let len = snap::raw::decompress_len(chunk).map_err(|e| io_err(&format!("snappy: {e}")))?;
        if self.produced + len > self.limit {
            return Err(io_err(&too_large().to_string()));
        }
        if len > chunk.len().saturating_mul(SNAPPY_MAX_RATIO) + 16 {
            return Err(io_err(
                "snappy: block length exceeds what its input can hold",
            ));
        }
        self.block.clear();
        self.block.resize(len, 0);
        self.decoder
            .decompress(chunk, &mut self.block)
            .map_err(|e| io_err(&format!("snappy: {e}")))?;
        self.produced += len;
        self.pos = 0;
        Ok(true)
    }
}

fn io_err(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
