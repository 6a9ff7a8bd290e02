//! A byte-rate limiter for uploads: each upload reserves its bytes and waits until the budget
//! allows them, so the average upload rate stays at or below the limit.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Shared byte-rate limiter.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bytes_per_sec: u64,
    next_free: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter; `u64::MAX` or 0 means unlimited.
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        RateLimiter {
            bytes_per_sec,
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `bytes` may be sent.
    pub(crate) async fn acquire(&self, bytes: u64) {
        if self.bytes_per_sec == 0 || self.bytes_per_sec == u64::MAX {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        let start = {
            let mut next = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
            let start = (*next).max(Instant::now());
            *next = start + cost;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_reservations_by_their_cost() {
        let r = RateLimiter::new(1000);
        let t0 = tokio::time::Instant::now();
        r.acquire(500).await; // free
        r.acquire(500).await; // waits 0.5 s
        r.acquire(1).await; // waits until 1.0 s
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(1000) && waited < Duration::from_millis(1100),
            "{waited:?}"
        );
    }
}
