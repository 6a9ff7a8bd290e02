//! ACLs (issue 13) for principals other than a SASL user, against the real broker with real
//! clients (the broker and clients of [`strata_integration::acl_broker`] and
//! [`strata_integration::acl_clients`]).
//!
//! The super user produces and consumes (and commits) with no ACL at all; an anonymous
//! PLAINTEXT client sees no topic and is denied until `User:ANONYMOUS` gets WRITE; a
//! kafka-python SCRAM-SHA-512 user gets TopicAuthorizationFailedError until granted WRITE; on
//! the SSL listener the certificate `/CN=carol/O=Strata` is the principal
//! `User:O=Strata,CN=carol` (RFC 2253 lists the last attribute first, as Java's `X500Principal`
//! does): bindings for `User:CN=carol,O=Strata` or for the harness's other client certificate
//! do not let her in, bindings for her principal let her produce (with an idempotent producer:
//! WRITE on a topic is enough for a producer id), consume and commit; the other certificate's
//! principal, which may only READ carol's topic, is refused a producer id
//! (CLUSTER_AUTHORIZATION_FAILED, fatal for librdkafka).

use anyhow::ensure;
use strata_integration::acl_broker::{AclBroker, LIMIT};
use strata_integration::acl_clients::{
    admin, all_acls, client, ensure_consumed, ensure_produce_denied, kafka_python, records,
    CLUSTER_DENIED,
};
use strata_integration::pyclient::picked;
use strata_integration::run;

#[test]
fn super_user_anonymous_kafka_python_and_certificate_principals() {
    run(LIMIT, async {
        let ab = AclBroker::start()?;
        let adm = ab.admin();
        let out = admin(
            &adm,
            &[
                "--upsert",
                "bob:SCRAM-SHA-512:8192:bob-pw",
                "--topic",
                "free",
                "--topic",
                "anon",
                "--topic",
                "kp",
                "--topic",
                "carol-t",
            ],
        )
        .await?;
        ensure!(
            out == [
                "USER bob OK",
                "TOPIC free OK",
                "TOPIC anon OK",
                "TOPIC kp OK",
                "TOPIC carol-t OK"
            ],
            "admin's setup: {out:?}"
        );

        // The super user needs no ACL: there is none, and it lists, produces and consumes.
        let out = client(
            &adm,
            &[
                "--list",
                "--produce",
                "free",
                "--count",
                "3",
                "--tag",
                "adm",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC") == ["anon", "carol-t", "free", "kp"],
            "admin lists {out:?}"
        );
        let free = records("free", "adm", 0, 3);
        ensure!(
            picked(&out, "ACK") == free && picked(&out, "DERR").is_empty(),
            "admin produces: {out:?}"
        );
        let out = client(
            &adm,
            &["--consume", "free", "--group", "g-admin", "--count", "3"],
        )
        .await?;
        ensure_consumed(&out, &free, 3, "admin consumes")?;
        let acls = all_acls(&ab).await?;
        ensure!(acls.is_empty(), "bindings: {acls:?}");

        // An anonymous PLAINTEXT client: nothing until User:ANONYMOUS has WRITE.
        let anonymous = ab.anonymous();
        let produce_anon = [
            "--list",
            "--produce",
            "anon",
            "--count",
            "2",
            "--tag",
            "anon",
        ];
        let out = client(&anonymous, &produce_anon).await?;
        ensure!(
            picked(&out, "TOPIC").is_empty() && picked(&out, "LERR").is_empty(),
            "the anonymous client lists {out:?}"
        );
        ensure_produce_denied(&out, "anon", 2, "the anonymous client")?;
        let out = admin(
            &adm,
            &[
                "--create",
                "TOPIC anon LITERAL User:ANONYMOUS * WRITE ALLOW",
            ],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant User:ANONYMOUS: {out:?}");
        let out = client(&anonymous, &produce_anon).await?;
        ensure!(
            picked(&out, "TOPIC") == ["anon"]
                && picked(&out, "ACK") == records("anon", "anon", 0, 2)
                && picked(&out, "DERR").is_empty(),
            "the anonymous client with WRITE: {out:?}"
        );

        // kafka-python with SCRAM-SHA-512: its own error class, then its record.
        let bob = ab.sasl("SCRAM-SHA-512", "bob", "bob-pw");
        let out = kafka_python(&bob, &["--produce", "kp", "--value", "bob-1"]).await?;
        ensure!(
            out == ["DENIED TopicAuthorizationFailedError"],
            "kafka-python bob with no ACL: {out:?}"
        );
        let out = admin(
            &adm,
            &["--create", "TOPIC kp LITERAL User:bob * WRITE ALLOW"],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant bob: {out:?}");
        let out = kafka_python(&bob, &["--produce", "kp", "--value", "bob-2"]).await?;
        ensure!(out == ["ACK 0 0"], "kafka-python bob with WRITE: {out:?}");

        // The certificate /CN=carol/O=Strata is User:O=Strata,CN=carol.
        let carol = ab.ssl("carol");
        let produce_carol = [
            "--list",
            "--produce",
            "carol-t",
            "--count",
            "2",
            "--tag",
            "carol",
        ];
        let out = client(&carol, &produce_carol).await?;
        ensure!(
            picked(&out, "TOPIC").is_empty(),
            "carol lists {out:?} with no ACL"
        );
        ensure_produce_denied(&out, "carol-t", 2, "carol with no ACL")?;
        let mut args = Vec::new();
        let wrong_order = [
            "TOPIC carol-t LITERAL User:CN=carol,O=Strata * WRITE ALLOW",
            "TOPIC carol-t LITERAL User:CN=strata-test-client * READ ALLOW",
        ];
        for b in wrong_order {
            args.extend(["--create", b]);
        }
        let out = admin(&adm, &args).await?;
        ensure!(
            out == ["CREATE 0 OK", "CREATE 1 OK"],
            "bindings for other principals: {out:?}"
        );
        let out = client(&carol, &produce_carol).await?;
        ensure_produce_denied(
            &out,
            "carol-t",
            2,
            "carol with bindings for other principals",
        )?;
        let out = client(&ab.ssl("client"), &["--produce", "carol-t", "--count", "1"]).await?;
        ensure_produce_denied(&out, "carol-t", 1, "the harness's client certificate")?;
        // It may describe carol-t but write nowhere: an idempotent producer gets no producer
        // id (KIP-679: IDEMPOTENT_WRITE on the cluster or WRITE on some topic).
        let out = client(
            &ab.ssl("client"),
            &["--idempotent", "--produce", "carol-t", "--count", "1"],
        )
        .await?;
        ensure!(
            picked(&out, "FATAL") == [CLUSTER_DENIED] && picked(&out, "ACK").is_empty(),
            "an idempotent producer without WRITE: {out:?}"
        );

        let mut args = Vec::new();
        for b in [
            "TOPIC carol-t LITERAL User:O=Strata,CN=carol * WRITE ALLOW",
            "TOPIC carol-t LITERAL User:O=Strata,CN=carol * READ ALLOW",
            "GROUP carol-g LITERAL User:O=Strata,CN=carol * READ ALLOW",
        ] {
            args.extend(["--create", b]);
        }
        let out = admin(&adm, &args).await?;
        ensure!(
            out == ["CREATE 0 OK", "CREATE 1 OK", "CREATE 2 OK"],
            "grant carol: {out:?}"
        );
        // WRITE on carol-t also gets her idempotent producer its producer id.
        let mut idempotent = vec!["--idempotent"];
        idempotent.extend(produce_carol);
        let out = client(&carol, &idempotent).await?;
        let carols = records("carol-t", "carol", 0, 2);
        ensure!(
            picked(&out, "TOPIC") == ["carol-t"]
                && picked(&out, "ACK") == carols
                && picked(&out, "DERR").is_empty()
                && picked(&out, "FATAL").is_empty(),
            "carol's idempotent producer with WRITE: {out:?}"
        );
        let out = client(
            &carol,
            &["--consume", "carol-t", "--group", "carol-g", "--count", "2"],
        )
        .await?;
        ensure_consumed(&out, &carols, 2, "carol reads")?;
        Ok(())
    });
}
