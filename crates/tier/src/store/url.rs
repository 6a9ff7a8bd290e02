//! Store URLs: `file:///absolute/dir` and `s3://bucket[/prefix]`.
//!
//! - `file://` takes an absolute path (no host, no percent-decoding); trailing slashes are
//!   ignored. Every key lives under that directory.
//! - `s3://bucket/prefix`: the prefix (slashes at either end ignored) is prepended to every key
//!   as `prefix/key`; `s3://bucket` has no prefix. Endpoint, region and addressing style are
//!   not part of the URL: they come from [`super::StoreOptions`].
//!
//! Anything else — other schemes, query strings, fragments, empty buckets, prefixes with empty,
//! `.` or `..` segments — is a permanent error.

use std::path::PathBuf;

use super::error::{StoreError, StoreErrorKind};

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A directory on the local filesystem.
    File {
        /// The absolute directory.
        dir: PathBuf,
    },
    /// An S3 (or S3-compatible) bucket and key prefix.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing '/', possibly empty.
        prefix: String,
    },
}

impl StoreUrl {
    /// Parses `url` (see the module doc).
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let bad = |why: &str| {
            StoreError::new(
                StoreErrorKind::Permanent,
                format!("invalid store URL {url:?}: {why}"),
            )
        };
        if url.contains('?') || url.contains('#') {
            return Err(bad("query strings and fragments are not supported"));
        }
        if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad("expected file:///absolute/path (no host)"));
            }
            let trimmed = rest.trim_end_matches('/');
            let dir = if trimmed.is_empty() { "/" } else { trimmed };
            return Ok(StoreUrl::File {
                dir: PathBuf::from(dir),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = match rest.split_once('/') {
                Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
                None => (rest, ""),
            };
            if bucket.is_empty() {
                return Err(bad("missing bucket name"));
            }
            if !prefix.is_empty() {
                validate_prefix(prefix).map_err(|why| bad(&why))?;
            }
            return Ok(StoreUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        Err(bad("unsupported scheme (expected file:// or s3://)"))
    }

    /// The canonical form, for logs: `file:///dir` or `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        match self {
            StoreUrl::File { dir } => format!("file://{}", dir.display()),
            StoreUrl::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            StoreUrl::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// Checks that a '/'-separated key or prefix has no empty, `.` or `..` segment and is a valid
/// object_store path.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!("{prefix:?} has an empty, '.' or '..' segment"));
    }
    object_store::path::Path::parse(prefix)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_urls() {
        assert_eq!(
            StoreUrl::parse("file:///tmp/x/prefix/").unwrap(),
            StoreUrl::File {
                dir: PathBuf::from("/tmp/x/prefix")
            }
        );
        assert_eq!(
            StoreUrl::parse("file:///tmp/x").unwrap().describe(),
            "file:///tmp/x"
        );
        assert!(StoreUrl::parse("file://host/tmp").is_err());
        assert!(StoreUrl::parse("file://relative").is_err());
    }

    #[test]
    fn parses_s3_urls() {
        assert_eq!(
            StoreUrl::parse("s3://bucket/a/b/").unwrap(),
            StoreUrl::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        let bare = StoreUrl::parse("s3://bucket").unwrap();
        assert_eq!(bare.describe(), "s3://bucket");
        assert_eq!(
            StoreUrl::parse("s3://bucket/p").unwrap().describe(),
            "s3://bucket/p"
        );
        assert!(StoreUrl::parse("s3:///prefix").is_err());
        assert!(StoreUrl::parse("s3://bucket/a//b").is_err());
        assert!(StoreUrl::parse("s3://bucket/a/../b").is_err());
        assert!(StoreUrl::parse("s3://bucket/a?versionId=1").is_err());
    }

    #[test]
    fn rejects_unknown_schemes_permanently() {
        for url in [
            "gs://bucket",
            "http://127.0.0.1/bucket",
            "bucket/prefix",
            "",
        ] {
            let err = StoreUrl::parse(url).unwrap_err();
            assert_eq!(err.kind, StoreErrorKind::Permanent, "{url}");
        }
    }
}
