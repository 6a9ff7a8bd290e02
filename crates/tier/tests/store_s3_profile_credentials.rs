//! Credentials that only aws-config can find — a shared profile whose `credential_process`
//! prints them — are the ones that sign S3 requests. A fake S3 endpoint on loopback records
//! the Authorization header.

use std::sync::{Arc, Mutex};

use strata_tier::store::{RemoteStore, StoreOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn credential_process_credentials_sign_requests() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("credentials.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"AKIDFROMPROCESS\",\"SecretAccessKey\":\"secret\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile strata-test]\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    // One test in this binary: the environment is changed before anything reads it.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("AWS_CONFIG_FILE", &config);
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        dir.path().join("no-credentials"),
    );
    std::env::set_var("AWS_PROFILE", "strata-test");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).to_ascii_lowercase());
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });

    let opts = StoreOptions {
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        allow_http: true,
        ..StoreOptions::default()
    };
    let store = RemoteStore::from_url("s3://bucket/prefix", opts)
        .await
        .unwrap();
    assert_eq!(store.head("k").await.unwrap(), None);
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].contains("credential=akidfromprocess/"),
        "request not signed with the credential_process key: {}",
        heads[0]
    );
}
