//! The clients of the ACL scenarios (`tests/security_acl_*.rs`) and the checks on what they
//! print: ACLs are managed with confluent-kafka's AdminClient (`integration/py/acl_admin.py`);
//! clients are confluent-kafka (`acl_client.py`) and kafka-python (`acl_kafka_python.py`),
//! each run with the connection flags of an [`AclBroker`] principal.
//!
//! Invariants the checks hold a run to: a refused producer got no acknowledgement and exactly
//! one delivery error per record, with the expected code; a refused consumer read and
//! committed nothing and saw only the expected error; a served consumer read exactly the
//! expected records, in order, with no error, and committed the next offset.

use anyhow::{ensure, Result};

use crate::acl_broker::AclBroker;
use crate::pyclient::{self, picked, strings};

/// A DescribeAcls / DeleteAcls filter matching every binding.
pub const EVERY_ACL: &str = "ANY - ANY - - ANY ANY";
/// The error code of a refused topic.
pub const TOPIC_DENIED: &str = "TOPIC_AUTHORIZATION_FAILED";
/// The error code of a refused group.
pub const GROUP_DENIED: &str = "GROUP_AUTHORIZATION_FAILED";
/// The error code of a refused cluster operation.
pub const CLUSTER_DENIED: &str = "CLUSTER_AUTHORIZATION_FAILED";

/// Runs `integration/py/<name>` with the connection flags `conn` and `args`; its stdout lines
/// without the final DONE.
async fn script(name: &str, conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    let mut all = conn.to_vec();
    all.extend(strings(args));
    let mut lines = pyclient::script(name, &all).await?;
    lines.pop();
    Ok(lines)
}

/// `acl_admin.py`.
pub async fn admin(conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    script("acl_admin.py", conn, args).await
}

/// `acl_client.py`.
pub async fn client(conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    script("acl_client.py", conn, args).await
}

/// `acl_kafka_python.py`.
pub async fn kafka_python(conn: &[String], args: &[&str]) -> Result<Vec<String>> {
    script("acl_kafka_python.py", conn, args).await
}

/// [`picked`], sorted.
pub fn sorted(lines: &[String], prefix: &str) -> Vec<String> {
    pyclient::sorted(picked(lines, prefix))
}

/// The records `acl_client.py --produce topic --count n --tag tag` writes, at offsets from
/// `first`: `topic 0 <offset> k<i> <tag>-<i>`.
pub fn records(topic: &str, tag: &str, first: i64, n: i64) -> Vec<String> {
    (0..n)
        .map(|i| format!("{topic} 0 {} k{i} {tag}-{i}", first + i))
        .collect()
}

/// The delivery errors of `n` records to `topic`: `topic k<i> <code>`.
pub fn refused(topic: &str, n: i64, code: &str) -> Vec<String> {
    (0..n).map(|i| format!("{topic} k{i} {code}")).collect()
}

/// Sorted copy of `items`.
pub fn sorted_of(items: &[&str]) -> Vec<String> {
    pyclient::sorted(strings(items))
}

/// A produce run in which every record was refused with TOPIC_AUTHORIZATION_FAILED.
pub fn ensure_produce_denied(out: &[String], topic: &str, n: i64, what: &str) -> Result<()> {
    ensure!(
        picked(out, "ACK").is_empty() && picked(out, "UNDELIVERED").is_empty(),
        "{what}: {out:?}"
    );
    ensure!(
        sorted(out, "DERR") == refused(topic, n, TOPIC_DENIED),
        "{what}: delivery errors {:?}",
        picked(out, "DERR")
    );
    Ok(())
}

/// A consume run that read nothing and whose only error was `code`.
pub fn ensure_consume_denied(out: &[String], code: &str, what: &str) -> Result<()> {
    ensure!(
        picked(out, "REC").is_empty() && picked(out, "COMMITTED").is_empty(),
        "{what}: read {out:?}"
    );
    ensure!(
        picked(out, "CERR") == [code],
        "{what}: consumer errors {:?}",
        picked(out, "CERR")
    );
    Ok(())
}

/// A group consumer of `topic` in `group` that gets GROUP_AUTHORIZATION_FAILED and reads
/// nothing.
pub async fn ensure_group_denied(
    conn: &[String],
    topic: &str,
    group: &str,
    what: &str,
) -> Result<()> {
    let out = client(
        conn,
        &[
            "--consume",
            topic,
            "--group",
            group,
            "--count",
            "3",
            "--until",
            GROUP_DENIED,
        ],
    )
    .await?;
    ensure!(
        picked(&out, "CERR").iter().any(|e| e == GROUP_DENIED) && picked(&out, "REC").is_empty(),
        "{what}: {out:?}"
    );
    Ok(())
}

/// A consume run that read exactly `want`, in order, with no error, and committed `next`.
pub fn ensure_consumed(out: &[String], want: &[String], next: i64, what: &str) -> Result<()> {
    ensure!(picked(out, "CERR").is_empty(), "{what}: errors {out:?}");
    ensure!(picked(out, "REC") == want, "{what}: read {out:?}");
    ensure!(
        picked(out, "COMMITTED") == [format!("0 {next}")],
        "{what}: committed {:?}",
        picked(out, "COMMITTED")
    );
    Ok(())
}

/// Every binding, as DescribeAcls through confluent-kafka gives it to admin (sorted).
pub async fn all_acls(ab: &AclBroker) -> Result<Vec<String>> {
    let out = admin(&ab.admin(), &["--describe", EVERY_ACL]).await?;
    ensure!(
        picked(&out, "DESCRIBE 0 ERR").is_empty(),
        "DescribeAcls as admin: {out:?}"
    );
    Ok(picked(&out, "DESCRIBE 0 ACL"))
}
