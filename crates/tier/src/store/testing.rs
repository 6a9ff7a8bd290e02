//! Test support (feature `test-support`): the store conformance suite and a moto S3 server.
//!
//! [`conformance`] checks every contract of the module doc of [`super`] against one store; run
//! it against every backend. It works under the key prefix `conformance/`, which it expects to
//! be empty, and removes what it wrote. It needs `multipart_threshold` below 12 MiB (so that
//! its 12 MiB file takes the multipart path) and, for S3, `multipart_part_size` ≥ 5 MiB.
//!
//! [`MotoServer`] runs `moto_server` (Python moto, installed by `integration/setup.sh`) on a
//! free loopback port as a child process, killed on drop. A missing `moto_server` is a panic,
//! never a skip.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{RemoteStore, StoreErrorKind};

const MIB: usize = 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift), so every byte position matters.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs the conformance suite against `store` (see the module doc). Panics on the first
/// violated contract.
pub async fn conformance(store: &RemoteStore) {
    let d = store.describe();
    assert!(
        store.list("conformance/").await.unwrap().is_empty(),
        "{d}: conformance/ must start empty"
    );

    // put / get / head / overwrite.
    store
        .put("conformance/a/one", Bytes::from_static(b"hello world"))
        .await
        .unwrap();
    assert_eq!(
        store.get("conformance/a/one").await.unwrap(),
        Bytes::from_static(b"hello world"),
        "{d}: get"
    );
    assert_eq!(store.head("conformance/a/one").await.unwrap(), Some(11));
    store
        .put("conformance/a/one", Bytes::from_static(b"HELLO"))
        .await
        .unwrap();
    assert_eq!(store.get("conformance/a/one").await.unwrap(), "HELLO");
    assert_eq!(store.head("conformance/a/one").await.unwrap(), Some(5));

    // Empty objects.
    store
        .put("conformance/a/empty", Bytes::new())
        .await
        .unwrap();
    assert!(store.get("conformance/a/empty").await.unwrap().is_empty());
    assert_eq!(store.head("conformance/a/empty").await.unwrap(), Some(0));

    // Missing objects.
    assert_eq!(store.head("conformance/missing").await.unwrap(), None);
    let err = store.get("conformance/missing").await.unwrap_err();
    assert_eq!(
        err.kind,
        StoreErrorKind::NotFound,
        "{d}: get missing: {err}"
    );
    let err = store
        .get_range("conformance/missing", 0..1)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        StoreErrorKind::NotFound,
        "{d}: range missing: {err}"
    );

    // Ranges: exact bytes.
    let body = pattern(10_000, 7);
    store
        .put("conformance/range", Bytes::from(body.clone()))
        .await
        .unwrap();
    for r in [0..1u64, 10..20, 0..10_000, 9_999..10_000, 4_096..8_192] {
        let got = store
            .get_range("conformance/range", r.clone())
            .await
            .unwrap();
        assert_eq!(
            &got[..],
            &body[r.start as usize..r.end as usize],
            "{d}: range {r:?}"
        );
    }
    assert!(store
        .get_range("conformance/range", 5..5)
        .await
        .unwrap()
        .is_empty());
    let err = store
        .get_range("conformance/range", 9_990..10_010)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{d}: range past the end: {err}");
    let err = store
        .get_range("conformance/range", 20_000..20_010)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{d}: range after the end: {err}");

    // list: recursive, string prefix, exact key set, relative keys, sizes.
    for (key, len) in [
        ("conformance/l/x/1", 1usize),
        ("conformance/l/x/2", 2),
        ("conformance/l/x/deep/3", 3),
        ("conformance/l/xz", 4),
        ("conformance/l/y/1", 5),
    ] {
        store.put(key, Bytes::from(vec![b'x'; len])).await.unwrap();
    }
    let owned = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(k, s)| (k.to_string(), *s))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        store.list("conformance/l/x/").await.unwrap(),
        owned(&[
            ("conformance/l/x/1", 1),
            ("conformance/l/x/2", 2),
            ("conformance/l/x/deep/3", 3)
        ]),
        "{d}: list dir"
    );
    assert_eq!(
        store.list("conformance/l/x").await.unwrap(),
        owned(&[
            ("conformance/l/x/1", 1),
            ("conformance/l/x/2", 2),
            ("conformance/l/x/deep/3", 3),
            ("conformance/l/xz", 4)
        ]),
        "{d}: list string prefix"
    );
    assert!(store.list("conformance/nothing/").await.unwrap().is_empty());
    assert!(store.list("conformance/l/q").await.unwrap().is_empty());

    // delete: present, then missing, then never existed.
    store.delete("conformance/l/y/1").await.unwrap();
    assert_eq!(store.head("conformance/l/y/1").await.unwrap(), None);
    store.delete("conformance/l/y/1").await.unwrap();
    store.delete("conformance/never/was").await.unwrap();
    assert!(store.list("conformance/l/y").await.unwrap().is_empty());

    // put_if_absent never overwrites.
    assert!(store
        .put_if_absent("conformance/pia", Bytes::from_static(b"first"))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("conformance/pia", Bytes::from_static(b"second"))
        .await
        .unwrap());
    assert_eq!(store.get("conformance/pia").await.unwrap(), "first");

    // upload_file below and above the multipart threshold.
    let opts = store.options();
    assert!(
        opts.multipart_threshold < 12 * MIB as u64,
        "{d}: conformance needs multipart_threshold < 12 MiB"
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, len, seed) in [
        ("empty", 0usize, 1u64),
        ("small", 100_000, 2),
        ("large", 12 * MIB, 3),
    ] {
        let data = pattern(len, seed);
        let file = dir.path().join(name);
        std::fs::write(&file, &data).unwrap();
        let key = format!("conformance/upload/{name}");
        assert_eq!(
            store.upload_file(&key, &file).await.unwrap(),
            len as u64,
            "{d}: upload {name}"
        );
        assert_eq!(store.head(&key).await.unwrap(), Some(len as u64));
        let back = store.get(&key).await.unwrap();
        assert!(back[..] == data[..], "{d}: upload {name}: bytes differ");
        if len > 6 * MIB {
            let r = (5 * MIB - 10) as u64..(5 * MIB + 10) as u64;
            let got = store.get_range(&key, r.clone()).await.unwrap();
            assert_eq!(&got[..], &data[r.start as usize..r.end as usize]);
        }
    }
    // Re-uploading overwrites.
    let file = dir.path().join("small");
    std::fs::write(&file, b"replaced").unwrap();
    assert_eq!(
        store
            .upload_file("conformance/upload/small", &file)
            .await
            .unwrap(),
        8
    );
    assert_eq!(
        store.get("conformance/upload/small").await.unwrap(),
        "replaced"
    );
    let err = store
        .upload_file("conformance/upload/x", &dir.path().join("no-such-file"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Permanent);

    // Invalid keys are refused before any request.
    for key in [
        "",
        "/abs",
        "conformance//x",
        "conformance/../x",
        "trailing/",
    ] {
        let err = store.put(key, Bytes::new()).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Permanent, "{d}: key {key:?}");
    }

    // Delimited listing: the directories directly below a prefix, sorted, without objects.
    for key in [
        "conformance/dirs/t1/0/a",
        "conformance/dirs/t1/0/b",
        "conformance/dirs/t1/10/a",
        "conformance/dirs/t2/3/a",
        "conformance/dirs/loose",
    ] {
        store.put(key, Bytes::from_static(b"x")).await.unwrap();
    }
    assert_eq!(
        store.list_dirs("conformance/dirs").await.unwrap(),
        vec!["t1".to_string(), "t2".to_string()],
        "{d}: list_dirs"
    );
    assert_eq!(
        store.list_dirs("conformance/dirs/t1").await.unwrap(),
        vec!["0".to_string(), "10".to_string()],
        "{d}: list_dirs of a topic"
    );
    assert!(
        store
            .list_dirs("conformance/none")
            .await
            .unwrap()
            .is_empty(),
        "{d}: list_dirs of nothing"
    );

    // A read-only view reads the same objects and refuses every write and delete before
    // sending anything; the objects stay.
    let view = store.read_only();
    assert!(view.is_read_only() && !store.is_read_only());
    assert_eq!(view.get("conformance/dirs/loose").await.unwrap(), "x");
    let before = store.accounting();
    for err in [
        view.put("conformance/dirs/new", Bytes::new())
            .await
            .unwrap_err(),
        view.put_if_absent("conformance/dirs/new", Bytes::new())
            .await
            .map(|_| ())
            .unwrap_err(),
        view.delete("conformance/dirs/loose").await.unwrap_err(),
    ] {
        assert_eq!(err.kind, StoreErrorKind::Permanent, "{d}: read-only: {err}");
    }
    assert_eq!(
        store.accounting(),
        before,
        "{d}: a refused write sends no request"
    );
    assert_eq!(store.head("conformance/dirs/loose").await.unwrap(), Some(1));
    assert_eq!(store.head("conformance/dirs/new").await.unwrap(), None);

    // Clean up, leaving conformance/ empty.
    for (key, _) in store.list("conformance/").await.unwrap() {
        store.delete(&key).await.unwrap();
    }
    assert!(
        store.list("conformance/").await.unwrap().is_empty(),
        "{d}: cleanup"
    );
}

/// A `moto_server` child process on a free loopback port; killed on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts moto and waits until it answers. Panics if `moto_server` is not installed (run
    /// `integration/setup.sh`) or does not come up within 60 s.
    pub async fn start() -> MotoServer {
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run moto_server ({e}); install it with integration/setup.sh")
                });
            let mut server = MotoServer { child, port };
            match server.wait_ready(Duration::from_secs(60)).await {
                Ok(()) => return server,
                Err(e) => last_error = e, // dropped: killed; try another port
            }
        }
        panic!("moto_server did not start: {last_error}");
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto_server exited with {status}"));
            }
            if let Ok((status, _)) = http_request(self.addr(), "GET", "/").await {
                if status > 0 {
                    return Ok(());
                }
            }
            if started.elapsed() > limit {
                return Err(format!("no answer on {} within {limit:?}", self.addr()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Creates `bucket` (moto creates nothing by itself). Panics on failure.
    pub async fn create_bucket(&self, bucket: &str) {
        let (status, body) = http_request(self.addr(), "PUT", &format!("/{bucket}"))
            .await
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e}"));
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

/// One unsigned HTTP/1.1 request with an empty body; returns the status and body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
