//! The partitions of one coordinator and their leadership, as one value: which partitions this
//! broker leads, the transitions (loads, unloads) in flight, and whether the coordinator is
//! closed.
//!
//! Invariants: a partition's leadership changes only through [`Shards::elect`] and
//! [`Shards::resign`], which return whether a transition must run (the coordinator then runs
//! its own load or unload through [`Shards::spawn`], under the partition's write lock, with
//! [`Leadership::converge`]); after [`Shards::close`] nothing is elected again and every
//! partition answers NOT_COORDINATOR.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{InternalLog, Leadership, Transitions, NOT_COORDINATOR};

/// One partition of a coordinator: whatever state it keeps, and its leadership.
pub trait CoordinatedPartition: Send + Sync {
    /// The partition's leadership.
    fn leadership(&self) -> &Leadership;
}

/// A coordinator's partitions (index = partition number).
#[derive(Debug)]
pub struct Shards<P> {
    parts: Vec<P>,
    transitions: Transitions,
    closed: AtomicBool,
}

impl<P: CoordinatedPartition> Shards<P> {
    /// Partitions `0..count` made by `make`, none led.
    pub fn new(count: i32, make: impl FnMut(i32) -> P) -> Shards<P> {
        Shards {
            parts: (0..count.max(1)).map(make).collect(),
            transitions: Transitions::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// Number of partitions.
    pub fn count(&self) -> i32 {
        self.parts.len() as i32
    }

    /// Partition `p`.
    pub fn get(&self, p: i32) -> Option<&P> {
        usize::try_from(p).ok().and_then(|i| self.parts.get(i))
    }

    /// Every partition, in order.
    pub fn iter(&self) -> impl Iterator<Item = &P> {
        self.parts.iter()
    }

    /// This broker leads `p` in `epoch`: true when the caller must run a transition.
    pub fn elect(&self, p: i32, epoch: i32, log: Arc<dyn InternalLog>) -> bool {
        !self.is_closed()
            && self
                .get(p)
                .is_some_and(|s| s.leadership().elect(epoch, log))
    }

    /// This broker no longer leads `p`: true when the caller must run a transition.
    pub fn resign(&self, p: i32) -> bool {
        self.get(p).is_some_and(|s| s.leadership().resign())
    }

    /// The epoch this broker leads (or is loading) `p` in.
    pub fn leads(&self, p: i32) -> Option<i32> {
        self.get(p)?.leadership().leads()
    }

    /// Runs a transition off the request path.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        self.transitions.spawn(f);
    }

    /// Waits until every transition started so far has finished.
    pub async fn wait_idle(&self) {
        self.transitions.wait_idle().await;
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// True when every partition asked for is loaded and served (and not closed).
    pub fn is_ready(&self) -> bool {
        !self.is_closed() && self.parts.iter().all(|p| p.leadership().is_settled())
    }

    /// Partition `p` if it serves requests now, or the error code to answer.
    pub fn serving(&self, p: i32) -> Result<&P, i16> {
        if self.is_closed() {
            return Err(NOT_COORDINATOR);
        }
        let part = self.get(p).ok_or(crate::COORDINATOR_NOT_AVAILABLE)?;
        match part.leadership().unavailable() {
            Some(code) => Err(code),
            None => Ok(part),
        }
    }

    /// The partitions that serve requests now.
    pub fn served(&self) -> impl Iterator<Item = &P> {
        let closed = self.is_closed();
        self.parts
            .iter()
            .filter(move |p| !closed && p.leadership().unavailable().is_none())
    }

    /// Closes the coordinator: nothing is led or elected any more.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for p in &self.parts {
            p.leadership().close();
        }
    }
}
