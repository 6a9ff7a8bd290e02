//! An existing data dir upgrades in place (issue 8): a broker finds the version-1 metadata
//! journal an older build wrote (the golden file of migrations/golden/v1/meta), imports it into
//! the metadata quorum at its first start, renames it aside, and keeps the cluster id, the
//! topics with their partition counts and configs, and the producer-id high mark; a restart
//! then starts from the quorum's own log.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::client::{consumer, partition_count, topic_names};
use strata_integration::{run, Broker};

/// The cluster id the golden journal names (crates/meta/tests/golden_v1.rs).
const GOLDEN_CLUSTER_ID: &str = "R29sZGVuQ2x1c3RlcklkMQ";

fn golden() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations/golden/v1/meta/metadata.log")
}

#[test]
fn a_version_1_metadata_journal_is_imported_in_place() {
    run(Duration::from_secs(90), async {
        let mut broker = Broker::prepare(&["--node-id", "1"], &[])?;
        let meta = broker.data_dir().join("__cluster_metadata");
        std::fs::create_dir_all(&meta)?;
        std::fs::copy(golden(), meta.join("metadata.log")).context("copy the golden journal")?;
        broker.restart()?;
        let check = |b: &Broker| -> Result<()> {
            let boot = b.bootstrap();
            let mut names = topic_names(&boot)?;
            names.sort();
            ensure!(
                names == vec!["audit.log".to_string(), "orders".to_string()],
                "{names:?}"
            );
            ensure!(
                partition_count(&boot, "orders")? == Some(6),
                "orders partitions"
            );
            ensure!(
                partition_count(&boot, "audit.log")? == Some(1),
                "audit.log partitions"
            );
            let md = consumer(&boot, &[])?
                .client()
                .fetch_metadata(None, Duration::from_secs(10))
                .context("metadata")?;
            let ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
            ensure!(ids == vec![1], "the one broker is node 1: {ids:?}");
            Ok(())
        };
        check(&broker)?;
        let out = strata_integration::strata_cli(&[
            "topic",
            "describe",
            "orders",
            "--bootstrap-server",
            &broker.bootstrap(),
        ])?;
        out.ensure_success("topic describe")?;
        ensure!(
            out.stdout_str().contains("max.message.bytes=2097152")
                && out.stdout_str().contains("retention.ms=3600000"),
            "configs kept:\n{}",
            out.stdout_str()
        );
        let kept: Vec<String> = std::fs::read_dir(&meta)?
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        ensure!(
            !kept.contains(&"metadata.log".to_string()),
            "renamed aside: {kept:?}"
        );
        ensure!(
            kept.iter().any(|n| n.starts_with("metadata.log.imported-"))
                && kept.contains(&"raft.log".to_string()),
            "{kept:?}"
        );
        let status = strata_integration::strata_cli(&[
            "cluster",
            "status",
            "--bootstrap-server",
            &broker.bootstrap(),
        ])?;
        status.ensure_success("cluster status")?;
        ensure!(
            status
                .stdout_str()
                .contains(&format!("Cluster id: {GOLDEN_CLUSTER_ID}")),
            "the cluster id is kept:\n{}",
            status.stdout_str()
        );

        // A restart comes back from the quorum's log, with nothing imported twice.
        broker.sigterm_and_wait()?;
        broker.restart()?;
        check(&broker)?;
        Ok(())
    });
}
