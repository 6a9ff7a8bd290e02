//! Fault injection: [`FaultyStore`] wraps any `ObjectStore` and fails calls on demand.
//!
//! A shared [`FaultPlan`] decides, for every call (including each part and the completion of
//! a multipart upload), whether to fail it. First `skip_next` calls go through untouched (to aim
//! at, say, the second part of an upload); then precedence is: an armed permanent failure, an
//! armed transient failure, an armed hang, a random transient failure with probability
//! `fail_ratio`. Armed counters are consumed one per call.
//!
//! - transient: `Error::Generic` whose source says "status code: 503 Service Unavailable" — the
//!   same text object_store's HTTP client produces for a real 503, so it takes the same
//!   classification path;
//! - permanent: `Error::PermissionDenied` (what a 403 becomes);
//! - hang: the call sleeps for [`FaultPlan::set_hang`] (default one hour) before going through,
//!   which outlasts any per-attempt timeout;
//! - lost response (`lose_response_next`, for puts, multipart completions and deletes): the call
//!   goes through and *then* hangs — the write happened but the caller times out, the ambiguous
//!   case retries must handle.
//!
//! Aborts are counted but never failed, so tests can check that failed uploads are cleaned up.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use rand::Rng;

const STORE: &str = "FaultyStore";

/// The error a [`FaultyStore`] injects, with the HTTP status it imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedFault {
    /// The imitated HTTP status (503 for transient, 403 for permanent failures).
    pub status: u16,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.status {
            403 => "Forbidden",
            503 => "Service Unavailable",
            _ => "Injected",
        };
        write!(
            f,
            "injected fault: Server returned non-2xx status code: {} {reason}",
            self.status
        )
    }
}

impl std::error::Error for InjectedFault {}

/// What to inject next. Share it (`Arc`) between the test and the [`FaultyStore`].
#[derive(Debug)]
pub struct FaultPlan {
    /// Calls left to fail with a transient (503-like) error.
    pub fail_next: AtomicU32,
    /// Calls left to hang past any timeout.
    pub timeout_next: AtomicU32,
    /// Calls left to fail with a permanent (403-like) error.
    pub permanent_next: AtomicU32,
    /// Calls left to let through before the armed faults apply.
    pub skip_next: AtomicU32,
    /// Writes left whose response is lost: they take effect, then hang.
    pub lose_response_next: AtomicU32,
    /// Probability in [0, 1] that an otherwise unaffected call fails transiently (f64 bits).
    fail_ratio_bits: AtomicU64,
    hang_millis: AtomicU64,
    calls: AtomicU64,
    injected: AtomicU64,
    aborts: AtomicU64,
}

impl Default for FaultPlan {
    fn default() -> FaultPlan {
        FaultPlan {
            fail_next: AtomicU32::new(0),
            timeout_next: AtomicU32::new(0),
            permanent_next: AtomicU32::new(0),
            skip_next: AtomicU32::new(0),
            lose_response_next: AtomicU32::new(0),
            fail_ratio_bits: AtomicU64::new(0f64.to_bits()),
            hang_millis: AtomicU64::new(3_600_000),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            aborts: AtomicU64::new(0),
        }
    }
}

enum Fault {
    Transient,
    Permanent,
    Hang(Duration),
}

impl FaultPlan {
    /// A plan that injects nothing until armed.
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    /// Fails the next `n` calls with a transient error.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` calls hang (see [`FaultPlan::set_hang`]).
    pub fn timeout_next(&self, n: u32) {
        self.timeout_next.store(n, Ordering::SeqCst);
    }

    /// Fails the next `n` calls with a permanent error.
    pub fn permanent_next(&self, n: u32) {
        self.permanent_next.store(n, Ordering::SeqCst);
    }

    /// Lets the next `n` calls through before armed faults apply.
    pub fn skip_next(&self, n: u32) {
        self.skip_next.store(n, Ordering::SeqCst);
    }

    /// Lets the next `n` writes take effect, then hang (their response is lost).
    pub fn lose_response_next(&self, n: u32) {
        self.lose_response_next.store(n, Ordering::SeqCst);
    }

    /// Fails each later call transiently with probability `ratio` (clamped to [0, 1]).
    pub fn set_fail_ratio(&self, ratio: f64) {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self.fail_ratio_bits
            .store(ratio.to_bits(), Ordering::SeqCst);
    }

    /// The current random failure probability.
    pub fn fail_ratio(&self) -> f64 {
        f64::from_bits(self.fail_ratio_bits.load(Ordering::SeqCst))
    }

    /// How long a hanging call sleeps before going through (default one hour).
    pub fn set_hang(&self, hang: Duration) {
        let millis = u64::try_from(hang.as_millis()).unwrap_or(u64::MAX);
        self.hang_millis.store(millis, Ordering::SeqCst);
    }

    /// Disarms everything (counters are kept).
    pub fn disarm(&self) {
        self.fail_next(0);
        self.timeout_next(0);
        self.permanent_next(0);
        self.skip_next(0);
        self.lose_response_next(0);
        self.set_fail_ratio(0.0);
    }

    /// Calls seen so far (every consulted call, failed or not; aborts excluded).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Faults injected so far (hangs included).
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Multipart uploads aborted so far.
    pub fn aborts(&self) -> u64 {
        self.aborts.load(Ordering::SeqCst)
    }

    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn next_fault(&self) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if Self::take(&self.skip_next) {
            return None;
        }
        let fault = if Self::take(&self.permanent_next) {
            Some(Fault::Permanent)
        } else if Self::take(&self.fail_next) {
            Some(Fault::Transient)
        } else if Self::take(&self.timeout_next) {
            Some(Fault::Hang(Duration::from_millis(
                self.hang_millis.load(Ordering::SeqCst),
            )))
        } else {
            let ratio = self.fail_ratio();
            (ratio > 0.0 && rand::rng().random::<f64>() < ratio).then_some(Fault::Transient)
        };
        if fault.is_some() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        fault
    }

    /// After a write went through: hangs if its response is to be lost.
    async fn after_write(&self) {
        if Self::take(&self.lose_response_next) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            let hang = Duration::from_millis(self.hang_millis.load(Ordering::SeqCst));
            tokio::time::sleep(hang).await;
        }
    }

    /// Consults the plan for one call on `path`: `Err` to fail it, `Ok` to let it through
    /// (after sleeping, for a hang).
    async fn inject(&self, path: &str) -> object_store::Result<()> {
        match self.next_fault() {
            None => Ok(()),
            Some(Fault::Transient) => Err(object_store::Error::Generic {
                store: STORE,
                source: Box::new(InjectedFault { status: 503 }),
            }),
            Some(Fault::Permanent) => Err(object_store::Error::PermissionDenied {
                path: path.to_string(),
                source: Box::new(InjectedFault { status: 403 }),
            }),
            Some(Fault::Hang(hang)) => {
                tokio::time::sleep(hang).await;
                Ok(())
            }
        }
    }
}

/// An `ObjectStore` that injects the failures of a [`FaultPlan`] before delegating.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: Arc<FaultPlan>,
}

impl FaultyStore {
    /// Wraps `inner`; arm `plan` to inject failures.
    pub fn new(inner: Arc<dyn ObjectStore>, plan: Arc<FaultPlan>) -> FaultyStore {
        FaultyStore { inner, plan }
    }

    /// The shared plan.
    pub fn plan(&self) -> &Arc<FaultPlan> {
        &self.plan
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.plan.inject(location.as_ref()).await?;
        let result = self.inner.put_opts(location, payload, opts).await;
        self.plan.after_write().await;
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.plan.inject(location.as_ref()).await?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            inner,
            plan: Arc::clone(&self.plan),
            path: location.to_string(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.plan.inject(location.as_ref()).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.plan.inject(location.as_ref()).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let inner = Arc::clone(&self.inner);
        let plan = Arc::clone(&self.plan);
        locations
            .then(move |location| {
                let inner = Arc::clone(&inner);
                let plan = Arc::clone(&plan);
                async move {
                    let location = location?;
                    plan.inject(location.as_ref()).await?;
                    let one = stream::once(async move { Ok(location) }).boxed();
                    let result = match inner.delete_stream(one).next().await {
                        Some(result) => result,
                        None => Err(object_store::Error::Generic {
                            store: STORE,
                            source: "inner delete_stream ended without a result".into(),
                        }),
                    };
                    plan.after_write().await;
                    result
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let plan = Arc::clone(&self.plan);
        let prefix = prefix.cloned();
        stream::once(async move {
            let at = prefix.as_ref().map(|p| p.to_string()).unwrap_or_default();
            match plan.inject(&at).await {
                Ok(()) => inner.list(prefix.as_ref()),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let at = prefix.map(|p| p.to_string()).unwrap_or_default();
        self.plan.inject(&at).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.plan.inject(to.as_ref()).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.plan.inject(to.as_ref()).await?;
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose parts and completion go through the plan.
#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    plan: Arc<FaultPlan>,
    path: String,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.inner.put_part(data);
        let plan = Arc::clone(&self.plan);
        let path = self.path.clone();
        Box::pin(async move {
            plan.inject(&path).await?;
            part.await
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.plan.inject(&self.path).await?;
        let result = self.inner.complete().await;
        self.plan.after_write().await;
        result
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.plan.aborts.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}
