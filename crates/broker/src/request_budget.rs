//! The broker-wide budget for in-flight request bytes (`queued.max.request.bytes`).
//!
//! Every frame a connection reads is charged to the budget *as its bytes arrive*, one read
//! (at most [`crate::frame_reader::READ_CHUNK`] bytes) at a time, before the read is issued; the
//! charge is released when the request has been handled (its [`FrameCharge`] is dropped). When
//! the budget is spent, readers wait for it: the broker stops reading from sockets (TCP
//! backpressure) instead of failing requests, as Kafka's `queued.max.request.bytes` does. A
//! client that announces a large frame and stalls holds only the bytes it really sent.
//!
//! Deadlock freedom: charging in pieces means several partial frames could together spend the
//! whole budget, each waiting for more that only another's completion would free. To rule that
//! out, when the budget is spent and no frame is *privileged*, the first frame that has to wait
//! becomes privileged: its charges are granted beyond the limit until it is released. One frame
//! can always make progress, so a single frame larger than the whole budget also completes.
//!
//! Invariants:
//! - bytes charged ≤ `limit` + the bytes of the one privileged frame, so in-flight request bytes
//!   never exceed `queued.max.request.bytes + socket.request.max.bytes`;
//! - at most one frame is privileged at a time; privilege ends when that frame is released;
//! - a [`FrameCharge`] returns everything it holds when dropped, on every path (request done,
//!   connection closed mid-frame, task aborted).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The broker-wide budget. Shared by every connection.
#[derive(Debug)]
pub struct RequestBudget {
    /// `None`: unbounded (`queued.max.request.bytes = -1`); charges are still counted.
    limit: Option<usize>,
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug, Default)]
struct State {
    in_flight: usize,
    privileged: Option<u64>,
    next_frame: u64,
}

/// The part of the budget held by one frame; released on drop.
#[derive(Debug)]
pub struct FrameCharge {
    budget: Arc<RequestBudget>,
    id: u64,
    held: usize,
}

impl RequestBudget {
    /// A budget of `limit` bytes (`None`: unbounded).
    pub fn new(limit: Option<usize>) -> Arc<RequestBudget> {
        Arc::new(RequestBudget {
            limit,
            state: Mutex::new(State::default()),
            released: Notify::new(),
        })
    }

    /// Starts charging a new frame (holding nothing yet).
    pub fn frame(self: &Arc<Self>) -> FrameCharge {
        let mut state = self.lock();
        let id = state.next_frame;
        state.next_frame += 1;
        FrameCharge {
            budget: Arc::clone(self),
            id,
            held: 0,
        }
    }

    /// Bytes currently charged by all frames.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters half-updated (each update is
        // one statement), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Grants `n` bytes to frame `id` if the rules allow it now.
    fn try_grant(&self, id: u64, n: usize) -> bool {
        let mut state = self.lock();
        let granted = match self.limit {
            None => true,
            Some(limit) => {
                if state.privileged == Some(id) || state.in_flight.saturating_add(n) <= limit {
                    true
                } else if state.privileged.is_none() {
                    state.privileged = Some(id);
                    true
                } else {
                    false
                }
            }
        };
        if granted {
            state.in_flight = state.in_flight.saturating_add(n);
            publish(state.in_flight);
        }
        granted
    }

    fn release(&self, id: u64, n: usize) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(n);
        if state.privileged == Some(id) {
            state.privileged = None;
        }
        publish(state.in_flight);
        drop(state);
        self.released.notify_waiters();
    }
}

fn publish(in_flight: usize) {
    metrics::gauge!("strata_request_bytes_in_flight").set(in_flight as f64);
}

impl FrameCharge {
    /// Charges `n` more bytes, waiting while the budget is spent (see the module doc).
    pub async fn charge(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        loop {
            // Register for wake-ups before checking, so a release between the check and the
            // wait is not missed.
            let released = self.budget.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.budget.try_grant(self.id, n) {
                self.held += n;
                return;
            }
            released.await;
        }
    }

    /// Bytes this frame holds.
    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for FrameCharge {
    fn drop(&mut self) {
        self.budget.release(self.id, self.held);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn charges_within_the_limit_are_granted_and_released_on_drop() {
        let budget = RequestBudget::new(Some(100));
        let mut a = budget.frame();
        a.charge(60).await;
        let mut b = budget.frame();
        b.charge(40).await;
        assert_eq!((a.held(), b.held(), budget.in_flight()), (60, 40, 100));
        drop(a);
        assert_eq!(budget.in_flight(), 40);
        drop(b);
        assert_eq!(budget.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_makes_others_wait_until_release() {
        let budget = RequestBudget::new(Some(100));
        // `a` exceeds the limit alone: it becomes privileged rather than deadlocking.
        let mut a = budget.frame();
        a.charge(80).await;
        a.charge(80).await;
        assert_eq!(budget.in_flight(), 160);
        let mut b = budget.frame();
        let waiting = tokio::time::timeout(Duration::from_secs(5), b.charge(10)).await;
        assert!(waiting.is_err(), "b must wait while a holds the budget");
        assert_eq!(budget.in_flight(), 160);
        let b_budget = Arc::clone(&budget);
        let waiter = tokio::spawn(async move {
            let mut b = b_budget.frame();
            b.charge(10).await;
            b.held()
        });
        tokio::task::yield_now().await;
        drop(a);
        assert_eq!(waiter.await.unwrap(), 10);
        assert_eq!(budget.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn partial_frames_that_spend_the_budget_do_not_deadlock() {
        // Two frames of 100 bytes each, charged 25 at a time against a 100-byte budget: both
        // finish (one becomes privileged), and in-flight bytes stay within limit + one frame.
        let budget = RequestBudget::new(Some(100));
        let peak = Arc::new(Mutex::new(0usize));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let budget = Arc::clone(&budget);
            let peak = Arc::clone(&peak);
            tasks.push(tokio::spawn(async move {
                let mut f = budget.frame();
                for _ in 0..4 {
                    f.charge(25).await;
                    {
                        let mut p = peak.lock().unwrap();
                        *p = (*p).max(budget.in_flight());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                f.held()
            }));
        }
        for t in tasks {
            let held = tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("no deadlock")
                .unwrap();
            assert_eq!(held, 100);
        }
        assert!(*peak.lock().unwrap() <= 200);
        assert_eq!(budget.in_flight(), 0);
    }

    #[tokio::test]
    async fn unbounded_budget_counts_but_never_waits() {
        let budget = RequestBudget::new(None);
        let mut a = budget.frame();
        a.charge(usize::MAX / 2).await;
        let mut b = budget.frame();
        b.charge(10).await;
        assert_eq!(budget.in_flight(), usize::MAX / 2 + 10);
    }
}
