//! ACLs (issue 13) for a SASL user, end to end, against the real broker with real clients
//! (the broker and clients of [`strata_integration::acl_broker`] and
//! [`strata_integration::acl_clients`]).
//!
//! alice with no ACLs gets TOPIC_AUTHORIZATION_FAILED for each record she produces and
//! GROUP_AUTHORIZATION_FAILED when her consumer joins; with READ on the group only, her consumer
//! gets TOPIC_AUTHORIZATION_FAILED (Metadata), and with WRITE on the topic too her records are
//! acknowledged at offsets 0..3 but her consumer still gets TOPIC_AUTHORIZATION_FAILED (Fetch);
//! with READ as well she reads exactly those records and commits offset 3. CreateAcls and
//! DeleteAcls as alice get CLUSTER_AUTHORIZATION_FAILED (confluent-kafka and kafka-python);
//! DescribeAcls as alice gets it too through kafka-python (confluent-kafka reports no error and
//! no binding: librdkafka drops DescribeAcls' top-level error code). DescribeAcls as admin
//! returns exactly the three bindings created (both clients), and a MATCH filter the two on the
//! topic. alice's Metadata lists only that topic, admin's every topic. DeleteAcls returns
//! exactly the three bindings, after which alice is denied again and sees no topic. ALLOW WRITE
//! for alice with DENY WRITE for `User:*` denies her records; PREFIXED `orders-` READ and WRITE
//! let her produce to and consume from `orders-eu` and `orders-` (and join groups named
//! `orders-…`) but not `orders` or `xorders-1`, and her Metadata lists exactly the three topics
//! she has a binding on. `strata_authorization_denied_total` grew by at least the denials the
//! test caused, in the operation and resource type of each. After SIGTERM and a restart on the
//! same data directory DescribeAcls returns the same bindings and alice's next record is
//! acknowledged at the next offset, while the DENY still holds.

use std::collections::BTreeMap;

use anyhow::ensure;
use strata_integration::acl_broker::{growth, AclBroker, DENIED_METRIC, LIMIT};
use strata_integration::acl_clients::{
    admin, all_acls, client, ensure_consume_denied, ensure_consumed, ensure_group_denied,
    ensure_produce_denied, kafka_python, records, refused, sorted, sorted_of, CLUSTER_DENIED,
    EVERY_ACL, TOPIC_DENIED,
};
use strata_integration::pyclient::picked;
use strata_integration::run;

#[test]
fn a_sasl_user_is_denied_until_granted_and_acls_survive_a_restart() {
    run(LIMIT, async {
        let mut ab = AclBroker::start()?;
        let (adm, alice) = (ab.admin(), ab.alice());
        let before = ab.denials()?;
        // Lower bounds of the denials each step causes, by (operation, resource type).
        let mut caused: BTreeMap<(String, String), f64> = BTreeMap::new();
        let mut cause = |op: &str, rt: &str, n: f64| {
            *caused.entry((op.to_string(), rt.to_string())).or_default() += n;
        };

        let topics = [
            "payments",
            "contested",
            "orders",
            "orders-",
            "orders-eu",
            "xorders-1",
        ];
        let mut args = vec!["--upsert", "alice:SCRAM-SHA-256:8192:alice-pw"];
        for t in topics {
            args.extend(["--topic", t]);
        }
        args.extend(["--describe", EVERY_ACL]);
        let out = admin(&adm, &args).await?;
        let mut want = vec!["USER alice OK".to_string()];
        want.extend(topics.iter().map(|t| format!("TOPIC {t} OK")));
        ensure!(out == want, "admin's setup (and no ACL yet): {out:?}");

        // No ACL: nothing listed, every record refused, the group refused.
        let out = client(
            &alice,
            &[
                "--list",
                "--produce",
                "payments",
                "--count",
                "3",
                "--tag",
                "pay",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC").is_empty() && picked(&out, "LERR").is_empty(),
            "alice lists {out:?} with no ACL"
        );
        ensure_produce_denied(&out, "payments", 3, "alice with no ACL")?;
        cause("Describe", "Topic", 1.0);
        ensure_group_denied(&alice, "payments", "g-pay", "alice's consumer with no ACL").await?;
        cause("Describe", "Group", 1.0);

        // READ on the group only: the topic is refused (Metadata).
        let out = admin(
            &adm,
            &["--create", "GROUP g-pay LITERAL User:alice * READ ALLOW"],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant READ on g-pay: {out:?}");
        let consume = ["--consume", "payments", "--group", "g-pay", "--count", "3"];
        let out = client(&alice, &consume).await?;
        ensure_consume_denied(
            &out,
            TOPIC_DENIED,
            "alice's consumer with READ on the group",
        )?;
        cause("Describe", "Topic", 1.0);

        // WRITE on the topic: her records are acknowledged; WRITE does not let her read.
        let out = admin(
            &adm,
            &[
                "--create",
                "TOPIC payments LITERAL User:alice * WRITE ALLOW",
            ],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant WRITE on payments: {out:?}");
        let out = client(
            &alice,
            &["--produce", "payments", "--count", "3", "--tag", "pay"],
        )
        .await?;
        let payments = records("payments", "pay", 0, 3);
        ensure!(
            picked(&out, "ACK") == payments && picked(&out, "DERR").is_empty(),
            "alice with WRITE: {out:?}"
        );
        let out = client(&alice, &consume).await?;
        ensure_consume_denied(&out, TOPIC_DENIED, "alice's consumer with WRITE, not READ")?;
        cause("Read", "Topic", 1.0);

        // READ on the topic too: she reads exactly her records and commits.
        let out = admin(
            &adm,
            &["--create", "TOPIC payments LITERAL User:alice * READ ALLOW"],
        )
        .await?;
        ensure!(out == ["CREATE 0 OK"], "grant READ on payments: {out:?}");
        let out = client(&alice, &consume).await?;
        ensure_consumed(&out, &payments, 3, "alice's consumer with READ")?;

        // alice may not manage ACLs.
        let out = admin(
            &alice,
            &[
                "--create",
                "TOPIC payments LITERAL User:alice * ALTER ALLOW",
                "--delete",
                EVERY_ACL,
                "--describe",
                EVERY_ACL,
            ],
        )
        .await?;
        // librdkafka reads DescribeAcls' error code and drops it: no error and no binding.
        ensure!(
            out == [
                format!("CREATE 0 ERR {CLUSTER_DENIED}"),
                format!("DELETE 0 ERR {CLUSTER_DENIED}")
            ],
            "ACL requests as alice (confluent-kafka): {out:?}"
        );
        let out = kafka_python(
            &alice,
            &[
                "--describe-acls",
                "--create-acl",
                "TOPIC payments LITERAL User:alice * ALTER ALLOW",
            ],
        )
        .await?;
        ensure!(
            out == [
                "DESCRIBE ERR ClusterAuthorizationFailedError",
                "CREATE ERR ClusterAuthorizationFailedError"
            ],
            "ACL requests as alice (kafka-python): {out:?}"
        );
        cause("Alter", "Cluster", 3.0);
        cause("Describe", "Cluster", 2.0);

        // admin sees exactly what was created, with both clients and a MATCH filter.
        let granted = sorted_of(&[
            "GROUP g-pay LITERAL User:alice * READ ALLOW",
            "TOPIC payments LITERAL User:alice * READ ALLOW",
            "TOPIC payments LITERAL User:alice * WRITE ALLOW",
        ]);
        let out = admin(
            &adm,
            &[
                "--describe",
                EVERY_ACL,
                "--describe",
                "TOPIC payments MATCH - - ANY ANY",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "DESCRIBE 0 ACL") == granted
                && picked(&out, "DESCRIBE 1 ACL") == granted[1..]
                && out.len() == 5,
            "DescribeAcls as admin: {out:?}"
        );
        let out = kafka_python(&adm, &["--describe-acls"]).await?;
        ensure!(
            picked(&out, "ACL") == granted && out.len() == 3,
            "DescribeAcls as admin (kafka-python): {out:?}"
        );

        // Metadata: alice sees the one topic she has bindings on; admin sees every topic.
        let out = client(&alice, &["--list"]).await?;
        ensure!(out == ["TOPIC payments"], "alice lists {out:?}");
        let out = client(&adm, &["--list"]).await?;
        let mut every: Vec<&str> = topics.to_vec();
        every.push("__consumer_offsets");
        ensure!(
            picked(&out, "TOPIC") == sorted_of(&every),
            "admin lists {out:?}"
        );

        // DeleteAcls returns exactly the bindings it removed; alice is denied again.
        let out = admin(
            &adm,
            &[
                "--delete",
                "ANY - ANY User:alice - ANY ANY",
                "--describe",
                EVERY_ACL,
            ],
        )
        .await?;
        ensure!(
            sorted(&out, "DELETE 0 MATCH") == granted && out.len() == 3,
            "DeleteAcls: {out:?}"
        );
        let out = client(
            &alice,
            &[
                "--list",
                "--produce",
                "payments",
                "--count",
                "2",
                "--tag",
                "late",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC").is_empty(),
            "alice lists {out:?} after the delete"
        );
        ensure_produce_denied(&out, "payments", 2, "alice after the delete")?;
        cause("Describe", "Topic", 1.0);
        ensure_group_denied(
            &alice,
            "payments",
            "g-pay",
            "alice's consumer after the delete",
        )
        .await?;
        cause("Describe", "Group", 1.0);

        // DENY beats ALLOW; PREFIXED bindings cover names that start with the prefix.
        let bindings = [
            "TOPIC contested LITERAL User:alice * WRITE ALLOW",
            "TOPIC contested LITERAL User:* * WRITE DENY",
            "TOPIC orders- PREFIXED User:alice * READ ALLOW",
            "TOPIC orders- PREFIXED User:alice * WRITE ALLOW",
            "GROUP orders- PREFIXED User:alice * READ ALLOW",
        ];
        let mut args = Vec::new();
        for b in bindings {
            args.extend(["--create", b]);
        }
        let out = admin(&adm, &args).await?;
        ensure!(
            out == (0..5).map(|i| format!("CREATE {i} OK")).collect::<Vec<_>>(),
            "create the DENY and PREFIXED bindings: {out:?}"
        );
        let mut args = vec!["--list", "--count", "2", "--tag", "o"];
        for t in ["contested", "orders-eu", "orders-", "orders", "xorders-1"] {
            args.extend(["--produce", t]);
        }
        let out = client(&alice, &args).await?;
        ensure!(
            picked(&out, "TOPIC") == ["contested", "orders-", "orders-eu"],
            "alice lists {out:?}"
        );
        let mut acked = records("orders-", "o", 0, 2);
        acked.extend(records("orders-eu", "o", 0, 2));
        ensure!(
            sorted(&out, "ACK") == acked,
            "acknowledged to alice: {out:?}"
        );
        let mut denied = refused("contested", 2, TOPIC_DENIED);
        denied.extend(refused("orders", 2, TOPIC_DENIED));
        denied.extend(refused("xorders-1", 2, TOPIC_DENIED));
        ensure!(
            sorted(&out, "DERR") == denied && picked(&out, "UNDELIVERED").is_empty(),
            "refused to alice: {out:?}"
        );
        cause("Write", "Topic", 1.0);
        cause("Describe", "Topic", 2.0);
        let out = client(
            &alice,
            &[
                "--consume",
                "orders-eu",
                "--group",
                "orders-g1",
                "--count",
                "2",
            ],
        )
        .await?;
        ensure_consumed(
            &out,
            &records("orders-eu", "o", 0, 2),
            2,
            "alice reads orders-eu",
        )?;
        let out = client(
            &alice,
            &[
                "--consume",
                "orders",
                "--group",
                "orders-g2",
                "--count",
                "1",
            ],
        )
        .await?;
        ensure_consume_denied(&out, TOPIC_DENIED, "alice reads orders")?;
        cause("Describe", "Topic", 1.0);

        // Every denial was counted, under its operation and resource type.
        let grew = growth(&before, &ab.denials()?);
        for (series, at_least) in &caused {
            let got = grew.get(series).copied().unwrap_or(0.0);
            ensure!(
                got >= *at_least,
                "{DENIED_METRIC}{series:?} grew by {got}, expected at least {at_least}: {grew:?}"
            );
        }
        let (total, want): (f64, f64) = (grew.values().sum(), caused.values().sum());
        ensure!(
            total >= want,
            "{DENIED_METRIC} grew by {total} in all, expected at least {want}: {grew:?}"
        );

        // The bindings are in cluster metadata: a restart keeps them.
        let kept = sorted_of(&bindings);
        let acls = all_acls(&ab).await?;
        ensure!(acls == kept, "bindings before the restart: {acls:?}");
        ab.restart()?;
        let acls = all_acls(&ab).await?;
        ensure!(acls == kept, "bindings after the restart: {acls:?}");
        let out = client(
            &alice,
            &[
                "--list",
                "--produce",
                "orders-eu",
                "--produce",
                "contested",
                "--count",
                "1",
                "--tag",
                "after",
            ],
        )
        .await?;
        ensure!(
            picked(&out, "TOPIC") == ["contested", "orders-", "orders-eu"],
            "alice lists {out:?} after the restart"
        );
        ensure!(
            picked(&out, "ACK") == ["orders-eu 0 2 k0 after-0"]
                && picked(&out, "DERR") == refused("contested", 1, TOPIC_DENIED),
            "alice after the restart: {out:?}"
        );
        Ok(())
    });
}
