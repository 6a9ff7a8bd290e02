//! Unit tests of the store wrapper's pure parts (part sizing, key checks, staging cleanup).

use super::multipart::part_size_for;
use super::*;

#[test]
fn part_size_grows_to_fit_the_part_limit() {
    assert_eq!(part_size_for(12 * MIB, 5 * MIB as usize), 5 * MIB as usize);
    let huge = 100_000 * MIB;
    let size = part_size_for(huge, 5 * MIB as usize) as u64;
    assert!(huge.div_ceil(size) <= S3_MAX_PARTS);
}

#[test]
fn virtual_hosted_endpoints_carry_the_bucket() {
    assert_eq!(
        virtual_hosted_endpoint("https://s3.example.com", "b"),
        "https://b.s3.example.com"
    );
}

#[test]
fn defaults() {
    let o = StoreOptions::default();
    assert_eq!(o.request_timeout, Duration::from_secs(30));
    assert_eq!(o.max_retries, 5);
    assert_eq!(o.retry_base, Duration::from_millis(100));
    assert_eq!(o.multipart_threshold, 8 * MIB);
    assert_eq!(o.multipart_part_size, 8 * MIB as usize);
    assert!(o.path_style);
}

#[test]
fn invalid_keys_are_permanent_errors() {
    let store = RemoteStore::from_object_store(
        Arc::new(object_store::memory::InMemory::new()),
        "p",
        StoreOptions::default(),
    );
    for key in ["", "/a", "a/", "a//b", "a/./b", "../a"] {
        let err = store.location(key).unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Permanent, "{key:?}");
    }
    assert_eq!(store.location("a/b").unwrap().as_ref(), "p/a/b");
}

#[tokio::test]
async fn file_store_delete_removes_staging_files_of_interrupted_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = RemoteStore::from_url(&url, StoreOptions::default())
        .await
        .unwrap();
    store
        .put("v1/t/0/seg.log", Bytes::from_static(b"x"))
        .await
        .unwrap();
    // What a write killed between creating its staging file and the rename leaves.
    let seg_dir = dir.path().join("v1/t/0");
    std::fs::write(seg_dir.join("seg.log#1"), b"partial").unwrap();
    std::fs::write(seg_dir.join("gone.index#2"), b"partial").unwrap();
    std::fs::write(seg_dir.join("seg.log#x"), b"an object").unwrap();
    store.delete("v1/t/0/seg.log").await.unwrap();
    // Also for an object that never got renamed into place.
    store.delete("v1/t/0/gone.index").await.unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["seg.log#x"]);
}
