//! What a handler gives back to the connection loop.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use strata_log::ReadSlice;
use strata_wire::ResponseChunks;

/// A reply that is ready later (a produce response waiting for its group-commit fsync).
pub(crate) type DeferredReply = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// A handler's answer.
pub(crate) enum Reply {
    /// Send nothing (Produce with acks=0).
    None,
    /// One encoded frame.
    Frame(Bytes),
    /// A frame in pieces: bytes and segment-file ranges (Fetch).
    Chunks(Vec<ResponseChunks<ReadSlice>>),
    /// Close the connection (an encoding failure; logged by the handler).
    Close,
    /// The request's work is done (in request order) but its answer waits for something that
    /// needs no more input from the connection; the connection writes it, in order, once ready.
    Deferred(DeferredReply),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::None => f.write_str("None"),
            Reply::Frame(b) => f.debug_tuple("Frame").field(&b.len()).finish(),
            Reply::Chunks(c) => f.debug_tuple("Chunks").field(&c.len()).finish(),
            Reply::Close => f.write_str("Close"),
            Reply::Deferred(_) => f.write_str("Deferred"),
        }
    }
}

impl Reply {
    /// Waits for a deferred reply; any other reply is returned as it is.
    pub(crate) async fn resolve(self) -> Reply {
        match self {
            Reply::Deferred(later) => later.await,
            other => other,
        }
    }
}
