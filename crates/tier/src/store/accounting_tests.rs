//! Unit tests of request accounting: the classifier, snapshots, logical counting of a wrapped
//! store, and the HTTP counting connector against a loopback HTTP server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::client::{HttpConnector, HttpRequestBody};
use object_store::memory::InMemory;
use object_store::ClientOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::store::http_counting::CountingConnector;
use crate::store::{RemoteStore, StoreOptions};

const B: &str = "/bucket";

#[test]
fn classifies_s3_requests_by_method_query_and_range() {
    use RequestKind::*;
    let cases: &[(&str, &str, Option<&str>, bool, RequestKind)] = &[
        ("GET", "/bucket/a/b.log", None, false, Get),
        ("GET", "/bucket/a/b.log", None, true, GetRange),
        ("HEAD", "/bucket/a/b.log", None, false, Head),
        ("PUT", "/bucket/a/b.log", None, false, Put),
        (
            "GET",
            "/bucket",
            Some("list-type=2&prefix=v1%2F"),
            false,
            List,
        ),
        ("GET", "/bucket/", Some("prefix=v1"), false, List),
        ("GET", "/bucket", None, false, List),
        ("DELETE", "/bucket/a/b.log", None, false, Delete),
        ("POST", "/bucket", Some("delete"), false, Delete),
        (
            "POST",
            "/bucket/a/b.log",
            Some("uploads"),
            false,
            MultipartCreate,
        ),
        (
            "POST",
            "/bucket/a/b.log",
            Some("uploads="),
            false,
            MultipartCreate,
        ),
        (
            "PUT",
            "/bucket/a/b.log",
            Some("partNumber=3&uploadId=xyz"),
            false,
            MultipartPart,
        ),
        (
            "PUT",
            "/bucket/a/b.log",
            Some("uploadId=xyz&partNumber=1"),
            false,
            MultipartPart,
        ),
        (
            "POST",
            "/bucket/a/b.log",
            Some("uploadId=xyz"),
            false,
            MultipartComplete,
        ),
        (
            "DELETE",
            "/bucket/a/b.log",
            Some("uploadId=xyz"),
            false,
            MultipartAbort,
        ),
        ("GET", "/bucket/a/b.log", Some("uploadId=xyz"), false, Other),
        ("PUT", "/bucket", None, false, Other),
        ("DELETE", "/bucket", None, false, Other),
        ("PATCH", "/bucket/a", None, false, Other),
        // A key that merely contains the words is not a query.
        ("PUT", "/bucket/uploads/partNumber", None, false, Put),
        // Lower-case methods are the same methods.
        ("get", "/bucket/k", None, false, Get),
    ];
    for (method, path, query, range, want) in cases {
        assert_eq!(
            classify(method, path, *query, *range, B),
            *want,
            "{method} {path}?{query:?} range={range}"
        );
    }
    // Virtual-hosted addressing: the bucket is the root path.
    assert_eq!(classify("GET", "/", None, false, ""), RequestKind::List);
    assert_eq!(classify("GET", "/k", None, false, ""), RequestKind::Get);
}

#[test]
fn labels_round_trip_and_classes_partition_the_billed_kinds() {
    for kind in RequestKind::ALL {
        assert_eq!(RequestKind::from_label(kind.label()), Some(kind));
        assert!(!(kind.is_read() && kind.is_write()), "{kind:?}");
    }
    assert_eq!(RequestKind::from_label("nope"), None);
    let writes: Vec<_> = RequestKind::ALL
        .into_iter()
        .filter(|k| k.is_write())
        .collect();
    assert_eq!(writes.len(), 5);
}

#[test]
fn snapshots_compute_requests_per_gib() {
    let a = Accounting::new(CountSource::Http);
    assert_eq!(a.snapshot().write_requests_per_gib_uploaded(), None);
    for _ in 0..3 {
        a.record_request(RequestKind::MultipartPart);
    }
    a.record_request(RequestKind::MultipartCreate);
    a.record_request(RequestKind::MultipartComplete);
    a.record_request(RequestKind::List);
    a.record_request(RequestKind::GetRange);
    a.record_request(RequestKind::GetRange);
    a.record_uploaded(1 << 29);
    a.record_read(1 << 30);
    let s = a.snapshot();
    assert_eq!(s.count(RequestKind::MultipartPart), 3);
    assert_eq!(s.count(RequestKind::List), 1);
    assert_eq!(s.requests.len(), RequestKind::ALL.len());
    assert_eq!(s.write_requests_per_gib_uploaded(), Some(10.0));
    assert_eq!(s.read_requests_per_gib_read(), Some(2.0));
    assert_eq!((s.bytes_uploaded, s.bytes_read), (1 << 29, 1 << 30));
}

#[tokio::test]
async fn wrapped_stores_count_logical_calls_as_s3_requests() {
    let opts = StoreOptions {
        multipart_threshold: 10,
        multipart_part_size: 4,
        max_retries: 0,
        ..StoreOptions::default()
    };
    let store = RemoteStore::from_object_store(Arc::new(InMemory::new()), "p", opts);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, [1u8; 11]).unwrap();
    store.put("a", Bytes::from_static(b"hello")).await.unwrap();
    // 11 bytes in parts of 4: create, 3 parts, complete.
    assert_eq!(store.upload_file("b", &file).await.unwrap(), 11);
    assert_eq!(store.get("a").await.unwrap(), Bytes::from_static(b"hello"));
    store.get_range("b", 2..5).await.unwrap();
    store.get_range("b", 5..5).await.unwrap(); // empty: no request
    assert_eq!(store.head("a").await.unwrap(), Some(5));
    assert_eq!(store.list("").await.unwrap().len(), 2);
    store.delete("a").await.unwrap();
    let s = store.accounting();
    assert_eq!(s.source, CountSource::Logical);
    let counts: Vec<(&str, u64)> = s
        .requests
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.label(), *n))
        .collect();
    assert_eq!(
        counts,
        [
            ("get", 1),
            ("get_range", 1),
            ("head", 1),
            ("put", 1),
            ("list", 1),
            ("delete", 1),
            ("multipart_create", 1),
            ("multipart_part", 3),
            ("multipart_complete", 1),
        ]
    );
    assert_eq!((s.bytes_uploaded, s.bytes_read), (16, 8));
    // Clones share the counters.
    let clone = store.clone();
    clone.head("zz").await.unwrap();
    assert_eq!(store.accounting().count(RequestKind::Head), 2);
}

/// A loopback HTTP/1.1 server answering every request `200 OK` with an empty body; returns
/// its address and the request lines it saw.
async fn ok_server() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Requests here have no bodies: a request ends at its blank line.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let line = head.lines().next().unwrap_or_default().to_string();
                        log.lock().unwrap().push(line);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if conn.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_connector_counts_every_request_it_sends() {
    let (addr, seen) = ok_server().await;
    let accounting = Arc::new(Accounting::new(CountSource::Http));
    let connector = CountingConnector::new(Arc::clone(&accounting), B.to_string());
    let options = ClientOptions::new()
        .with_allow_http(true)
        .with_timeout(Duration::from_secs(10));
    let client = connector.connect(&options).unwrap();
    let requests: &[(&str, &str, bool)] = &[
        ("POST", "/bucket/k?uploads", false),
        ("PUT", "/bucket/k?partNumber=1&uploadId=u", false),
        ("PUT", "/bucket/k?partNumber=2&uploadId=u", false),
        ("POST", "/bucket/k?uploadId=u", false),
        ("GET", "/bucket/k", true),
        ("GET", "/bucket?list-type=2&prefix=v1", false),
        // Credentials, not objects.
        ("GET", "http://169.254.169.254/latest/api/token", false),
    ];
    for (method, target, range) in requests {
        let url = if target.starts_with("http") {
            target.to_string()
        } else {
            format!("http://{addr}{target}")
        };
        let mut req = http::Request::builder()
            .method(*method)
            .uri(url.as_str())
            .body(HttpRequestBody::empty())
            .unwrap();
        if *range {
            req.headers_mut()
                .insert("range", http::HeaderValue::from_static("bytes=0-9"));
        }
        // The metadata host does not answer here: only the count matters.
        let sent = tokio::time::timeout(Duration::from_millis(500), client.execute(req)).await;
        if !target.starts_with("http") {
            assert_eq!(sent.unwrap().unwrap().status(), 200, "{method} {target}");
        }
    }
    let s = accounting.snapshot();
    let counts: Vec<(&str, u64)> = s
        .requests
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.label(), *n))
        .collect();
    assert_eq!(
        counts,
        [
            ("get_range", 1),
            ("list", 1),
            ("multipart_create", 1),
            ("multipart_part", 2),
            ("multipart_complete", 1),
            ("other", 1),
        ]
    );
    assert_eq!(seen.lock().unwrap().len(), 6);
}
