//! One multipart upload attempt of a local file: initiate, the parts (read from the file in
//! order, up to `multipart_concurrency` of them in flight), complete; abort when anything
//! fails.
//!
//! Invariants: a part is `multipart_part_size` bytes (raised to fit S3's 10,000 parts), the
//! last one shorter; object_store numbers parts in `put_part` order, so parts may finish in any
//! order; each part holds its bytes in memory only while in flight; the object appears only at
//! `complete`, whole.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{PutMultipartOptions, PutPayload};
use tokio::io::AsyncReadExt;

use super::error::{StoreError, StoreErrorKind};
use super::retry::{self, PartRetryPolicy};
use super::{RemoteStore, StoreOptions, S3_MAX_PARTS};

impl RemoteStore {
    /// One multipart attempt: initiate, upload the parts (up to `multipart_concurrency` at
    /// once), complete; abort on failure.
    pub(super) async fn multipart_attempt(
        &self,
        location: &Path,
        path: &FsPath,
        size: u64,
        context: &str,
    ) -> Result<(), StoreError> {
        let opts = self.opts();
        let store = &self.inner.store;
        let step = self.timeout();
        let policy = Arc::new(PartRetryPolicy {
            max_retries: opts.max_retries,
            base: opts.retry_base,
        });
        let multipart_opts = PutMultipartOptions::default().with_retry_policy(policy);
        let mut upload = retry::with_timeout(step, context, async {
            store
                .put_multipart_opts(location, multipart_opts)
                .await
                .map_err(|e| StoreError::from_object_store(context, e))
        })
        .await?;

        let part_size = part_size_for(size, opts.multipart_part_size);
        let part_deadline = part_deadline(opts);
        let result = async {
            let mut file = tokio::fs::File::open(path).await.map_err(|e| {
                StoreError::with_source(
                    StoreErrorKind::Permanent,
                    format!("{context}: opening local file"),
                    e,
                )
            })?;
            let mut sent = 0u64;
            // Parts in flight (object_store numbers them in `put_part` order, so they may
            // finish in any order); at most `multipart_concurrency` at once.
            let mut in_flight = futures::stream::FuturesUnordered::new();
            while sent < size {
                let len = (size - sent).min(part_size as u64) as usize;
                let mut buf = vec![0u8; len];
                file.read_exact(&mut buf).await.map_err(|e| {
                    StoreError::with_source(
                        StoreErrorKind::Permanent,
                        format!("{context}: reading local file at {sent} (did it shrink?)"),
                        e,
                    )
                })?;
                let part = upload.put_part(PutPayload::from(buf));
                in_flight.push(retry::with_timeout(part_deadline, context, async {
                    part.await
                        .map_err(|e| StoreError::from_object_store(context, e))
                }));
                sent += len as u64;
                if in_flight.len() >= opts.multipart_concurrency.max(1) {
                    if let Some(done) = in_flight.next().await {
                        done?;
                    }
                }
            }
            while let Some(done) = in_flight.next().await {
                done?;
            }
            retry::with_timeout(step, context, async {
                upload
                    .complete()
                    .await
                    .map(|_| ())
                    .map_err(|e| StoreError::from_object_store(context, e))
            })
            .await
        }
        .await;

        if let Err(e) = &result {
            let aborted = retry::with_timeout(step, context, async {
                upload
                    .abort()
                    .await
                    .map_err(|e| StoreError::from_object_store(context, e))
            })
            .await;
            if let Err(abort_err) = aborted {
                tracing::warn!(
                    context,
                    error = %e,
                    abort_error = %abort_err,
                    "aborting a failed multipart upload failed; the bucket's lifecycle rule must clean it up"
                );
            }
        }
        result
    }
}

/// The part size for a `size`-byte upload: `configured`, raised so that the upload fits in
/// [`S3_MAX_PARTS`] parts.
pub(super) fn part_size_for(size: u64, configured: usize) -> usize {
    let configured = configured.max(1) as u64;
    let needed = size.div_ceil(S3_MAX_PARTS);
    configured.max(needed) as usize
}

/// How long one part may take: object_store retries a failed part (with our policy) inside
/// `put_part`, so a part gets every attempt's timeout plus the backoff between them.
fn part_deadline(opts: &StoreOptions) -> Duration {
    let attempts = opts.max_retries.saturating_add(1);
    let backoff = retry::MAX_BACKOFF.min(
        opts.retry_base
            .saturating_mul(2u32.saturating_pow(opts.max_retries.min(31))),
    );
    opts.request_timeout
        .saturating_mul(attempts)
        .saturating_add(backoff)
}
