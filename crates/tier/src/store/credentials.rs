//! AWS credentials from aws-config's default chain, adapted into object_store.
//!
//! object_store resolves credentials from environment variables, web identity, ECS/EKS and the
//! instance metadata service, but not from shared profiles, SSO or `credential_process`.
//! aws-config's `DefaultCredentialsChain` covers all of those (order: environment, profile
//! files incl. SSO and credential_process, web identity, ECS container, EC2 instance metadata).
//! [`AwsConfigCredentials`] implements object_store's `CredentialProvider` over that chain.
//!
//! Caching: the chain itself does not cache, so the adapter keeps the last credential and asks
//! the chain again only when it expires within [`REFRESH_BEFORE`]; credentials without an
//! expiry (static keys) are kept for the life of the store. Concurrent callers share one
//! refresh (a mutex around the cache).
//!
//! The instance metadata address (169.254.169.254) is contacted only when nothing earlier in
//! the chain has credentials and `AWS_EC2_METADATA_DISABLED` is not `true`. Tests and examples
//! always set it.
//!
//! Error mapping: a chain timeout becomes a timed-out I/O error (classified `Timeout`);
//! "no credentials" and invalid configuration become `Unauthenticated` (`Permanent`); provider
//! errors (e.g. STS answered 503) stay `Generic` (`Transient`, bounded by the retry budget).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use object_store::aws::AwsCredential;
use object_store::CredentialProvider;

use super::error::{StoreError, StoreErrorKind};

/// Credentials expiring sooner than this are refreshed before use.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

const STORE: &str = "aws-config";

/// object_store `CredentialProvider` backed by an aws-config credentials provider.
pub struct AwsConfigCredentials {
    provider: SharedCredentialsProvider,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    credential: Arc<AwsCredential>,
    expiry: Option<SystemTime>,
}

impl fmt::Debug for AwsConfigCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret: only say whether something is cached.
        f.debug_struct("AwsConfigCredentials")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// What probing the default chain found.
pub enum Probe {
    /// The chain produced credentials (already cached in the adapter).
    Found(AwsConfigCredentials),
    /// No provider in the chain had credentials.
    NotFound,
}

impl AwsConfigCredentials {
    /// Wraps any aws-config credentials provider.
    pub fn new(provider: impl ProvideCredentials + 'static) -> AwsConfigCredentials {
        AwsConfigCredentials {
            provider: SharedCredentialsProvider::new(provider),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// Builds aws-config's default chain for `region` and asks it once, so that a store is
    /// built with credentials that work, or learns that there are none. Bounded by `timeout`.
    pub async fn probe_default_chain(region: &str, timeout: Duration) -> Result<Probe, StoreError> {
        let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
            .region(aws_config::Region::new(region.to_string()))
            .build()
            .await;
        let adapter = AwsConfigCredentials::new(chain);
        let first =
            match tokio::time::timeout(timeout, adapter.provider.provide_credentials()).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(StoreError::new(
                        StoreErrorKind::Timeout,
                        format!("loading AWS credentials: no answer within {timeout:?}"),
                    ))
                }
            };
        match first {
            Ok(credentials) => {
                *adapter.cache.lock().await = Some(Cached::from(&credentials));
                Ok(Probe::Found(adapter))
            }
            Err(CredentialsError::CredentialsNotLoaded(_)) => Ok(Probe::NotFound),
            Err(e) => {
                let kind = match &e {
                    CredentialsError::ProviderTimedOut(_) => StoreErrorKind::Timeout,
                    CredentialsError::ProviderError(_) | CredentialsError::Unhandled(_) => {
                        StoreErrorKind::Transient
                    }
                    _ => StoreErrorKind::Permanent,
                };
                Err(StoreError::with_source(
                    kind,
                    "loading AWS credentials from the default chain",
                    e,
                ))
            }
        }
    }

    async fn load(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            if cached.fresh(SystemTime::now()) {
                return Ok(Arc::clone(&cached.credential));
            }
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(to_object_store_error)?;
        let fresh = Cached::from(&credentials);
        let credential = Arc::clone(&fresh.credential);
        *cache = Some(fresh);
        Ok(credential)
    }
}

impl Cached {
    fn fresh(&self, now: SystemTime) -> bool {
        match self.expiry {
            None => true,
            Some(expiry) => expiry
                .duration_since(now)
                .is_ok_and(|left| left > REFRESH_BEFORE),
        }
    }
}

impl From<&Credentials> for Cached {
    fn from(c: &Credentials) -> Cached {
        Cached {
            credential: Arc::new(AwsCredential {
                key_id: c.access_key_id().to_string(),
                secret_key: c.secret_access_key().to_string(),
                token: c.session_token().map(str::to_string),
            }),
            expiry: c.expiry(),
        }
    }
}

fn to_object_store_error(e: CredentialsError) -> object_store::Error {
    match e {
        CredentialsError::ProviderTimedOut(_) => object_store::Error::Generic {
            store: STORE,
            source: Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, e)),
        },
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            object_store::Error::Unauthenticated {
                path: String::new(),
                source: Box::new(e),
            }
        }
        other => object_store::Error::Generic {
            store: STORE,
            source: Box::new(other),
        },
    }
}

#[async_trait]
impl CredentialProvider for AwsConfigCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.load().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts calls; hands out credentials expiring `ttl` from now.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicU32>,
        ttl: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let expiry = self.ttl.map(|ttl| SystemTime::now() + ttl);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("key{n}"),
                "secret",
                Some("tok".into()),
                expiry,
                "test",
            )))
        }
    }

    #[tokio::test]
    async fn caches_until_close_to_expiry() {
        let calls = Arc::new(AtomicU32::new(0));
        let long = AwsConfigCredentials::new(Counting {
            calls: Arc::clone(&calls),
            ttl: Some(Duration::from_secs(3600)),
        });
        let a = long.get_credential().await.unwrap();
        let b = long.get_credential().await.unwrap();
        assert_eq!(a.key_id, "key1");
        assert_eq!(b.key_id, "key1");
        assert_eq!(a.token.as_deref(), Some("tok"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let short_calls = Arc::new(AtomicU32::new(0));
        let short = AwsConfigCredentials::new(Counting {
            calls: Arc::clone(&short_calls),
            ttl: Some(Duration::from_secs(60)),
        });
        assert_eq!(short.get_credential().await.unwrap().key_id, "key1");
        assert_eq!(short.get_credential().await.unwrap().key_id, "key2");

        let forever_calls = Arc::new(AtomicU32::new(0));
        let forever = AwsConfigCredentials::new(Counting {
            calls: Arc::clone(&forever_calls),
            ttl: None,
        });
        forever.get_credential().await.unwrap();
        forever.get_credential().await.unwrap();
        assert_eq!(forever_calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let adapter = AwsConfigCredentials::new(Credentials::new(
            "AKIDEXAMPLE",
            "SUPERSECRET",
            None,
            None,
            "test",
        ));
        assert!(!format!("{adapter:?}").contains("SUPERSECRET"));
    }
}
