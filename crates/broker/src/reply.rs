//! What a handler gives back to the connection loop.

use bytes::Bytes;
use strata_log::ReadSlice;
use strata_wire::ResponseChunks;

/// A handler's answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Send nothing (Produce with acks=0).
    None,
    /// One encoded frame.
    Frame(Bytes),
    /// A frame in pieces: bytes and segment-file ranges (Fetch).
    Chunks(Vec<ResponseChunks<ReadSlice>>),
    /// Close the connection (an encoding failure; logged by the handler).
    Close,
}
