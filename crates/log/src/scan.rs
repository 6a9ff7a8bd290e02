//! Forward scans over the batches of a segment file using positional reads only.
//!
//! Two flavours: [`HeaderScanner`] reads just the 61-byte headers (through an 8 KiB window, so
//! runs of small batches cost one read) and is used for reads, index lookups and index
//! rebuilds; [`verify_batch`] additionally checks a batch's CRC by streaming it in 64 KiB
//! chunks, for crash recovery. Neither ever holds a whole segment in memory.
//! Data problems surface as `LogError::Records`, I/O problems as `LogError::Io`, so callers
//! can truncate on the first and propagate the second.

use std::fs::File;
use std::os::unix::fs::FileExt;

use strata_records::{BatchHeader, RecordsError, BATCH_HEADER_LEN};

use crate::error::IoContext;
use crate::LogError;

const WINDOW: usize = 8 * 1024;
const CRC_CHUNK: usize = 64 * 1024;

/// Iterates `(position, header)` for batches in `[start, end)` of a file.
pub(crate) struct HeaderScanner<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    window: Vec<u8>,
    window_pos: u64,
    done: bool,
}

impl<'a> HeaderScanner<'a> {
    pub(crate) fn new(file: &'a File, start: u64, end: u64) -> Self {
        HeaderScanner {
            file,
            pos: start,
            end,
            window: Vec::new(),
            window_pos: 0,
            done: false,
        }
    }

    fn header_bytes(&mut self) -> Result<&[u8], LogError> {
        let window_end = self.window_pos + self.window.len() as u64;
        if self.pos < self.window_pos || self.pos + BATCH_HEADER_LEN as u64 > window_end {
            let len = (self.end - self.pos).min(WINDOW as u64) as usize;
            self.window.resize(len, 0);
            self.file
                .read_exact_at(&mut self.window, self.pos)
                .ctx(|| format!("read batch header at {}", self.pos))?;
            self.window_pos = self.pos;
        }
        let at = (self.pos - self.window_pos) as usize;
        Ok(&self.window[at..at + BATCH_HEADER_LEN])
    }

    fn next_header(&mut self) -> Result<(u64, BatchHeader), LogError> {
        let remaining = self.end - self.pos;
        if remaining < BATCH_HEADER_LEN as u64 {
            return Err(truncated(BATCH_HEADER_LEN as u64, remaining));
        }
        let header = BatchHeader::parse(self.header_bytes()?)?;
        if header.total_len() as u64 > remaining {
            return Err(truncated(header.total_len() as u64, remaining));
        }
        let at = self.pos;
        self.pos += header.total_len() as u64;
        Ok((at, header))
    }
}

fn truncated(need: u64, have: u64) -> LogError {
    LogError::Records(RecordsError::Truncated {
        need: need as usize,
        have: have as usize,
    })
}

impl Iterator for HeaderScanner<'_> {
    type Item = Result<(u64, BatchHeader), LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.end {
            return None;
        }
        let item = self.next_header();
        self.done = item.is_err();
        Some(item)
    }
}

/// Checks the CRC of the batch at `pos` described by `header`, streaming it from the file.
pub(crate) fn verify_batch(file: &File, pos: u64, header: &BatchHeader) -> Result<(), LogError> {
    let mut crc = 0u32;
    let mut at = pos + 21;
    let end = pos + header.total_len() as u64;
    let mut chunk = vec![0u8; CRC_CHUNK.min((end - at) as usize)];
    while at < end {
        let len = ((end - at) as usize).min(CRC_CHUNK);
        file.read_exact_at(&mut chunk[..len], at)
            .ctx(|| format!("read batch at {pos} for CRC check"))?;
        crc = crc32c::crc32c_append(crc, &chunk[..len]);
        at += len as u64;
    }
    if crc != header.crc {
        return Err(LogError::Records(RecordsError::CorruptMessage {
            expected: header.crc,
            actual: crc,
        }));
    }
    Ok(())
}

/// Reads the whole batch at `pos` (for decoding record timestamps).
pub(crate) fn read_batch(file: &File, pos: u64, header: &BatchHeader) -> Result<Vec<u8>, LogError> {
    let mut buf = vec![0u8; header.total_len()];
    file.read_exact_at(&mut buf, pos)
        .ctx(|| format!("read batch at {pos}"))?;
    Ok(buf)
}
