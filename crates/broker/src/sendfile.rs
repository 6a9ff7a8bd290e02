//! Writing replies to a socket, with record bytes sent straight from segment files.
//!
//! Zero-copy path: `sendfile(2)` from the segment's file descriptor to the socket, driven by the
//! socket's writable readiness (`TcpStream::try_io`) so a slow consumer never blocks a worker
//! thread. Copying path (`strata.fetch.zero.copy=false`, and TLS listeners, whose bytes must be
//! encrypted): `pread` into a buffer and `write_all`.
//!
//! Invariant: a file range is sent in full or the connection is failed; a short file (which
//! cannot happen while segments are only truncated at startup) is an error, never a short frame.

use std::io;

use strata_log::ReadSlice;
use strata_wire::ResponseChunks;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::tcp::WriteHalf;
use tokio::net::TcpStream;

/// Writes every chunk in order to a plain TCP connection.
pub(crate) async fn write_chunks(
    stream: &mut WriteHalf<'_>,
    chunks: Vec<ResponseChunks<ReadSlice>>,
    zero_copy: bool,
) -> io::Result<()> {
    if !zero_copy {
        return write_chunks_copying(stream, chunks).await;
    }
    for chunk in chunks {
        match chunk {
            ResponseChunks::Bytes(b) => stream.write_all(&b).await?,
            ResponseChunks::File(slice, len) => {
                send_file_range(stream.as_ref(), &slice, len).await?;
                metrics::counter!("strata_fetch_bytes_out_total").increment(len as u64);
            }
        }
    }
    Ok(())
}

/// Writes every chunk in order, file ranges read into memory first: the path of TLS
/// connections (the bytes must be encrypted) and of `strata.fetch.zero.copy=false`.
pub(crate) async fn write_chunks_copying<W: AsyncWrite + Unpin>(
    stream: &mut W,
    chunks: Vec<ResponseChunks<ReadSlice>>,
) -> io::Result<()> {
    for chunk in chunks {
        match chunk {
            ResponseChunks::Bytes(b) => stream.write_all(&b).await?,
            ResponseChunks::File(slice, len) => {
                let data = tokio::task::block_in_place(|| slice.read_to_vec())?;
                if data.len() != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "segment shorter than the planned fetch",
                    ));
                }
                stream.write_all(&data).await?;
                metrics::counter!("strata_fetch_bytes_out_total").increment(len as u64);
            }
        }
    }
    stream.flush().await
}

async fn send_file_range(stream: &TcpStream, slice: &ReadSlice, len: usize) -> io::Result<()> {
    let mut offset = slice.position;
    let mut remaining = len;
    while remaining > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*slice.file, Some(&mut offset), remaining)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shorter than the planned fetch",
                ))
            }
            Ok(n) => remaining -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
