//! An object_store [`HttpConnector`] that counts every HTTP request of an S3 store by kind.
//!
//! [`CountingConnector`] wraps object_store's default reqwest connector (so TLS, proxies,
//! timeouts and the rest of `ClientOptions` behave exactly as without it); the client it
//! builds classifies each request with [`classify`] and records it in the store's
//! [`Accounting`] *before* sending it. Everything object_store sends goes through it: single
//! PUTs, every multipart step (object_store's own per-part retries included), GETs, ranged GETs,
//! HEADs, every page of a listing, DELETEs. Requests are never altered, delayed or retried here.
//!
//! Invariant: one [`HttpService::call`] is one request counted, whatever its outcome (an
//! answer, an error status, a connection failure or a timeout — a request that reached the
//! server may be billed even if its answer is lost).
//!
//! Credential requests that object_store may send through the same connector (instance
//! metadata at 169.254.169.254, ECS at 169.254.170.2, STS) are not object-store requests: they
//! count as `other`.

use std::sync::Arc;

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::ClientOptions;

use super::accounting::{classify, Accounting, RequestKind};

/// Builds counting HTTP clients for one store.
#[derive(Debug)]
pub struct CountingConnector {
    inner: ReqwestConnector,
    accounting: Arc<Accounting>,
    bucket_path: String,
}

impl CountingConnector {
    /// Counts into `accounting`. `bucket_path` is the URL path of the bucket itself
    /// (`/bucket` with path-style addressing, empty with virtual-hosted addressing).
    pub fn new(accounting: Arc<Accounting>, bucket_path: String) -> CountingConnector {
        CountingConnector {
            inner: ReqwestConnector::default(),
            accounting,
            bucket_path,
        }
    }
}

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = self.inner.connect(options)?;
        Ok(HttpClient::new(CountingService {
            inner,
            accounting: Arc::clone(&self.accounting),
            bucket_path: self.bucket_path.clone(),
        }))
    }
}

#[derive(Debug)]
struct CountingService {
    inner: HttpClient,
    accounting: Arc<Accounting>,
    bucket_path: String,
}

#[async_trait]
impl HttpService for CountingService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let kind = if is_credential_host(req.uri().host().unwrap_or_default()) {
            RequestKind::Other
        } else {
            classify(
                req.method().as_str(),
                req.uri().path(),
                req.uri().query(),
                req.headers().contains_key("range"),
                &self.bucket_path,
            )
        };
        self.accounting.record_request(kind);
        self.inner.execute(req).await
    }
}

/// Hosts that serve credentials, not objects.
fn is_credential_host(host: &str) -> bool {
    matches!(
        host,
        "169.254.169.254" | "169.254.170.2" | "[fd00:ec2::254]" | "fd00:ec2::254"
    ) || host.starts_with("sts.")
}
