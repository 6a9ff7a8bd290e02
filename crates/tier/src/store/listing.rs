//! Delimited listing: the "directories" directly below a prefix, in one `ListObjectsV2` request
//! per 1 000 names (S3's `delimiter=/`), without listing the objects beneath them. A read
//! replica learns the bucket's topics and partitions this way, at a cost that does not grow
//! with the number of segments.
//!
//! Invariant: names come back relative to `dir`, without '/', sorted and unique; a `dir` with
//! nothing below it is an empty list, not an error.

use object_store::path::Path;

use super::error::{StoreError, StoreErrorKind};
use super::{retry, url, RemoteStore};

impl RemoteStore {
    /// The names of the "directories" directly below `dir` (a '/'-separated key prefix without
    /// a trailing '/', relative to the store prefix; empty for the store's root): for
    /// `v1/<topic id>` they are the partitions with at least one object.
    pub async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, StoreError> {
        let context = self.context("list_dirs", dir);
        let wanted = match (self.inner.prefix.is_empty(), dir.is_empty()) {
            (true, _) => dir.to_string(),
            (false, true) => self.inner.prefix.clone(),
            (false, false) => format!("{}/{}", self.inner.prefix, dir),
        };
        let path = if wanted.is_empty() {
            None
        } else {
            url::validate_prefix(&wanted).map_err(|why| {
                StoreError::new(StoreErrorKind::Permanent, format!("{context}: {why}"))
            })?;
            Some(Path::parse(&wanted).map_err(|e| {
                StoreError::with_source(StoreErrorKind::Permanent, context.clone(), e)
            })?)
        };
        let store = &self.inner.store;
        let result = retry::run(
            "list_dirs",
            &context,
            self.opts(),
            Some(self.timeout()),
            || {
                let (path, context) = (&path, &context);
                async move {
                    store
                        .list_with_delimiter(path.as_ref())
                        .await
                        .map_err(|e| StoreError::from_object_store(context.as_str(), e))
                }
            },
        )
        .await;
        let listed = match result {
            Ok(listed) => listed,
            // A local store reports a missing directory as NotFound: nothing there.
            Err(e) if e.kind == StoreErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
