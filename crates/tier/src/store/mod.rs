//! The object-storage layer of tiered storage: [`RemoteStore`], a small key/value API over
//! `object_store` with timeouts, retries, metrics and fault injection.
//!
//! # Overview
//!
//! A [`RemoteStore`] is an `Arc<dyn ObjectStore>` (S3 via `AmazonS3`, a local directory via
//! `LocalFileSystem`, or anything passed to [`RemoteStore::from_object_store`] — `InMemory`, a
//! [`FaultyStore`]) plus a key prefix and [`StoreOptions`]. Every concern is a layer:
//! `url` (what a store URL means), `credentials` (aws-config's default chain adapted into
//! object_store), `retry` (per-attempt timeout, backoff), `error` (classification),
//! `metrics`, `faults` (failure injection, an `ObjectStore` wrapper), and `accounting`
//! (requests by billable kind and payload bytes, counted per HTTP request by `http_counting`
//! for S3 and per call by `logical_counting` otherwise; see [`RemoteStore::accounting`]).
//!
//! # Contracts
//!
//! - Keys are '/'-separated, relative to the store's prefix (`s3://bucket/prefix` stores `k`
//!   at `prefix/k`). A key may not be empty, start or end with '/', or contain empty, `.` or
//!   `..` segments: such keys are [`StoreErrorKind::Permanent`] errors, never sent.
//! - [`RemoteStore::put`] overwrites. [`RemoteStore::upload_file`] too; it puts in one request
//!   up to `multipart_threshold` bytes and in a multipart upload above (parts of
//!   `multipart_part_size`, raised if needed to stay within S3's 10 000 parts, up to
//!   `multipart_concurrency` parts in flight at once; the multipart is
//!   aborted when an attempt fails). An object becomes visible whole or not at all.
//! - [`RemoteStore::put_if_absent`] never overwrites: `Ok(true)` if this call created the
//!   object, `Ok(false)` if it already existed. If an earlier attempt of the same call timed out
//!   or failed transiently (it may have succeeded on the server) and a later attempt finds the
//!   object, the stored bytes are compared with ours: equal bytes count as created by us.
//! - [`RemoteStore::get`] / [`RemoteStore::get_range`] of a missing object fail with
//!   [`StoreErrorKind::NotFound`]; `get_range` returns exactly `range.end - range.start` bytes
//!   or fails (a range past the end is an error; an empty range is `Ok` with no request).
//! - [`RemoteStore::head`] returns `None` for a missing object.
//! - [`RemoteStore::list`] is recursive with *string*-prefix semantics on keys, like S3's
//!   `ListObjectsV2` (`"a/b"` matches `a/b/c` and `a/bc`); keys come back relative to the
//!   store prefix, sorted. Listing is not a snapshot: concurrent writes may or may not appear.
//! - [`RemoteStore::delete`] succeeds if the object is missing.
//!
//! # Failures, retries and timeouts
//!
//! Each attempt is bounded by `request_timeout`; transient errors and timeouts are retried up to
//! `max_retries` times with exponential backoff and jitter (see [`retry`]); `Permanent`,
//! `NotFound` and `AlreadyExists` return at once. Every operation is idempotent, so retrying
//! after an ambiguous failure is safe (see `put_if_absent` above). For S3 stores, object_store's
//! own request retries are disabled so that this layer alone decides — except for individual
//! multipart parts, which object_store retries with this layer's policy.
//! Multipart attempts bound each step (initiate, every part, complete) rather than the whole
//! upload. A `get` is one attempt for the whole body: use `get_range` for large objects.
//!
//! # Cancellation
//!
//! Dropping a returned future cancels the operation: the in-flight request is dropped and no
//! retry follows. A dropped `put` may or may not have taken effect. A dropped multipart upload
//! is not aborted (there is no async drop): configure the bucket's
//! `AbortIncompleteMultipartUpload` lifecycle rule.
//!
//! # Durability
//!
//! `file://` stores fsync files and their directories before a write returns, matching S3's
//! "acknowledged means durable".

pub mod accounting;
pub mod aligned;
pub mod credentials;
pub mod error;
pub mod faults;
pub mod http_counting;
mod listing;
pub mod logical_counting;
pub mod metrics;
mod multipart;
pub mod retry;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod url;

use std::fmt;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig,
};

pub use accounting::{AccountingSnapshot, CountSource, RequestKind};
pub use credentials::AwsConfigCredentials;
pub use error::{StoreError, StoreErrorKind};
pub use faults::{FaultPlan, FaultyStore, InjectedFault};
pub use url::StoreUrl;

use accounting::Accounting;
use credentials::Probe;
use logical_counting::LogicalCountingStore;

/// S3's smallest part (all but the last part of a multipart upload).
pub const S3_MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's largest number of parts in one multipart upload.
pub const S3_MAX_PARTS: u64 = 10_000;

const MIB: u64 = 1024 * 1024;

/// How to reach and use a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// S3 endpoint (e.g. `http://127.0.0.1:9000`); `None` for AWS. Default: the environment's
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (the AWS SDK convention).
    pub endpoint: Option<String>,
    /// S3 region; `None` resolves through aws-config's region chain (`AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, profile, then instance metadata unless
    /// `AWS_EC2_METADATA_DISABLED=true`), else `us-east-1`.
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted ones
    /// (`bucket.endpoint/key`). Default `true` (object_store's default, and what
    /// S3-compatible servers need). With `false` and an endpoint, the bucket is put in front of
    /// the endpoint's host.
    pub path_style: bool,
    /// Allow plain HTTP endpoints. Default: `AWS_ALLOW_HTTP=true` in the environment.
    pub allow_http: bool,
    /// Bound of one attempt (one request; one step of a multipart upload). Default 30 s.
    pub request_timeout: Duration,
    /// Retries after the first attempt for transient errors and timeouts. Default 5.
    pub max_retries: u32,
    /// First backoff; doubles per retry, jittered. Default 100 ms.
    pub retry_base: Duration,
    /// `upload_file` uses a multipart upload for files larger than this. Default 8 MiB.
    pub multipart_threshold: u64,
    /// Part size of multipart uploads; at least 5 MiB for S3. Default 8 MiB.
    pub multipart_part_size: usize,
    /// Parts of one multipart upload in flight at once (each holds one part in memory).
    /// Default 1 (in order); the broker sets `strata.tier.multipart.concurrency`.
    pub multipart_concurrency: usize,
    /// Refuse every write and delete (a read replica's store): `put`, `put_if_absent`,
    /// `upload_file` and `delete` fail with [`StoreErrorKind::Permanent`] before any request
    /// is sent. Default `false`.
    pub read_only: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        StoreOptions {
            endpoint: env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
            region: None,
            path_style: true,
            allow_http: env("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            request_timeout: Duration::from_secs(30),
            max_retries: 5,
            retry_base: Duration::from_millis(100),
            multipart_threshold: 8 * MIB,
            multipart_part_size: 8 * MIB as usize,
            multipart_concurrency: 1,
            read_only: false,
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Key relative to the store prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last-modified time (the store's clock), milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

/// A bucket (or directory) with a key prefix; cheap to clone.
#[derive(Clone)]
pub struct RemoteStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    /// Without leading or trailing '/'; empty for none.
    prefix: String,
    opts: StoreOptions,
    description: String,
    /// Requests and payload bytes since this store was opened.
    accounting: Arc<Accounting>,
    /// The directory of a `file://` store: `delete` also removes the staging files
    /// (`<file>#<n>`) that a write interrupted by a crash leaves next to an object's path, which
    /// `LocalFileSystem` never lists or deletes itself.
    local_dir: Option<std::path::PathBuf>,
}

impl fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteStore")
            .field("store", &self.inner.description)
            .field("opts", &self.inner.opts)
            .finish()
    }
}

impl RemoteStore {
    /// Opens `file:///abs/dir` (the directory is created if missing) or `s3://bucket/prefix`.
    ///
    /// For S3, credentials come from aws-config's default chain (environment, shared profile,
    /// SSO, `credential_process`, web identity, ECS, instance metadata), asked once here; if
    /// it finds none, object_store's own environment handling is used, and if that has nothing
    /// either while `AWS_EC2_METADATA_DISABLED=true`, this fails (`Permanent`) rather than
    /// building a store that cannot sign. Unknown schemes are `Permanent` errors.
    pub async fn from_url(url: &str, opts: StoreOptions) -> Result<RemoteStore, StoreError> {
        let parsed = StoreUrl::parse(url)?;
        let description = parsed.describe();
        match parsed {
            StoreUrl::File { dir } => {
                tokio::fs::create_dir_all(&dir).await.map_err(|e| {
                    StoreError::with_source(
                        StoreErrorKind::Permanent,
                        format!("creating store directory {}", dir.display()),
                        e,
                    )
                })?;
                let local = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| {
                        StoreError::from_object_store(format!("opening {description}"), e)
                    })?
                    .with_automatic_cleanup(true)
                    .with_fsync(true);
                let accounting = Arc::new(Accounting::new(CountSource::Logical));
                let local = LogicalCountingStore::new(Arc::new(local), Arc::clone(&accounting));
                let mut store =
                    RemoteStore::build(Arc::new(local), "", opts, description, accounting);
                store.set_local_dir(dir);
                Ok(store)
            }
            StoreUrl::S3 { bucket, prefix } => {
                let accounting = Arc::new(Accounting::new(CountSource::Http));
                let s3 = build_s3(&bucket, &opts, Arc::clone(&accounting)).await?;
                Ok(RemoteStore::build(
                    s3,
                    &prefix,
                    opts,
                    description,
                    accounting,
                ))
            }
        }
    }

    /// Wraps an existing store (tests, fault injection). `prefix` is '/'-separated; slashes
    /// at either end are ignored. Its requests are counted per call
    /// ([`CountSource::Logical`]).
    pub fn from_object_store(
        inner: Arc<dyn ObjectStore>,
        prefix: &str,
        opts: StoreOptions,
    ) -> RemoteStore {
        let prefix = prefix.trim_matches('/');
        let description = if prefix.is_empty() {
            inner.to_string()
        } else {
            format!("{inner}/{prefix}")
        };
        let accounting = Arc::new(Accounting::new(CountSource::Logical));
        let inner = Arc::new(LogicalCountingStore::new(inner, Arc::clone(&accounting)));
        RemoteStore::build(inner, prefix, opts, description, accounting)
    }

    fn build(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        opts: StoreOptions,
        description: String,
        accounting: Arc<Accounting>,
    ) -> RemoteStore {
        RemoteStore {
            inner: Arc::new(Inner {
                store,
                prefix: prefix.trim_matches('/').to_string(),
                opts,
                description,
                accounting,
                local_dir: None,
            }),
        }
    }

    /// Records the directory of a `file://` store (only while `inner` is not shared yet).
    fn set_local_dir(&mut self, dir: std::path::PathBuf) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.local_dir = Some(dir);
        }
    }

    /// Where this store points, for logs: `s3://bucket/prefix`, `file:///dir`.
    pub fn describe(&self) -> String {
        self.inner.description.clone()
    }

    /// The options this store was built with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.opts
    }

    /// Requests by kind and payload bytes since this store was opened (shared by its clones).
    pub fn accounting(&self) -> AccountingSnapshot {
        self.inner.accounting.snapshot()
    }

    /// The underlying object store (without prefix, retries or metrics; its requests are
    /// still counted in [`RemoteStore::accounting`]).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// Whether this store refuses writes and deletes ([`StoreOptions::read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.inner.opts.read_only
    }

    /// A handle to the same store and prefix that refuses every write and delete
    /// ([`StoreOptions::read_only`]); its requests are counted with this store's.
    pub fn read_only(&self) -> RemoteStore {
        let inner = &self.inner;
        RemoteStore {
            inner: Arc::new(Inner {
                store: Arc::clone(&inner.store),
                prefix: inner.prefix.clone(),
                opts: StoreOptions {
                    read_only: true,
                    ..inner.opts.clone()
                },
                description: inner.description.clone(),
                accounting: Arc::clone(&inner.accounting),
                local_dir: inner.local_dir.clone(),
            }),
        }
    }

    fn refuse_if_read_only(&self, op: &str, key: &str) -> Result<(), StoreError> {
        if !self.inner.opts.read_only {
            return Ok(());
        }
        ::metrics::counter!("strata_remote_read_only_refusals_total").increment(1);
        Err(StoreError::new(
            StoreErrorKind::Permanent,
            format!(
                "{}: this store is read-only (a read replica never writes to or deletes from the bucket)",
                self.context(op, key)
            ),
        ))
    }

    /// Writes `data` at `key`, replacing any existing object.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        self.refuse_if_read_only("put", key)?;
        let location = self.location(key)?;
        let context = self.context("put", key);
        let len = data.len() as u64;
        let store = &self.inner.store;
        retry::run("put", &context, self.opts(), Some(self.timeout()), || {
            let payload = PutPayload::from_bytes(data.clone());
            let (location, context) = (&location, &context);
            async move {
                store
                    .put_opts(location, payload, PutOptions::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| StoreError::from_object_store(context.as_str(), e))
            }
        })
        .await?;
        self.inner.accounting.record_uploaded(len);
        Ok(())
    }

    /// Writes `data` at `key` only if nothing is there: `Ok(true)` if created, `Ok(false)` if
    /// an object already existed (left untouched). See the module doc for retried attempts.
    pub async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<bool, StoreError> {
        self.refuse_if_read_only("put_if_absent", key)?;
        let location = self.location(key)?;
        let context = self.context("put_if_absent", key);
        let len = data.len() as u64;
        let store = &self.inner.store;
        let attempted = AtomicBool::new(false);
        let created = retry::run(
            "put_if_absent",
            &context,
            self.opts(),
            Some(self.timeout()),
            || {
                let earlier_attempt = attempted.swap(true, Ordering::SeqCst);
                let data = data.clone();
                let (location, context) = (&location, &context);
                async move {
                    let opts = PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    };
                    let payload = PutPayload::from_bytes(data.clone());
                    match store.put_opts(location, payload, opts).await {
                        Ok(_) => Ok(true),
                        Err(e) => {
                            let err = StoreError::from_object_store(context.as_str(), e);
                            if err.kind != StoreErrorKind::AlreadyExists {
                                return Err(err);
                            }
                            if !earlier_attempt {
                                return Ok(false);
                            }
                            // An earlier attempt may have written it: compare.
                            let existing = store
                                .get_opts(location, GetOptions::default())
                                .await
                                .map_err(|e| StoreError::from_object_store(context.as_str(), e))?
                                .bytes()
                                .await
                                .map_err(|e| StoreError::from_object_store(context.as_str(), e))?;
                            Ok(existing == data)
                        }
                    }
                }
            },
        )
        .await?;
        if created {
            self.inner.accounting.record_uploaded(len);
        }
        Ok(created)
    }

    /// Uploads the file at `path` to `key` (overwriting), reading it in parts; returns the
    /// number of bytes uploaded. The file must not change during the upload.
    pub async fn upload_file(&self, key: &str, path: &FsPath) -> Result<u64, StoreError> {
        self.refuse_if_read_only("upload_file", key)?;
        let location = self.location(key)?;
        let context = format!(
            "{} from {}",
            self.context("upload_file", key),
            path.display()
        );
        let local_err = |what: &str, e: std::io::Error| {
            StoreError::with_source(
                StoreErrorKind::Permanent,
                format!("{context}: {what} local file"),
                e,
            )
        };
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| local_err("reading metadata of", e))?
            .len();
        let opts = self.opts();
        let store = &self.inner.store;
        if size <= opts.multipart_threshold {
            let data = Bytes::from(
                tokio::fs::read(path)
                    .await
                    .map_err(|e| local_err("reading", e))?,
            );
            if data.len() as u64 != size {
                return Err(StoreError::new(
                    StoreErrorKind::Permanent,
                    format!("{context}: file changed size during upload"),
                ));
            }
            retry::run("upload_file", &context, opts, Some(self.timeout()), || {
                let payload = PutPayload::from_bytes(data.clone());
                let (location, context) = (&location, &context);
                async move {
                    store
                        .put_opts(location, payload, PutOptions::default())
                        .await
                        .map(|_| ())
                        .map_err(|e| StoreError::from_object_store(context.as_str(), e))
                }
            })
            .await?;
        } else {
            retry::run("upload_file", &context, opts, None, || {
                self.multipart_attempt(&location, path, size, &context)
            })
            .await?;
        }
        self.inner.accounting.record_uploaded(size);
        Ok(size)
    }

    /// Reads the whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let location = self.location(key)?;
        let context = self.context("get", key);
        let store = &self.inner.store;
        let data = retry::run("get", &context, self.opts(), Some(self.timeout()), || {
            let (location, context) = (&location, &context);
            async move {
                let map = |e| StoreError::from_object_store(context.as_str(), e);
                store
                    .get_opts(location, GetOptions::default())
                    .await
                    .map_err(map)?
                    .bytes()
                    .await
                    .map_err(map)
            }
        })
        .await?;
        self.inner.accounting.record_read(data.len() as u64);
        Ok(data)
    }

    /// Reads bytes `range` of the object at `key`: exactly `range.end - range.start` bytes.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let location = self.location(key)?;
        let context = format!("{} bytes {range:?}", self.context("get_range", key));
        if range.start > range.end {
            return Err(StoreError::new(
                StoreErrorKind::Permanent,
                format!("{context}: start is after end"),
            ));
        }
        if range.start == range.end {
            return Ok(Bytes::new());
        }
        let want = range.end - range.start;
        let store = &self.inner.store;
        let data = retry::run(
            "get_range",
            &context,
            self.opts(),
            Some(self.timeout()),
            || {
                let (location, context, range) = (&location, &context, range.clone());
                async move {
                    let map = |e| StoreError::from_object_store(context.as_str(), e);
                    let options = GetOptions {
                        range: Some(GetRange::Bounded(range)),
                        ..GetOptions::default()
                    };
                    let result = store.get_opts(location, options).await.map_err(map)?;
                    // Into page-aligned memory: the cold cache writes it with O_DIRECT.
                    let data = match aligned::collect(result, want as usize).await.map_err(map)? {
                        Ok(data) => data,
                        Err(got) => {
                            return Err(StoreError::new(
                                StoreErrorKind::Permanent,
                                format!("{context}: the body is longer than the range ({got} bytes or more)"),
                            ))
                        }
                    };
                    if data.len() as u64 != want {
                        return Err(StoreError::new(
                            StoreErrorKind::Permanent,
                            format!(
                                "{context}: got {} bytes, the object ends before the range does",
                                data.len()
                            ),
                        ));
                    }
                    Ok(data)
                }
            },
        )
        .await?;
        self.inner.accounting.record_read(data.len() as u64);
        Ok(data)
    }

    /// The size of the object at `key`, or `None` if it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let location = self.location(key)?;
        let context = self.context("head", key);
        let store = &self.inner.store;
        let result = retry::run("head", &context, self.opts(), Some(self.timeout()), || {
            let (location, context) = (&location, &context);
            async move {
                store
                    .head(location)
                    .await
                    .map(|meta| meta.size)
                    .map_err(|e| StoreError::from_object_store(context.as_str(), e))
            }
        })
        .await;
        match result {
            Ok(size) => Ok(Some(size)),
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with `prefix` (string prefix, recursive), as
    /// `(key relative to the store prefix, size)`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self
            .list_objects(prefix)
            .await?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect())
    }

    /// Like [`RemoteStore::list`], with each object's last-modified time.
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, StoreError> {
        let context = self.context("list", prefix);
        let wanted = match (self.inner.prefix.is_empty(), prefix.is_empty()) {
            (true, _) => prefix.to_string(),
            (false, true) => format!("{}/", self.inner.prefix),
            (false, false) => format!("{}/{}", self.inner.prefix, prefix),
        };
        if wanted.starts_with('/') {
            return Err(StoreError::new(
                StoreErrorKind::Permanent,
                format!("{context}: a prefix may not start with '/'"),
            ));
        }
        // object_store lists whole path segments: list the enclosing "directory", then filter.
        let dir = match wanted.rfind('/') {
            Some(at) => &wanted[..at],
            None => "",
        };
        let dir = if dir.is_empty() {
            None
        } else {
            url::validate_prefix(dir).map_err(|why| {
                StoreError::new(StoreErrorKind::Permanent, format!("{context}: {why}"))
            })?;
            Some(Path::parse(dir).map_err(|e| {
                StoreError::with_source(StoreErrorKind::Permanent, context.clone(), e)
            })?)
        };
        let store = &self.inner.store;
        let strip = if self.inner.prefix.is_empty() {
            0
        } else {
            self.inner.prefix.len() + 1
        };
        let result = retry::run("list", &context, self.opts(), Some(self.timeout()), || {
            let (dir, context, wanted) = (&dir, &context, &wanted);
            async move {
                let metas: Vec<_> = store
                    .list(dir.as_ref())
                    .try_collect()
                    .await
                    .map_err(|e| StoreError::from_object_store(context.as_str(), e))?;
                Ok(metas
                    .into_iter()
                    .filter(|m| m.location.as_ref().starts_with(wanted.as_str()))
                    .map(|m| ListedObject {
                        key: m.location.as_ref()[strip..].to_string(),
                        size: m.size,
                        last_modified_ms: m.last_modified.timestamp_millis(),
                    })
                    .collect::<Vec<_>>())
            }
        })
        .await;
        let mut entries = match result {
            Ok(entries) => entries,
            // A local store reports a missing directory as NotFound: nothing there.
            Err(e) if e.kind == StoreErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// Deletes the object at `key`; succeeds if it does not exist.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.refuse_if_read_only("delete", key)?;
        let location = self.location(key)?;
        let context = self.context("delete", key);
        let store = &self.inner.store;
        let result = retry::run(
            "delete",
            &context,
            self.opts(),
            Some(self.timeout()),
            || {
                let (location, context) = (&location, &context);
                async move {
                    store
                        .delete(location)
                        .await
                        .map_err(|e| StoreError::from_object_store(context.as_str(), e))
                }
            },
        )
        .await;
        let result = match result {
            Err(e) if e.kind == StoreErrorKind::NotFound => Ok(()),
            other => other,
        };
        if result.is_ok() {
            if let Some(dir) = &self.inner.local_dir {
                remove_staging_files(&dir.join(location.as_ref())).await;
            }
        }
        result
    }

    fn opts(&self) -> &StoreOptions {
        &self.inner.opts
    }

    fn timeout(&self) -> Duration {
        self.inner.opts.request_timeout
    }

    fn context(&self, op: &str, key: &str) -> String {
        format!("{op} {}/{key}", self.inner.description)
    }

    /// The full object path of `key`, or a `Permanent` error for an invalid key.
    fn location(&self, key: &str) -> Result<Path, StoreError> {
        let invalid = |why: String| {
            StoreError::new(
                StoreErrorKind::Permanent,
                format!("invalid key {key:?} in {}: {why}", self.inner.description),
            )
        };
        if key.is_empty() {
            return Err(invalid("empty".into()));
        }
        url::validate_prefix(key).map_err(invalid)?;
        let full = if self.inner.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.inner.prefix)
        };
        Path::parse(&full).map_err(|e| invalid(e.to_string()))
    }
}

/// Removes `<path>#<digits>` files: `LocalFileSystem` writes an object to such a staging file
/// and renames it into place, so a process killed mid-write leaves one behind, invisible to
/// `list` and never deleted otherwise. Best effort: failures are logged.
async fn remove_staging_files(path: &FsPath) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let staged = format!("{}#", name.to_string_lossy());
    let Ok(mut entries) = tokio::fs::read_dir(parent).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let is_staging = file
            .strip_prefix(staged.as_str())
            .is_some_and(|suffix| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()));
        if is_staging {
            if let Err(e) = tokio::fs::remove_file(entry.path()).await {
                tracing::warn!(path = %entry.path().display(), error = %e, "removing a staging file left by an interrupted write");
            }
        }
    }
}

/// Builds the S3 client for `bucket` (see [`RemoteStore::from_url`]).
async fn build_s3(
    bucket: &str,
    opts: &StoreOptions,
    accounting: Arc<Accounting>,
) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let context = format!("opening s3://{bucket}");
    if opts.multipart_part_size < S3_MIN_PART_SIZE {
        return Err(StoreError::new(
            StoreErrorKind::Permanent,
            format!(
                "{context}: multipart_part_size {} is below S3's minimum of {S3_MIN_PART_SIZE}",
                opts.multipart_part_size
            ),
        ));
    }
    let region = match &opts.region {
        Some(region) => region.clone(),
        None => aws_config::default_provider::region::DefaultRegionChain::builder()
            .build()
            .region()
            .await
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".to_string()),
    };

    // object_store's environment handling, minus what StoreOptions owns (endpoint, region,
    // addressing style, HTTP client settings): credentials, encryption, request payer...
    let mut builder = AmazonS3Builder::new();
    for (name, value) in std::env::vars() {
        if !name.starts_with("AWS_") {
            continue;
        }
        let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() else {
            continue;
        };
        let owned = matches!(
            key,
            AmazonS3ConfigKey::Bucket
                | AmazonS3ConfigKey::Endpoint
                | AmazonS3ConfigKey::S3Endpoint
                | AmazonS3ConfigKey::Region
                | AmazonS3ConfigKey::DefaultRegion
                | AmazonS3ConfigKey::VirtualHostedStyleRequest
                | AmazonS3ConfigKey::Client(_)
        );
        if !owned {
            builder = builder.with_config(key, value);
        }
    }

    // Our retry layer decides; object_store makes one attempt per request.
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 0,
        retry_timeout: opts.request_timeout,
    };
    let client = ClientOptions::new()
        .with_timeout(opts.request_timeout)
        .with_connect_timeout(opts.request_timeout.min(Duration::from_secs(5)))
        .with_allow_http(opts.allow_http);
    builder = builder
        .with_bucket_name(bucket)
        .with_region(&region)
        .with_virtual_hosted_style_request(!opts.path_style)
        .with_client_options(client)
        .with_retry(retry)
        .with_http_connector(http_counting::CountingConnector::new(
            accounting,
            if opts.path_style {
                format!("/{bucket}")
            } else {
                String::new()
            },
        ));
    if let Some(endpoint) = &opts.endpoint {
        let endpoint = if opts.path_style {
            endpoint.clone()
        } else {
            virtual_hosted_endpoint(endpoint, bucket)
        };
        builder = builder.with_endpoint(endpoint);
    }

    match AwsConfigCredentials::probe_default_chain(&region, opts.request_timeout).await? {
        Probe::Found(credentials) => {
            builder = builder.with_credentials(Arc::new(credentials));
        }
        Probe::NotFound => {
            let configured = |key: AmazonS3ConfigKey| builder.get_config_value(&key).is_some();
            let has_source = configured(AmazonS3ConfigKey::AccessKeyId)
                || configured(AmazonS3ConfigKey::WebIdentityTokenFile)
                || configured(AmazonS3ConfigKey::ContainerCredentialsRelativeUri)
                || configured(AmazonS3ConfigKey::ContainerCredentialsFullUri)
                || builder
                    .get_config_value(&AmazonS3ConfigKey::SkipSignature)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let metadata_disabled = std::env::var("AWS_EC2_METADATA_DISABLED")
                .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            if !has_source && metadata_disabled {
                return Err(StoreError::new(
                    StoreErrorKind::Permanent,
                    format!(
                        "{context}: no AWS credentials found (aws-config's default chain and \
                         the environment have none, and AWS_EC2_METADATA_DISABLED=true)"
                    ),
                ));
            }
            tracing::info!(
                bucket,
                "aws-config found no credentials; using object_store's environment handling"
            );
        }
    }

    let s3 = builder
        .build()
        .map_err(|e| StoreError::with_source(StoreErrorKind::Permanent, context, e))?;
    Ok(Arc::new(s3))
}

/// `http://host:port/path` → `http://bucket.host:port/path` (virtual-hosted addressing with a
/// custom endpoint: object_store expects the bucket in the endpoint).
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{bucket}.{rest}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

#[cfg(test)]
mod unit_tests;
