//! Connection framing at full frame sizes: the broker's `FrameReader` over a byte stream that
//! arrives in fuzzer-chosen pieces, with `socket.request.max.bytes` at its 100 MiB default and a
//! small request budget.
//!
//! Checked on every input (beyond "no panic"):
//! - every frame returned is exactly the next size-prefixed body of the stream;
//! - announced sizes up to 100 MiB are never allocated up front: the reader's buffer stays
//!   within twice the bytes received plus one read (run with `-malloc_limit_mb=64` to make any
//!   large allocation fail the run);
//! - the request budget is back to 0 once every frame is dropped, whatever error ended the stream.
#![no_main]

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use strata_broker::frame_reader::{FrameLimits, FrameReader, FIRST_READ, READ_CHUNK};
use strata_broker::request_budget::RequestBudget;
use tokio::io::{AsyncRead, ReadBuf};

const MAX_FRAME: usize = 100 << 20;

/// Yields `data` in pieces whose sizes cycle through `pieces` (each 1..=256 bytes, or a whole
/// read when 0).
struct Pieces<'a> {
    data: &'a [u8],
    pieces: &'a [u8],
    next: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let piece = if self.pieces.is_empty() {
            usize::MAX
        } else {
            let p = self.pieces[self.next % self.pieces.len()];
            self.next += 1;
            if p == 0 {
                usize::MAX
            } else {
                p as usize
            }
        };
        let n = piece.min(buf.remaining()).min(self.data.len());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

/// The frames a correct reader returns: complete size-prefixed bodies in order, stopping at the
/// first refused size or incomplete frame.
fn reference_frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while data.len() >= 4 {
        let size = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if strata_wire::check_frame_size(size.to_be_bytes(), MAX_FRAME).is_err() {
            break;
        }
        let size = size as usize;
        if data.len() < 4 + size {
            break;
        }
        frames.push(&data[4..4 + size]);
        data = &data[4 + size..];
    }
    frames
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|input: &[u8]| {
    // First byte: how many piece sizes follow; then the piece sizes; then the stream.
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = (n as usize % 16).min(rest.len());
    let (pieces, data) = rest.split_at(n);
    let expected = reference_frames(data);
    runtime().block_on(async {
        let budget = RequestBudget::new(Some(1 << 20));
        let limits = FrameLimits {
            max_frame_bytes: MAX_FRAME,
            idle_timeout: Duration::from_secs(600),
            read_timeout: Duration::from_secs(600),
        };
        let mut reader = FrameReader::new(limits, budget.clone());
        let mut stream = Pieces {
            data,
            pieces,
            next: 0,
        };
        let mut got = 0;
        let mut received = 0usize;
        loop {
            match reader.next_frame(&mut stream).await {
                Ok(frame) => {
                    assert!(got < expected.len(), "more frames than the stream holds");
                    assert_eq!(&frame.body[..], expected[got], "frame {got}");
                    received += 4 + frame.body.len();
                    got += 1;
                }
                Err(_) => break,
            }
            let cap = reader.buffer_capacity();
            assert!(
                cap <= 2 * (data.len() + FIRST_READ).max(READ_CHUNK),
                "buffer of {cap} bytes after {received} bytes"
            );
        }
        assert_eq!(got, expected.len(), "frames lost");
        assert_eq!(budget.in_flight(), 0, "budget leaked");
    });
});
