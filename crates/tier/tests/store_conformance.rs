//! The store conformance suite against the local backends (`file://`, `InMemory`), and what a
//! `file://` URL means on disk.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::memory::InMemory;
use strata_tier::store::{testing, RemoteStore, StoreErrorKind, StoreOptions};

const MIB: usize = 1024 * 1024;

fn opts() -> StoreOptions {
    StoreOptions {
        endpoint: None,
        request_timeout: Duration::from_secs(30),
        multipart_threshold: 5 * MIB as u64 + 1,
        multipart_part_size: 5 * MIB,
        ..StoreOptions::default()
    }
}

#[tokio::test]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/tier", dir.path().display());
    let store = RemoteStore::from_url(&url, opts()).await.unwrap();
    testing::conformance(&store).await;
}

#[tokio::test]
async fn memory_store_conforms() {
    let store = RemoteStore::from_object_store(Arc::new(InMemory::new()), "some/prefix", opts());
    testing::conformance(&store).await;
    let bare = RemoteStore::from_object_store(Arc::new(InMemory::new()), "", opts());
    testing::conformance(&bare).await;
}

#[tokio::test]
async fn file_url_writes_under_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("x/prefix");
    assert!(!root.exists());
    let url = format!("file://{}", root.display());
    let store = RemoteStore::from_url(&url, opts()).await.unwrap();
    assert!(root.is_dir(), "from_url creates the directory");
    assert_eq!(store.describe(), url);

    store
        .put(
            "topic/0/00000000000000000000.log",
            Bytes::from_static(b"segment"),
        )
        .await
        .unwrap();
    let file = root.join("topic/0/00000000000000000000.log");
    assert_eq!(std::fs::read(&file).unwrap(), b"segment");
    assert_eq!(
        store.list("").await.unwrap(),
        vec![("topic/0/00000000000000000000.log".to_string(), 7)]
    );

    // A second store on the same URL sees the same objects (it is just a directory).
    let again = RemoteStore::from_url(&format!("{url}/"), opts())
        .await
        .unwrap();
    assert_eq!(
        again.get("topic/0/00000000000000000000.log").await.unwrap(),
        "segment"
    );

    store
        .delete("topic/0/00000000000000000000.log")
        .await
        .unwrap();
    assert!(!file.exists());
    // No temporary files are left behind by puts or multipart uploads.
    let data = testing::pattern(6 * MIB, 9);
    let src = tmp.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    store.upload_file("big", &src).await.unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["big".to_string()]);
}

#[tokio::test]
async fn unknown_schemes_and_bad_urls_are_permanent() {
    for url in [
        "gs://bucket/prefix",
        "http://127.0.0.1:1/bucket",
        "s3://",
        "file://relative/dir",
        "/tmp/plain/path",
    ] {
        let err = RemoteStore::from_url(url, opts()).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Permanent, "{url}: {err}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn prefixes_isolate_stores_sharing_a_backend() {
    let backend = Arc::new(InMemory::new());
    let a = RemoteStore::from_object_store(backend.clone(), "a", opts());
    let b = RemoteStore::from_object_store(backend.clone(), "/b/", opts());
    let root = RemoteStore::from_object_store(backend, "", opts());
    a.put("k", Bytes::from_static(b"in a")).await.unwrap();
    assert_eq!(b.head("k").await.unwrap(), None);
    assert!(b.list("").await.unwrap().is_empty());
    assert_eq!(a.list("").await.unwrap(), vec![("k".to_string(), 4)]);
    assert_eq!(root.list("").await.unwrap(), vec![("a/k".to_string(), 4)]);
    // String-prefix listing does not leak across the store prefix boundary ("a" vs "ab").
    root.put("ab/k", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(a.list("").await.unwrap(), vec![("k".to_string(), 4)]);
    assert_eq!(b.describe(), "InMemory/b");
}
