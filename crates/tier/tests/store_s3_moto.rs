//! The store conformance suite against a real S3 implementation: moto, started as a child
//! process on a free loopback port. Fails (never skips) when moto is not installed: run
//! `integration/setup.sh`.

use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use strata_tier::store::testing::{self, MotoServer};
use strata_tier::store::{RemoteStore, StoreErrorKind, StoreOptions};

const MIB: usize = 1024 * 1024;

fn opts(server: &MotoServer) -> StoreOptions {
    StoreOptions {
        endpoint: Some(server.endpoint()),
        region: Some("us-east-1".into()),
        path_style: true,
        allow_http: true,
        request_timeout: Duration::from_secs(30),
        max_retries: 3,
        retry_base: Duration::from_millis(50),
        multipart_threshold: 5 * MIB as u64 + 1,
        multipart_part_size: 5 * MIB,
        // Parts in flight at once, against a real S3 server.
        multipart_concurrency: 3,
        read_only: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_conforms_on_moto() {
    // Set before any other thread of this test binary reads the environment (one test here).
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/strata-test-aws-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/strata-test-aws-credentials",
    );

    let server = MotoServer::start().await;
    server.create_bucket("strata-test").await;

    let store = RemoteStore::from_url("s3://strata-test/tier/prefix/", opts(&server))
        .await
        .unwrap();
    assert_eq!(store.describe(), "s3://strata-test/tier/prefix");
    testing::conformance(&store).await;

    // Keys land under the URL's prefix.
    store
        .put("v1/seg.log", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    let root = RemoteStore::from_url("s3://strata-test", opts(&server))
        .await
        .unwrap();
    assert_eq!(
        root.list("").await.unwrap(),
        vec![("tier/prefix/v1/seg.log".to_string(), 3)]
    );

    // Concurrent put_if_absent: exactly one writer wins, and its bytes stay.
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let created = store
                .put_if_absent("v1/race", Bytes::from(vec![i; 16]))
                .await
                .unwrap();
            (i, created)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, created) = t.await.unwrap();
        if created {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(
        store.get("v1/race").await.unwrap(),
        Bytes::from(vec![winners[0]; 16])
    );

    // A bucket that does not exist: not retried, reported as missing.
    let nobucket = RemoteStore::from_url("s3://no-such-bucket/p", opts(&server))
        .await
        .unwrap();
    let err = nobucket
        .put("k", Bytes::from_static(b"v"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::NotFound, "{err}");

    // Above the threshold, the upload really is multipart on S3: 12 MiB in 5 MiB parts gives
    // a multipart ETag ("...-3").
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    let data = testing::pattern(12 * MIB, 5);
    std::fs::write(&file, &data).unwrap();
    store.upload_file("v1/big", &file).await.unwrap();
    let meta = store
        .object_store()
        .head(&object_store::path::Path::from("tier/prefix/v1/big"))
        .await
        .unwrap();
    let etag = meta.e_tag.unwrap_or_default();
    assert!(etag.trim_matches('"').ends_with("-3"), "etag {etag}");
    assert!(store.get("v1/big").await.unwrap()[..] == data[..]);

    // The server is killed on drop.
    let addr = server.addr();
    drop(server);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
