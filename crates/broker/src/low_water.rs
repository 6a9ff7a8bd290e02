//! Fewer wake-ups for large frames on TLS connections: the socket's receive low-water mark
//! (`SO_RCVLOWAT`) follows the part of the current frame still to come.
//!
//! A TLS client writes one TLS record (at most 16 KiB) per `write`, so without this the
//! broker's reader wakes, reads and decrypts once per record: 18 times as many context
//! switches as the same produce over PLAINTEXT (docs/benchmarks.md, "TLS"). With the mark set,
//! the kernel wakes the reader once that many bytes are queued.
//!
//! Invariants:
//! - the mark never asks for bytes the client does not owe: it is at most the plaintext still
//!   missing from the current frame (its TLS ciphertext is larger) minus `margin`, an upper
//!   bound on what the layers above the socket (the read buffer under rustls, rustls's own
//!   buffers) may already hold of it; a client that stops sending mid-frame is bounded by the
//!   frame's read timeout as before;
//! - between frames, and for any frame whose rest fits in the margin, the mark is 1 (the
//!   kernel's default), so a small request is read as soon as it arrives;
//! - failures to set the mark are ignored after a debug line: the connection then reads as it
//!   would without it.
//!
//! The kernel also wakes the reader when its receive window closes, so a mark larger than the
//! socket buffer cannot stall a connection.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// The largest mark set; larger remainders wake the reader once per this many bytes.
pub const MAX_LOW_WATER: usize = 512 << 10;

/// Bytes rustls may hold of a frame above the socket besides the read buffer under it: its
/// deframer buffer and its received-plaintext buffer, each well under this.
const RUSTLS_BUFFERED: usize = 128 << 10;

/// The receive low-water mark of one connection's socket.
#[derive(Debug)]
pub struct LowWater {
    /// A duplicate of the connection's socket descriptor (socket options are per socket, so
    /// setting them through the duplicate sets them for the connection).
    socket: OwnedFd,
    margin: usize,
    current: usize,
}

impl LowWater {
    /// Follows frames read through `read_buffer` bytes of buffering below rustls.
    pub fn for_tls(socket: &impl AsFd, read_buffer: usize) -> Option<LowWater> {
        match socket.as_fd().try_clone_to_owned() {
            Ok(socket) => Some(LowWater {
                socket,
                margin: read_buffer + RUSTLS_BUFFERED,
                current: 1,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "no receive low-water mark: dup failed");
                None
            }
        }
    }

    /// The mark for a frame with `remaining` bytes still to read (0 between frames).
    pub fn mark_for(&self, remaining: usize) -> usize {
        remaining
            .saturating_sub(self.margin)
            .clamp(1, MAX_LOW_WATER)
    }

    /// Sets the mark for `remaining` bytes still to read, if it changes.
    pub fn expect(&mut self, remaining: usize) {
        let mark = self.mark_for(remaining);
        if mark == self.current {
            return;
        }
        let value = libc::c_int::try_from(mark).unwrap_or(libc::c_int::MAX);
        // SAFETY: `self.socket` is a descriptor this struct owns; SO_RCVLOWAT takes a c_int
        // passed by pointer with its exact size.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            self.current = mark;
        } else {
            tracing::debug!(error = %std::io::Error::last_os_error(), mark,
                "setting the receive low-water mark failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_leaves_the_margin_and_is_capped() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let lw = LowWater::for_tls(&socket, 64 << 10).unwrap();
        let margin = (64 << 10) + RUSTLS_BUFFERED;
        assert_eq!(lw.mark_for(0), 1, "between frames");
        assert_eq!(
            lw.mark_for(margin),
            1,
            "the rest may already be buffered above"
        );
        assert_eq!(lw.mark_for(margin + 1000), 1000);
        assert_eq!(lw.mark_for(margin + (4 << 20)), MAX_LOW_WATER);
    }

    #[test]
    fn the_mark_is_set_on_the_socket_and_back_to_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut lw = LowWater::for_tls(&server, 64 << 10).unwrap();
        let read = |s: &std::net::TcpStream| {
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: reads a c_int option of a socket this test owns into a c_int.
            let rc = unsafe {
                libc::getsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVLOWAT,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0);
            v
        };
        assert_eq!(read(&server), 1);
        lw.expect(1 << 20);
        assert_eq!(read(&server), lw.mark_for(1 << 20) as libc::c_int);
        assert!(read(&server) > 1);
        lw.expect(0);
        assert_eq!(read(&server), 1);
    }
}
