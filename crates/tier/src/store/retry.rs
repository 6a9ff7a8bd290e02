//! Per-attempt timeout and retry with exponential backoff and jitter.
//!
//! An operation is a closure that makes one attempt. Each attempt is bounded by
//! `StoreOptions::request_timeout` (an expired attempt is dropped, which cancels its request,
//! and counts as [`StoreErrorKind::Timeout`]). Retryable failures (`Transient`, `Timeout`) are
//! retried up to `max_retries` times, sleeping `retry_base · 2^(n-1)` capped at
//! [`MAX_BACKOFF`], with "equal jitter" (uniform in the upper half) so that brokers that failed
//! together do not retry together. Other kinds return at once.
//!
//! object_store's own HTTP retries are switched off (`RetryConfig::max_retries = 0`) for stores
//! built by `RemoteStore::from_url`, so this layer is the only one deciding. The exception is a
//! part of a multipart upload: restarting the whole upload for one failed part would be
//! wasteful, so [`PartRetryPolicy`] plugs the same policy into object_store's per-part retry
//! hook (S3 only; other backends ignore it).

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use object_store::client::HttpErrorKind;
use object_store::retry::{RetryContext, RetryFailure, RetryPolicy};
use rand::Rng;

use super::error::{classify_status, StoreError, StoreErrorKind};
use super::metrics;
use super::StoreOptions;

/// Upper bound of one backoff sleep.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The sleep before retry number `retry` (1-based): `base · 2^(retry-1)`, capped at
/// [`MAX_BACKOFF`], uniformly jittered within its upper half.
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
    let full = base.saturating_mul(factor).min(MAX_BACKOFF);
    let half = full / 2;
    let jitter_nanos = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
    let jitter = if jitter_nanos == 0 {
        0
    } else {
        rand::rng().random_range(0..=jitter_nanos)
    };
    half + Duration::from_nanos(jitter)
}

/// Runs `attempt` until it succeeds, fails with a non-retryable error, or `opts.max_retries`
/// retries are spent. With `per_attempt_timeout` set, each attempt is bounded by it; without,
/// the attempt bounds its own steps (multipart uploads).
pub(crate) async fn run<T, F, Fut>(
    op: &'static str,
    context: &str,
    opts: &StoreOptions,
    per_attempt_timeout: Option<Duration>,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut retries = 0u32;
    loop {
        let started = Instant::now();
        let result = match per_attempt_timeout {
            Some(limit) => with_timeout(limit, context, attempt()).await,
            None => attempt().await,
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.as_label(),
        };
        metrics::record_attempt(op, outcome, started.elapsed());
        match result {
            Ok(value) => return Ok(value),
            Err(e) if e.is_retryable() && retries < opts.max_retries => {
                retries += 1;
                metrics::record_retry(op);
                let sleep = backoff(opts.retry_base, retries);
                tracing::warn!(
                    op,
                    context,
                    retry = retries,
                    max_retries = opts.max_retries,
                    sleep_ms = sleep.as_millis() as u64,
                    error = %e,
                    "remote storage attempt failed; retrying"
                );
                tokio::time::sleep(sleep).await;
            }
            Err(mut e) => {
                if retries > 0 {
                    e.context = format!("{} (after {retries} retries)", e.context);
                }
                return Err(e);
            }
        }
    }
}

/// Bounds one step by `limit`; an expired step is a [`StoreErrorKind::Timeout`].
pub(crate) async fn with_timeout<T>(
    limit: Duration,
    context: &str,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::new(
            StoreErrorKind::Timeout,
            format!("{context}: no answer within {limit:?}"),
        )),
    }
}

/// object_store's per-part retry hook for multipart uploads, with this module's policy.
#[derive(Debug)]
pub(crate) struct PartRetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base: Duration,
}

#[async_trait]
impl RetryPolicy for PartRetryPolicy {
    async fn retry(&self, context: RetryContext) -> bool {
        if context.attempt > self.max_retries as usize {
            return false;
        }
        let retryable = match context.failure {
            RetryFailure::Status(status) => matches!(
                classify_status(status.as_u16()),
                StoreErrorKind::Transient | StoreErrorKind::Timeout
            ),
            RetryFailure::Transport(kind) => !matches!(kind, HttpErrorKind::Unknown),
            _ => false,
        };
        if retryable {
            metrics::record_retry("upload_part");
            let sleep = backoff(self.base, context.attempt as u32);
            tracing::warn!(
                attempt = context.attempt,
                failure = ?context.failure,
                sleep_ms = sleep.as_millis() as u64,
                "multipart part upload failed; retrying the part"
            );
            tokio::time::sleep(sleep).await;
        }
        retryable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let base = Duration::from_millis(100);
        for retry in 1..=5u32 {
            let full = base * 2u32.pow(retry - 1);
            for _ in 0..50 {
                let b = backoff(base, retry);
                assert!(b >= full / 2 && b <= full, "retry {retry}: {b:?}");
            }
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
        assert!(backoff(base, 40) >= MAX_BACKOFF / 2);
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }
}
