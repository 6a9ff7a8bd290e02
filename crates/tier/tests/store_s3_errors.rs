//! How real object_store S3 errors are classified: a fake S3 endpoint on loopback answers every
//! request with a fixed status (or never answers), and the store reports the expected kind
//! after the expected number of requests — which also shows that object_store's own retries
//! are off and only our layer retries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use strata_tier::store::{testing, RemoteStore, StoreErrorKind, StoreOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Credentials for the fake endpoint; never the instance metadata service.
fn env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/strata-test-aws-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/strata-test-aws-credentials",
        );
    });
}

#[derive(Clone, Copy)]
enum Answer {
    Status(u16, &'static str),
    Never,
}

/// Serves `answer` to every request; counts requests.
async fn fake_s3(answer: Answer) -> (String, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU32::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Read the head, then the body by Content-Length.
                let head_end = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                match answer {
                    Answer::Status(status, body) => {
                        let response = format!(
                            "HTTP/1.1 {status} Fake\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    Answer::Never => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                }
            });
        }
    });
    (endpoint, requests)
}

fn opts(endpoint: String) -> StoreOptions {
    StoreOptions {
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        path_style: true,
        allow_http: true,
        request_timeout: Duration::from_millis(500),
        max_retries: 1,
        retry_base: Duration::from_millis(1),
        ..StoreOptions::default()
    }
}

async fn store_answering(answer: Answer) -> (RemoteStore, Arc<AtomicU32>) {
    env();
    let (endpoint, requests) = fake_s3(answer).await;
    let store = RemoteStore::from_url("s3://bucket/prefix", opts(endpoint))
        .await
        .unwrap();
    (store, requests)
}

const INTERNAL: &str = "<Error><Code>InternalError</Code></Error>";

#[tokio::test]
async fn server_errors_are_transient_and_retried_once_by_us() {
    for (status, body) in [
        (500, INTERNAL),
        (502, ""),
        (503, "<Error><Code>SlowDown</Code></Error>"),
    ] {
        let (store, requests) = store_answering(Answer::Status(status, body)).await;
        let err = store.get("k").await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Transient, "{status}: {err}");
        assert_eq!(
            requests.load(Ordering::SeqCst),
            2,
            "{status}: 1 attempt + 1 retry"
        );
        let err = store.put("k", Bytes::from_static(b"v")).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Transient, "{status}: {err}");
        assert_eq!(requests.load(Ordering::SeqCst), 4);
    }
}

#[tokio::test]
async fn throttling_is_transient() {
    let (store, requests) = store_answering(Answer::Status(429, "")).await;
    let err = store.head("k").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Transient, "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_errors_are_permanent_and_not_retried() {
    for (status, body) in [
        (400, "<Error><Code>InvalidArgument</Code></Error>"),
        (401, ""),
        (403, "<Error><Code>AccessDenied</Code></Error>"),
    ] {
        let (store, requests) = store_answering(Answer::Status(status, body)).await;
        let err = store.get("k").await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Permanent, "{status}: {err}");
        assert_eq!(requests.load(Ordering::SeqCst), 1, "{status}");
    }
}

#[tokio::test]
async fn not_found_maps_to_not_found_and_none() {
    let (store, requests) =
        store_answering(Answer::Status(404, "<Error><Code>NoSuchKey</Code></Error>")).await;
    let err = store.get("k").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::NotFound, "{err}");
    assert_eq!(store.head("k").await.unwrap(), None);
    store.delete("k").await.unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn conditional_put_conflicts() {
    // 412: the object exists → not created, no retry.
    let (store, requests) = store_answering(Answer::Status(
        412,
        "<Error><Code>PreconditionFailed</Code></Error>",
    ))
    .await;
    assert!(!store
        .put_if_absent("k", Bytes::from_static(b"v"))
        .await
        .unwrap());
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    // 409: a concurrent conditional write is in flight → transient, retried.
    let (store, requests) = store_answering(Answer::Status(
        409,
        "<Error><Code>ConditionalRequestConflict</Code></Error>",
    ))
    .await;
    let err = store
        .put_if_absent("k", Bytes::from_static(b"v"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Transient, "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn silent_server_times_out() {
    let (store, requests) = store_answering(Answer::Never).await;
    let err = store.get("k").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Timeout, "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refused_connections_are_transient() {
    env();
    let port = testing::free_port(); // nothing listens there
    let store = RemoteStore::from_url("s3://bucket", opts(format!("http://127.0.0.1:{port}")))
        .await
        .unwrap();
    let err = store.get("k").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn small_parts_are_refused_for_s3() {
    env();
    let err = RemoteStore::from_url(
        "s3://bucket",
        StoreOptions {
            multipart_part_size: 1024,
            ..opts("http://127.0.0.1:1".into())
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Permanent, "{err}");
}
