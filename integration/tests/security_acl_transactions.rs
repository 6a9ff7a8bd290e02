//! Transactions under the authorizer (issue 13), against the real broker with real clients
//! (the broker and clients of [`strata_integration::acl_broker`] and
//! [`strata_integration::acl_clients`]).
//!
//! The super user's transaction commits with no ACL (the broker writes its own markers, which no
//! client principal stands between); alice without WRITE on her transactional id gets
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED at once and nothing is acknowledged; with WRITE on the
//! id and the topic her transaction commits after admin's; a read_committed reader sees exactly
//! both transactions' records and commits the offset after the last COMMIT marker.

use anyhow::ensure;
use strata_integration::acl_broker::{AclBroker, LIMIT};
use strata_integration::acl_clients::{admin, client, ensure_consumed, records};
use strata_integration::pyclient::picked;
use strata_integration::run;

#[test]
fn transactions_commit_under_the_authorizer() {
    run(LIMIT, async {
        let ab = AclBroker::start()?;
        let adm = ab.admin();
        let out = admin(
            &adm,
            &[
                "--upsert",
                "alice:SCRAM-SHA-256:8192:alice-pw",
                "--topic",
                "tx",
            ],
        )
        .await?;
        ensure!(out == ["USER alice OK", "TOPIC tx OK"], "setup: {out:?}");
        let txn = |id: &'static str, tag: &'static str| {
            [
                "--produce",
                "tx",
                "--count",
                "3",
                "--tag",
                tag,
                "--transactional-id",
                id,
            ]
        };
        // The super user's transaction commits: the broker writes its own markers, which no
        // client principal stands between.
        let out = client(&adm, &txn("tx-admin", "adm")).await?;
        ensure!(
            picked(&out, "TXN") == ["COMMITTED"]
                && picked(&out, "ACK") == records("tx", "adm", 0, 3),
            "admin's transaction: {out:?}"
        );
        // alice without WRITE on her transactional id is refused at once.
        let out = client(&ab.alice(), &txn("tx-alice", "al")).await?;
        ensure!(
            picked(&out, "TXNERR") == ["TRANSACTIONAL_ID_AUTHORIZATION_FAILED"]
                && picked(&out, "ACK").is_empty(),
            "alice without ACLs: {out:?}"
        );
        // With WRITE on the id and the topic her transaction commits after admin's (its
        // COMMIT marker took offset 3).
        let out = admin(
            &adm,
            &[
                "--create",
                "TRANSACTIONAL_ID tx-alice LITERAL User:alice * WRITE ALLOW",
                "--create",
                "TOPIC tx LITERAL User:alice * WRITE ALLOW",
            ],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK", "CREATE 1 OK"], "grants: {out:?}");
        let out = client(&ab.alice(), &txn("tx-alice", "al")).await?;
        ensure!(
            picked(&out, "TXN") == ["COMMITTED"]
                && picked(&out, "ACK") == records("tx", "al", 4, 3),
            "alice's transaction: {out:?}"
        );
        // A read_committed reader sees both transactions, nothing else.
        let mut want = records("tx", "adm", 0, 3);
        want.extend(records("tx", "al", 4, 3));
        let out = client(
            &adm,
            &["--consume", "tx", "--group", "g-tx", "--count", "6"],
        )
        .await?;
        ensure_consumed(&out, &want, 8, "read_committed")?;
        Ok(())
    });
}
