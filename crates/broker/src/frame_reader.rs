//! Reading request frames from a connection with bounded memory and bounded time.
//!
//! A frame is a 4-byte big-endian size followed by that many bytes. The announced size is only
//! ever *checked* (against `socket.request.max.bytes`); memory follows the bytes that really
//! arrive:
//! - the body is read in pieces that start at [`FIRST_READ`] bytes and grow with what has
//!   arrived, up to [`READ_CHUNK`]; each read is charged to the broker-wide [`RequestBudget`]
//!   before it is issued, so a spent budget stops reading (backpressure) rather than
//!   allocating, and a stalled frame holds at most twice what it sent plus [`FIRST_READ`];
//! - the buffer grows geometrically (at least one chunk, at most doubling) and never past the
//!   announced size, so a connection holds at most about twice the bytes it has received;
//! - one buffer is reused across the frames of a connection (a large produce stream does not fault
//!   in fresh pages per request); an allocation above [`RETAINED_BUFFER_BYTES`] is dropped after
//!   its frame, and any buffer is dropped after [`IDLE_BUFFER_RELEASE`] without a new frame.
//!
//! Time:
//! - waiting for the first byte of a frame is bounded by `connections.max.idle.ms`
//!   ([`FrameError::Idle`]);
//! - from the first byte of a frame to its last, `strata.request.read.timeout.ms` bounds the time
//!   spent waiting on the socket ([`FrameError::ReadTimeout`]); time spent waiting for the budget
//!   does not count, since the broker, not the client, is the one holding back.
//!
//! Wake-ups: on TLS connections the reader may carry a [`LowWater`], which keeps the socket's
//! receive low-water mark at the rest of the current frame (less a margin) and at 1 between
//! frames (`low_water.rs`).
//!
//! Reading is generic over [`AsyncRead`], so tests and the fuzz target drive it from memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use strata_wire::{check_frame_size, WireError};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::low_water::LowWater;
use crate::request_budget::{FrameCharge, RequestBudget};

/// The most bytes read (and charged to the budget) per read call. Reads also never ask for
/// more than the bytes already received (after the first [`FIRST_READ`]), so a stalled frame
/// holds at most about twice what it sent, whatever this is.
pub const READ_CHUNK: usize = 256 << 10;

/// The first read of a frame's body; later reads grow with the bytes received.
pub const FIRST_READ: usize = 4 << 10;

/// Largest buffer a connection keeps between frames; larger ones are dropped after use.
pub const RETAINED_BUFFER_BYTES: usize = 8 << 20;

/// A connection that sends nothing for this long gives its retained buffer back.
pub const IDLE_BUFFER_RELEASE: Duration = Duration::from_secs(2);

/// Limits a [`FrameReader`] enforces.
#[derive(Debug, Clone)]
pub struct FrameLimits {
    /// `socket.request.max.bytes`.
    pub max_frame_bytes: usize,
    /// `connections.max.idle.ms`: the longest wait for the first byte of a frame.
    pub idle_timeout: Duration,
    /// `strata.request.read.timeout.ms`: the longest socket wait from a frame's first byte to its
    /// last.
    pub read_timeout: Duration,
}

/// A complete frame body (without its size prefix) and the budget it holds until dropped.
#[derive(Debug)]
pub struct Frame {
    /// The frame body.
    pub body: Bytes,
    /// The body's charge against the request budget; drop it when the request is done.
    pub charge: FrameCharge,
}

/// Why no frame was read. The connection closes in every case.
#[derive(Debug)]
pub enum FrameError {
    /// The client closed the connection between frames.
    Closed,
    /// The client closed the connection inside a frame.
    ClosedMidFrame,
    /// No frame started within `connections.max.idle.ms`.
    Idle,
    /// A started frame did not complete within `strata.request.read.timeout.ms`.
    ReadTimeout {
        /// Bytes of the frame (prefix included) received before the cut.
        received: usize,
        /// The announced body size, if the prefix was complete.
        announced: Option<usize>,
    },
    /// The size prefix was refused (`socket.request.max.bytes`, negative or tiny).
    Size(WireError),
    /// A socket error.
    Io(std::io::Error),
}

impl FrameError {
    /// A short label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Closed => "closed",
            FrameError::ClosedMidFrame => "closed_mid_frame",
            FrameError::Idle => "idle",
            FrameError::ReadTimeout { .. } => "read_timeout",
            FrameError::Size(_) => "frame_size",
            FrameError::Io(_) => "io",
        }
    }
}

/// Reads frames from one connection; owns the connection's reusable buffer.
#[derive(Debug)]
pub struct FrameReader {
    limits: FrameLimits,
    budget: Arc<RequestBudget>,
    buf: BytesMut,
    low_water: Option<LowWater>,
}

impl FrameReader {
    /// A reader with an empty buffer.
    pub fn new(limits: FrameLimits, budget: Arc<RequestBudget>) -> FrameReader {
        FrameReader {
            limits,
            budget,
            buf: BytesMut::new(),
            low_water: None,
        }
    }

    /// Lets the socket's receive low-water mark follow each frame's remaining bytes.
    pub fn set_low_water(&mut self, low_water: LowWater) {
        self.low_water = Some(low_water);
    }

    /// Changes the largest frame accepted from the next one on (a SASL connection reads
    /// under `sasl.server.max.receive.size` until it has authenticated).
    pub fn set_max_frame_bytes(&mut self, max: usize) {
        self.limits.max_frame_bytes = max;
    }

    /// The capacity of the buffer kept for the next frame (an allocation still shared with the
    /// last frame does not show until the next read reclaims it).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads the next frame. Cancelling this future loses the partial frame, so callers must
    /// close the connection if they drop it unfinished.
    pub async fn next_frame<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
    ) -> Result<Frame, FrameError> {
        let mut prefix = [0u8; 4];
        let (mut deadline, mut got) = self.await_first_bytes(reader, &mut prefix).await?;
        while got < prefix.len() {
            let n = match timeout_at(deadline, reader.read(&mut prefix[got..])).await {
                Err(_) => {
                    return Err(FrameError::ReadTimeout {
                        received: got,
                        announced: None,
                    })
                }
                Ok(r) => r.map_err(FrameError::Io)?,
            };
            if n == 0 {
                return Err(FrameError::ClosedMidFrame);
            }
            got += n;
        }
        let size =
            check_frame_size(prefix, self.limits.max_frame_bytes).map_err(FrameError::Size)?;
        let mut charge = self.budget.frame();
        self.buf.clear();
        while self.buf.len() < size {
            let want = (size - self.buf.len())
                .min(READ_CHUNK)
                .min(self.buf.len().max(FIRST_READ));
            let owed = (self.buf.len() + want).saturating_sub(charge.held());
            if owed > 0 {
                let waited_from = Instant::now();
                charge.charge(owed).await;
                deadline += waited_from.elapsed();
            }
            self.grow(want, size);
            if let Some(lw) = self.low_water.as_mut() {
                lw.expect(size - self.buf.len());
            }
            let mut limited = (&mut self.buf).limit(want);
            let n = match timeout_at(deadline, reader.read_buf(&mut limited)).await {
                Err(_) => {
                    return Err(FrameError::ReadTimeout {
                        received: 4 + self.buf.len(),
                        announced: Some(size),
                    })
                }
                Ok(r) => r.map_err(FrameError::Io)?,
            };
            if n == 0 {
                return Err(FrameError::ClosedMidFrame);
            }
        }
        if let Some(lw) = self.low_water.as_mut() {
            // Between frames: wake for the first byte of the next one.
            lw.expect(0);
        }
        let body = self.buf.split().freeze();
        if size + self.buf.capacity() > RETAINED_BUFFER_BYTES {
            // Do not let one large allocation stay pinned for the connection's lifetime.
            self.buf = BytesMut::new();
        }
        Ok(Frame { body, charge })
    }

    /// Waits for the first bytes of a frame (into `prefix`), releasing the retained buffer if
    /// the wait is long; returns the frame's read deadline and how many prefix bytes arrived.
    async fn await_first_bytes<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        prefix: &mut [u8; 4],
    ) -> Result<(Instant, usize), FrameError> {
        let started = Instant::now();
        let idle_at = started + self.limits.idle_timeout;
        let release_at = started + IDLE_BUFFER_RELEASE;
        // After a frame the buffer looks empty but still shares the frame's allocation, which
        // the next `reserve` reclaims; dropping the handle gives it back.
        let mut holding = true;
        loop {
            // `read` is cancel-safe: when another branch wins, no byte was consumed.
            tokio::select! {
                r = reader.read(&mut prefix[..]) => {
                    let n = r.map_err(FrameError::Io)?;
                    if n == 0 {
                        return Err(FrameError::Closed);
                    }
                    return Ok((Instant::now() + self.limits.read_timeout, n));
                }
                _ = sleep_until(release_at), if holding => {
                    self.buf = BytesMut::new();
                    holding = false;
                }
                _ = sleep_until(idle_at) => return Err(FrameError::Idle),
            }
        }
    }

    /// Makes room for at least `want` more bytes: grows by at least one chunk and at most
    /// doubles, never beyond the frame's `size`.
    fn grow(&mut self, want: usize, size: usize) {
        let spare = self.buf.capacity() - self.buf.len();
        if spare >= want {
            return;
        }
        let len = self.buf.len();
        let step = want.max(len).min(size - len);
        self.buf.reserve(step);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn limits(max: usize) -> FrameLimits {
        FrameLimits {
            max_frame_bytes: max,
            idle_timeout: Duration::from_secs(600),
            read_timeout: Duration::from_secs(30),
        }
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn reads_consecutive_frames_and_releases_their_charge() {
        let budget = RequestBudget::new(Some(1 << 20));
        let mut r = FrameReader::new(limits(1 << 20), Arc::clone(&budget));
        let body_a: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let body_b = b"0123456789abc".to_vec();
        let mut input = framed(&body_a);
        input.extend(framed(&body_b));
        let mut src = &input[..];
        let a = r.next_frame(&mut src).await.unwrap();
        assert_eq!(&a.body[..], &body_a[..]);
        assert_eq!(a.charge.held(), body_a.len());
        assert_eq!(budget.in_flight(), body_a.len());
        drop(a);
        let b = r.next_frame(&mut src).await.unwrap();
        assert_eq!(&b.body[..], &body_b[..]);
        drop(b);
        assert_eq!(budget.in_flight(), 0);
        assert!(matches!(
            r.next_frame(&mut src).await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn announced_size_is_not_allocated_before_bytes_arrive() {
        let budget = RequestBudget::new(Some(512 << 20));
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(limits(200 << 20), Arc::clone(&budget));
        client
            .write_all(&(100i32 << 20).to_be_bytes())
            .await
            .unwrap();
        client.write_all(&[7u8; 1000]).await.unwrap();
        let mut read = Box::pin(r.next_frame(&mut server));
        let pending = tokio::time::timeout(Duration::from_millis(200), &mut read).await;
        assert!(pending.is_err(), "the frame is incomplete");
        // The bytes received plus one small read are charged and reserved, not 100 MiB.
        assert_eq!(budget.in_flight(), 1000 + FIRST_READ);
        drop(read);
        assert_eq!(
            budget.in_flight(),
            0,
            "the abandoned frame released its charge"
        );
        assert!(
            r.buffer_capacity() <= 2 * (1000 + FIRST_READ),
            "{}",
            r.buffer_capacity()
        );
    }

    #[tokio::test]
    async fn buffer_grows_in_bounded_steps() {
        let mut r = FrameReader::new(limits(64 << 20), RequestBudget::new(None));
        for (len, mut filled) in [(10usize, 0usize), (3 << 20, 0)] {
            r.buf.clear();
            while filled < len {
                let want = (len - filled).min(READ_CHUNK);
                r.grow(want, len);
                let cap = r.buf.capacity();
                assert!(cap >= filled + want, "room for the next read");
                assert!(
                    cap <= 2 * (filled + READ_CHUNK).min(len).max(READ_CHUNK),
                    "capacity {cap} after {filled} bytes of {len}"
                );
                r.buf.put_bytes(0, want);
                filled += want;
            }
        }
    }

    #[tokio::test]
    async fn large_buffers_are_not_retained() {
        let mut r = FrameReader::new(limits(64 << 20), RequestBudget::new(None));
        let big = framed(&vec![1u8; RETAINED_BUFFER_BYTES + 1]);
        let small = framed(&[2u8; 100_000]);
        // After a small frame is dropped, the next reservation reuses its allocation.
        let mut src = &small[..];
        let frame = r.next_frame(&mut src).await.unwrap();
        let first = frame.body.as_ptr();
        drop(frame);
        r.buf.reserve(100_000);
        assert_eq!(r.buf.as_ptr(), first, "small buffers are kept");
        // After a large one, the connection starts again from an empty buffer.
        let mut src = &big[..];
        drop(r.next_frame(&mut src).await.unwrap());
        assert_eq!(r.buffer_capacity(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_and_stalled_frames_time_out() {
        let mut l = limits(1 << 20);
        l.idle_timeout = Duration::from_secs(60);
        l.read_timeout = Duration::from_secs(5);
        let budget = RequestBudget::new(Some(1 << 20));
        let mut r = FrameReader::new(l.clone(), Arc::clone(&budget));
        let (_client, mut server) = tokio::io::duplex(1024);
        let started = Instant::now();
        assert!(matches!(
            r.next_frame(&mut server).await,
            Err(FrameError::Idle)
        ));
        assert_eq!(started.elapsed(), Duration::from_secs(60));

        // Two bytes of the prefix, then nothing.
        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(&[0, 0]).await.unwrap();
        let started = Instant::now();
        match r.next_frame(&mut server).await {
            Err(FrameError::ReadTimeout {
                received: 2,
                announced: None,
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(started.elapsed(), Duration::from_secs(5));

        // A full prefix and part of the body, then nothing.
        let (mut client, mut server) = tokio::io::duplex(1024);
        client.write_all(&100i32.to_be_bytes()).await.unwrap();
        client.write_all(&[1u8; 30]).await.unwrap();
        match r.next_frame(&mut server).await {
            Err(FrameError::ReadTimeout {
                received: 34,
                announced: Some(100),
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(budget.in_flight(), 0);
    }

    #[tokio::test]
    async fn refused_sizes_and_eof_mid_frame() {
        let mut r = FrameReader::new(limits(100), RequestBudget::new(None));
        let mut src: &[u8] = &101i32.to_be_bytes();
        assert!(matches!(
            r.next_frame(&mut src).await,
            Err(FrameError::Size(_))
        ));
        let mut src: &[u8] = &(-1i32).to_be_bytes();
        assert!(matches!(
            r.next_frame(&mut src).await,
            Err(FrameError::Size(_))
        ));
        let mut input = 50i32.to_be_bytes().to_vec();
        input.extend([0u8; 20]);
        let mut src = &input[..];
        assert!(matches!(
            r.next_frame(&mut src).await,
            Err(FrameError::ClosedMidFrame)
        ));
        let mut src: &[u8] = &[0, 0];
        assert!(matches!(
            r.next_frame(&mut src).await,
            Err(FrameError::ClosedMidFrame)
        ));
    }
}
