//! Iteration over concatenated batches (a log segment slice or a fetch payload).
//!
//! Invariant: each yielded `(start, header)` has `start + header.total_len() <= buf.len()`.
//! Iteration ends with `None` exactly at the end of the buffer; anything else (a partial
//! header or body, a bad magic or length) yields one `Err` and then `None`.

use crate::{BatchHeader, RecordsError};

/// Iterator over the batches of a byte slice; see [`batches`].
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Iterates the concatenated batches in `buf`, yielding each batch's start position and header.
pub fn batches(buf: &[u8]) -> BatchIter<'_> {
    BatchIter {
        buf,
        pos: 0,
        done: false,
    }
}

impl<'a> BatchIter<'a> {
    /// Position of the next batch (equal to `buf.len()` once iteration ended cleanly).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<(usize, BatchHeader), RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let header = match BatchHeader::parse(rest) {
            Ok(header) => header,
            Err(err) => {
                self.done = true;
                return Some(Err(err));
            }
        };
        if header.total_len() > rest.len() {
            self.done = true;
            return Some(Err(RecordsError::Truncated {
                need: header.total_len(),
                have: rest.len(),
            }));
        }
        let start = self.pos;
        self.pos += header.total_len();
        Some(Ok((start, header)))
    }
}
