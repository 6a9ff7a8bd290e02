//! Failed SASL logins are refused and the broker keeps serving (issue 13, slice 2), against the
//! broker of [`strata_integration::sasl_broker`] (PLAINTEXT, SASL_SSL and SASL_PLAINTEXT
//! listeners; the user `admin` for both SCRAM mechanisms).
//!
//! A wrong password with each mechanism and an unknown user get librdkafka's `SASL
//! authentication error: Authentication failed: Invalid username or password`; clients without
//! SASL on the SASL ports get no metadata and no authentication error; on raw TCP, a wrong PLAIN
//! password gets SASL_AUTHENTICATION_FAILED (58) and then EOF, and a Metadata request before
//! authentication gets EOF (ApiVersions before it is answered); the failure and
//! unauthenticated-request counters move by exactly one for the raw clients; afterwards good
//! clients on both SASL listeners still produce (offsets 0 and 1).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Result};
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use strata_integration::raw::RawConn;
use strata_integration::sasl_broker::{read_plain, SaslBroker, ADMIN, ADMIN_PASSWORD};
use strata_integration::sasl_login::{login, login_ok};
use strata_integration::{create_topic, run};

#[test]
fn failed_logins_are_refused_and_the_broker_keeps_serving() {
    run(Duration::from_secs(120), async {
        let sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "alive", 1, &[]).await?;

        for (bootstrap, protocol, mechanism, user, password) in [
            (&sb.sasl_ssl, "SASL_SSL", "PLAIN", ADMIN, "wrong"),
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-256", ADMIN, "wrong"),
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512", ADMIN, "wrong"),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "SCRAM-SHA-256",
                "nobody",
                ADMIN_PASSWORD,
            ),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                "nobody",
                ADMIN_PASSWORD,
            ),
        ] {
            let what = format!("{user}/{password} with {mechanism} over {protocol}");
            login(
                sb.conn(bootstrap, protocol, mechanism, user, password),
                "10",
                None,
            )
            .await?
            .ensure_refused(&what)?;
        }
        for (bootstrap, protocol) in [(&sb.sasl_ssl, "SSL"), (&sb.sasl_plaintext, "PLAINTEXT")] {
            let what = format!("a {protocol} client on the SASL_{protocol} port");
            login(
                sb.conn(bootstrap, protocol, "PLAIN", ADMIN, ADMIN_PASSWORD),
                "3",
                None,
            )
            .await?
            .ensure_cut_off(&what)?;
        }

        // Raw: a wrong PLAIN password is answered SASL_AUTHENTICATION_FAILED, then EOF.
        let failures = "strata_sasl_authentication_failures_total";
        let unauthenticated = "strata_sasl_unauthenticated_requests_total";
        let (f0, u0) = (
            sb.settled_metric(failures).await?,
            sb.settled_metric(unauthenticated).await?,
        );
        let addr = sb.sasl_plaintext.clone();
        let (mechanisms, auth) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut w = RawConn::open(addr.parse()?, "sasl-raw", Duration::from_secs(5))?;
            let hs: SaslHandshakeResponse = w.call(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            )?;
            ensure!(
                hs.error_code == 0,
                "SaslHandshake PLAIN: error {}",
                hs.error_code
            );
            let auth: SaslAuthenticateResponse = w.call(
                ApiKey::SaslAuthenticate,
                2,
                &SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::from_static(b"\0admin\0not-the-password")),
            )?;
            w.expect_eof("after a failed PLAIN login")?;
            let mechanisms: BTreeSet<String> =
                hs.mechanisms.iter().map(|m| m.to_string()).collect();
            Ok((mechanisms, auth))
        })
        .await??;
        ensure!(
            mechanisms
                == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
                    .map(String::from)
                    .into(),
            "SaslHandshake mechanisms {mechanisms:?}"
        );
        ensure!(
            auth.error_code == 58,
            "SaslAuthenticate: error {} ({:?})",
            auth.error_code,
            auth.error_message
        );
        ensure!(
            auth.error_message.as_deref()
                == Some("Authentication failed: Invalid username or password"),
            "SaslAuthenticate message {:?}",
            auth.error_message
        );
        ensure!(
            auth.auth_bytes.is_empty(),
            "auth bytes after a failure: {:?}",
            auth.auth_bytes
        );
        ensure!(
            sb.metric(failures)? == f0 + 1.0,
            "{failures}: {f0} → {}",
            sb.metric(failures)?
        );

        // Raw: ApiVersions is answered before authentication; Metadata closes the connection.
        let addr = sb.sasl_plaintext.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut w = RawConn::open(addr.parse()?, "sasl-raw", Duration::from_secs(5))?;
            let versions: ApiVersionsResponse =
                w.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
            ensure!(
                versions.error_code == 0,
                "ApiVersions: error {}",
                versions.error_code
            );
            for key in [
                ApiKey::SaslHandshake,
                ApiKey::SaslAuthenticate,
                ApiKey::Metadata,
            ] {
                ensure!(
                    versions.api_keys.iter().any(|k| k.api_key == key as i16),
                    "ApiVersions lacks {key:?}"
                );
            }
            w.send(ApiKey::Metadata, 1, &MetadataRequest::default())?;
            w.expect_eof("after Metadata before authentication")
        })
        .await??;
        ensure!(
            sb.metric(unauthenticated)? == u0 + 1.0,
            "{unauthenticated}: {u0} → {}",
            sb.metric(unauthenticated)?
        );

        // Good clients on both SASL listeners are served as before.
        let first = login_ok(
            sb.admin_over_sasl_ssl("SCRAM-SHA-512"),
            "alive",
            "after-failures-1",
            "admin with SCRAM-SHA-512 over SASL_SSL",
        )
        .await?;
        let second = login_ok(
            sb.conn(
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            "alive",
            "after-failures-2",
            "admin with PLAIN over SASL_PLAINTEXT",
        )
        .await?;
        ensure!(
            (first, second) == ((0, 0), (0, 1)),
            "acknowledged at {first:?}, {second:?}"
        );
        let values: Vec<String> = read_plain(&sb, "alive", 1)
            .await?
            .into_iter()
            .map(|r| r.3)
            .collect();
        ensure!(
            values == ["after-failures-1", "after-failures-2"],
            "alive holds {values:?}"
        );
        Ok(())
    });
}
