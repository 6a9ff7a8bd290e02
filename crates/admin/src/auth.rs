//! Bearer-token authentication shared by the broker's side doors: the gRPC admin API
//! (`strata.grpc.token.file`) and the Prometheus endpoint (`strata.metrics.token.file`).
//!
//! A client authenticates by sending `authorization: Bearer <token>` (RFC 6750) — gRPC
//! metadata on every call, an HTTP header on every scrape.
//!
//! Invariants:
//! - The token comes from a file, trimmed of surrounding whitespace. An unreadable file, an
//!   empty token, or one with characters a header cannot carry (anything but visible ASCII)
//!   is refused when the token is loaded, i.e. at start, never at the first call.
//! - The token is compared in constant time over its own length: how long a check takes
//!   tells nothing about how many leading bytes of a guess were right.
//! - The token is never logged or printed: [`BearerToken`]'s `Debug` is redacted and refusal
//!   messages never quote what the client sent.
//! - A missing, malformed or wrong `authorization` value is refused the same way; the gRPC
//!   status is UNAUTHENTICATED and does not say which of the three it was.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context};
use tonic::{Request, Status};

/// The secret a client must present as `authorization: Bearer <token>`.
#[derive(Clone)]
pub struct BearerToken {
    secret: Vec<u8>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// Reads the token from `path` (contents trimmed); `setting` names where the path came
    /// from, for the error.
    pub fn from_file(path: &Path, setting: &str) -> anyhow::Result<BearerToken> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("{setting}: reading the token file {}", path.display()))?;
        // One line naming the setting, the file and what is wrong with it.
        BearerToken::new(bytes.trim_ascii())
            .map_err(|e| anyhow::anyhow!("{setting}: the token file {}: {e}", path.display()))
    }

    /// A token from its bytes: not empty, visible ASCII only (what a header value can carry).
    pub fn new(secret: &[u8]) -> anyhow::Result<BearerToken> {
        if secret.is_empty() {
            bail!("the token is empty");
        }
        if !secret.iter().all(|b| b.is_ascii_graphic()) {
            bail!(
                "the token must be visible ASCII characters only (no spaces or control characters)"
            );
        }
        Ok(BearerToken {
            secret: secret.to_vec(),
        })
    }

    /// Whether an `authorization` header value (absent: `None`) carries this token:
    /// `Bearer <token>`, the scheme in any case, one or more spaces before the token.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, rest)) = split_scheme(value) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        constant_time_eq(&self.secret, rest.trim_ascii())
    }
}

fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|&b| b == b' ')?;
    Some((&value[..space], &value[space + 1..]))
}

/// Equality of `expected` and `candidate` in time that depends only on `expected.len()`:
/// every byte of the expected token is looked at, whatever the candidate holds.
fn constant_time_eq(expected: &[u8], candidate: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != candidate.len());
    for (i, e) in expected.iter().enumerate() {
        let c = candidate.get(i).copied().unwrap_or(0);
        diff = std::hint::black_box(diff | (e ^ c));
    }
    diff == 0
}

/// The tonic interceptor of the admin API: with a token, every call (the `Admin` service and
/// reflection alike) must carry it; without one, every call passes.
#[derive(Debug, Clone)]
pub(crate) struct TokenInterceptor {
    pub(crate) token: Option<BearerToken>,
}

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else {
            return Ok(request);
        };
        let value = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        if token.accepts(value) {
            return Ok(request);
        }
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_string(), |a| a.to_string());
        tracing::info!(%peer, "gRPC admin call refused: missing or wrong bearer token");
        Err(Status::unauthenticated(
            "this call needs `authorization: Bearer <token>` with the broker's admin token",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_exactly() {
        let t = BearerToken::new(b"s3cret-token").unwrap();
        assert!(t.accepts(Some(b"Bearer s3cret-token")));
        assert!(t.accepts(Some(b"bearer s3cret-token")));
        assert!(t.accepts(Some(b"BEARER  s3cret-token ")));
        assert!(!t.accepts(None));
        assert!(!t.accepts(Some(b"")));
        assert!(!t.accepts(Some(b"Bearer")));
        assert!(!t.accepts(Some(b"Bearer ")));
        assert!(!t.accepts(Some(b"Basic s3cret-token")));
        assert!(!t.accepts(Some(b"Bearer s3cret-toke")));
        assert!(!t.accepts(Some(b"Bearer s3cret-token2")));
        assert!(!t.accepts(Some(b"Bearer S3cret-token")));
        assert!(!t.accepts(Some(b"s3cret-token")));
    }

    #[test]
    fn bad_tokens_are_refused_when_loaded() {
        assert!(BearerToken::new(b"").is_err());
        assert!(BearerToken::new(b"two words").is_err());
        assert!(BearerToken::new(b"tab\there").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  \n").unwrap();
        let e = BearerToken::from_file(&path, "strata.x.token.file").unwrap_err();
        assert!(format!("{e:#}").contains("strata.x.token.file"), "{e:#}");
        assert!(format!("{e:#}").contains("empty"), "{e:#}");
        std::fs::write(&path, " abc.DEF-123\n").unwrap();
        let t = BearerToken::from_file(&path, "strata.x.token.file").unwrap();
        assert!(t.accepts(Some(b"Bearer abc.DEF-123")));
        assert_eq!(format!("{t:?}"), "BearerToken(<redacted>)");
        let e =
            BearerToken::from_file(&dir.path().join("missing"), "strata.x.token.file").unwrap_err();
        assert!(format!("{e:#}").contains("reading the token file"), "{e:#}");
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
    }
}
