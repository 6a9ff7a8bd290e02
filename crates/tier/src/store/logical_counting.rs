//! An `ObjectStore` wrapper that counts *logical* calls as the S3 request kinds they would be,
//! for stores that send no HTTP requests (`file://`, in-memory, fault-injecting wrappers).
//!
//! Mapping (one call, one request, counted when the call is made, whatever its outcome):
//! `put_opts` → `put`; `put_multipart_opts` → `multipart_create`, then every `put_part` →
//! `multipart_part`, `complete` → `multipart_complete`, `abort` → `multipart_abort`;
//! `get_opts` → `head` (head option), `get_range` (a range) or `get`; `get_ranges` → one
//! `get_range` per range; each location of `delete_stream` → `delete`; `list` and
//! `list_with_delimiter` → one `list` (S3 would send one per 1 000 keys); copy and rename →
//! `other`. Only HTTP counting ([`super::http_counting`]) sees retries inside object_store,
//! which only S3 stores do.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};

use super::accounting::{Accounting, RequestKind};

/// Counts the calls to `inner` into an [`Accounting`].
#[derive(Debug)]
pub struct LogicalCountingStore {
    inner: Arc<dyn ObjectStore>,
    accounting: Arc<Accounting>,
}

impl LogicalCountingStore {
    /// Wraps `inner`, counting into `accounting`.
    pub fn new(inner: Arc<dyn ObjectStore>, accounting: Arc<Accounting>) -> LogicalCountingStore {
        LogicalCountingStore { inner, accounting }
    }

    fn count(&self, kind: RequestKind) {
        self.accounting.record_request(kind);
    }
}

impl fmt::Display for LogicalCountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The inner store's name: descriptions and logs stay as without counting.
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl ObjectStore for LogicalCountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.count(RequestKind::Put);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.count(RequestKind::MultipartCreate);
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            inner,
            accounting: Arc::clone(&self.accounting),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let kind = if options.head {
            RequestKind::Head
        } else if options.range.is_some() {
            RequestKind::GetRange
        } else {
            RequestKind::Get
        };
        self.count(kind);
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        for _ in ranges {
            self.count(RequestKind::GetRange);
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let accounting = Arc::clone(&self.accounting);
        let counted = locations
            .inspect(move |location| {
                if location.is_ok() {
                    accounting.record_request(RequestKind::Delete);
                }
            })
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.count(RequestKind::List);
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.count(RequestKind::List);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.count(RequestKind::Other);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.count(RequestKind::Other);
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose steps are counted.
#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    accounting: Arc<Accounting>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.accounting.record_request(RequestKind::MultipartPart);
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.accounting
            .record_request(RequestKind::MultipartComplete);
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.accounting.record_request(RequestKind::MultipartAbort);
        self.inner.abort().await
    }
}
