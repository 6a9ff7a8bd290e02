//! With no credentials anywhere and the instance metadata service disabled, opening an S3
//! store fails at once with a permanent error instead of building a store that cannot sign
//! (or one that would ask 169.254.169.254 on every request).

use strata_tier::store::{RemoteStore, StoreErrorKind, StoreOptions};

#[tokio::test]
async fn no_credentials_is_a_permanent_error() {
    // One test in this binary: the environment is changed before anything reads it.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_SKIP_SIGNATURE",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/strata-test-aws-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/strata-test-aws-credentials",
    );
    let opts = StoreOptions {
        endpoint: Some("http://127.0.0.1:1".into()),
        region: Some("us-east-1".into()),
        allow_http: true,
        ..StoreOptions::default()
    };
    let err = RemoteStore::from_url("s3://bucket/prefix", opts)
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("no AWS credentials"), "{err}");
}
