//! SCRAM credentials managed through the Kafka API and kept across restarts (issue 13, slice
//! 2), against the broker of [`strata_integration::sasl_broker`] (PLAINTEXT, SASL_SSL and
//! SASL_PLAINTEXT listeners; the user `admin` for both SCRAM mechanisms). Users are managed
//! with confluent-kafka's AdminClient (`integration/py/sasl_users.py`) as admin.
//!
//! - Users through the Kafka API: a SCRAM-SHA-512 user created with AlterUserScramCredentials
//!   (salt and salted password computed by confluent-kafka) logs in with SCRAM-SHA-512 and
//!   PLAIN but not SCRAM-SHA-256 nor a wrong password; DescribeUserScramCredentials lists
//!   exactly admin (both mechanisms, 4096 iterations) and the user (SCRAM-SHA-512, 8192);
//!   deleting the credential makes the next logins fail and leaves only admin; deleting it
//!   again and describing the user give RESOURCE_NOT_FOUND.
//! - Restart with the same `--add-scram` flags: the log shows the two credentials added at the
//!   first start only (idempotent); admin (three mechanisms) and a user created through the
//!   API before the restart (SCRAM-SHA-256 and PLAIN) still log in; the description is the same.

use std::time::Duration;

use anyhow::{ensure, Result};
use strata_integration::pyclient::{script, strings};
use strata_integration::sasl_broker::{read_plain, SaslBroker, ADMIN, ADMIN_PASSWORD};
use strata_integration::sasl_login::{login, login_ok};
use strata_integration::{create_topic, run};

/// `sasl_users.py` with `args` (after the admin connection flags); its output lines but DONE.
async fn users(sb: &SaslBroker, args: &[&str]) -> Result<Vec<String>> {
    let mut all = sb.admin_over_sasl_ssl("SCRAM-SHA-256");
    all.extend(strings(args));
    let mut lines = script("sasl_users.py", &all).await?;
    lines.pop();
    Ok(lines)
}

#[test]
fn users_created_through_the_kafka_api_log_in_until_deleted() {
    run(Duration::from_secs(120), async {
        let sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "users", 1, &[]).await?;
        let admin_creds = strings(&[
            "CRED admin SCRAM-SHA-256 4096",
            "CRED admin SCRAM-SHA-512 4096",
        ]);

        let out = users(
            &sb,
            &[
                "--upsert",
                "alice:SCRAM-SHA-512:8192:alice-pw",
                "--describe",
            ],
        )
        .await?;
        let mut want = strings(&["ALTER alice OK"]);
        want.extend(admin_creds.iter().cloned());
        want.push("CRED alice SCRAM-SHA-512 8192".into());
        ensure!(out == want, "upsert and describe: {out:?}");
        let out = users(&sb, &["--describe-user", "alice"]).await?;
        ensure!(
            out == ["CRED alice SCRAM-SHA-512 8192"],
            "describe alice: {out:?}"
        );

        let scram = login_ok(
            sb.conn(
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-512",
                "alice",
                "alice-pw",
            ),
            "users",
            "alice-scram",
            "alice with SCRAM-SHA-512",
        )
        .await?;
        let plain = login_ok(
            sb.conn(
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                "alice",
                "alice-pw",
            ),
            "users",
            "alice-plain",
            "alice with PLAIN",
        )
        .await?;
        ensure!(
            (scram, plain) == ((0, 0), (0, 1)),
            "acknowledged at {scram:?}, {plain:?}"
        );
        login(
            sb.conn(
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-256",
                "alice",
                "alice-pw",
            ),
            "10",
            None,
        )
        .await?
        .ensure_refused("alice with SCRAM-SHA-256 (no such credential)")?;
        login(
            sb.conn(&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512", "alice", "wrong"),
            "10",
            None,
        )
        .await?
        .ensure_refused("alice with a wrong password")?;

        let out = users(&sb, &["--delete", "alice:SCRAM-SHA-512", "--describe"]).await?;
        let mut want = strings(&["ALTER alice OK"]);
        want.extend(admin_creds.iter().cloned());
        ensure!(out == want, "delete and describe: {out:?}");
        for (bootstrap, protocol, mechanism) in [
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-512"),
            (&sb.sasl_plaintext, "SASL_PLAINTEXT", "PLAIN"),
        ] {
            login(
                sb.conn(bootstrap, protocol, mechanism, "alice", "alice-pw"),
                "10",
                None,
            )
            .await?
            .ensure_refused(&format!("deleted alice with {mechanism}"))?;
        }
        let out = users(
            &sb,
            &[
                "--delete",
                "alice:SCRAM-SHA-512",
                "--describe-user",
                "alice",
            ],
        )
        .await?;
        ensure!(
            out == [
                "ALTER alice ERR RESOURCE_NOT_FOUND",
                "DESCRIBE alice ERR RESOURCE_NOT_FOUND"
            ],
            "deleting again: {out:?}"
        );
        let values: Vec<String> = read_plain(&sb, "users", 1)
            .await?
            .into_iter()
            .map(|r| r.3)
            .collect();
        ensure!(
            values == ["alice-scram", "alice-plain"],
            "users holds {values:?}"
        );
        Ok(())
    });
}

#[test]
fn credentials_survive_a_restart_and_add_scram_is_idempotent() {
    run(Duration::from_secs(120), async {
        let mut sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "restart", 1, &[]).await?;
        let out = users(&sb, &["--upsert", "bob:SCRAM-SHA-256:8192:bob-pw"]).await?;
        ensure!(out == ["ALTER bob OK"], "upsert bob: {out:?}");
        let before = login_ok(
            sb.conn(&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-256", "bob", "bob-pw"),
            "restart",
            "bob-before",
            "bob before the restart",
        )
        .await?;
        ensure!(before == (0, 0), "bob's record at {before:?}");

        sb.restart()?;

        let added = "SCRAM credential added (--add-scram)";
        let log = std::fs::read_to_string(sb.broker.log_path())?;
        let starts: Vec<&str> = log.split("=== harness: start #").skip(1).collect();
        ensure!(starts.len() == 2, "{} starts in the log", starts.len());
        ensure!(
            starts[0].matches(added).count() == 2 && starts[1].matches(added).count() == 0,
            "--add-scram wrote {} credential(s) at the first start and {} at the restart",
            starts[0].matches(added).count(),
            starts[1].matches(added).count()
        );

        let mut acks = Vec::new();
        for (bootstrap, protocol, mechanism, user, password) in [
            (
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-256",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            (
                &sb.sasl_ssl,
                "SASL_SSL",
                "SCRAM-SHA-512",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                ADMIN,
                ADMIN_PASSWORD,
            ),
            (&sb.sasl_ssl, "SASL_SSL", "SCRAM-SHA-256", "bob", "bob-pw"),
            (
                &sb.sasl_plaintext,
                "SASL_PLAINTEXT",
                "PLAIN",
                "bob",
                "bob-pw",
            ),
        ] {
            let what = format!("{user} with {mechanism} after the restart");
            let value = format!("{user}-{mechanism}");
            acks.push(
                login_ok(
                    sb.conn(bootstrap, protocol, mechanism, user, password),
                    "restart",
                    &value,
                    &what,
                )
                .await?,
            );
        }
        ensure!(
            acks == (1..6).map(|o| (0, o)).collect::<Vec<_>>(),
            "acknowledged at {acks:?}"
        );
        let out = users(&sb, &["--describe"]).await?;
        ensure!(
            out == [
                "CRED admin SCRAM-SHA-256 4096",
                "CRED admin SCRAM-SHA-512 4096",
                "CRED bob SCRAM-SHA-256 8192",
            ],
            "describe after the restart: {out:?}"
        );
        let values: Vec<String> = read_plain(&sb, "restart", 1)
            .await?
            .into_iter()
            .map(|r| r.3)
            .collect();
        ensure!(
            values
                == [
                    "bob-before",
                    "admin-SCRAM-SHA-256",
                    "admin-SCRAM-SHA-512",
                    "admin-PLAIN",
                    "bob-SCRAM-SHA-256",
                    "bob-PLAIN"
                ],
            "restart holds {values:?}"
        );
        Ok(())
    });
}
