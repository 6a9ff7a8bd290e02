//! Joining the metadata quorum at start: start the Raft node, wait until this node has caught
//! up with the leader, import a version-1 journal left by an older build or an offline tool,
//! name the cluster on its first start, and register this broker.
//!
//! Invariants:
//! - the broker opens no partition before its image is current (a barrier through the
//!   leader), so it never serves from stale metadata at start;
//! - a `metadata.log` is imported at most once: the import is one Raft entry, and the file is
//!   renamed aside only after that entry is applied; a crash in between imports it again, and
//!   the import skips what the image already has.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use strata_meta::ops::new_cluster_id;
use strata_meta::{BrokerRegistration, MetaError, MetaErrorKind, MetadataStore, Operation};
use strata_quorum::{Quorum, QuorumConfig};

use crate::config::BrokerConfig;
use crate::error::BrokerError;

/// How long a starting broker waits for the quorum (the other voters may still be starting).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `fut` to completion from synchronous broker code (on a multi-threaded runtime).
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(fut))
}

/// Starts this node's quorum member and brings its image up to date.
pub(crate) async fn start(config: &BrokerConfig, dir: &Path) -> Result<Arc<Quorum>, BrokerError> {
    let node = u64::try_from(config.node_id).map_err(|_| {
        BrokerError::Config(format!("node.id {} must not be negative", config.node_id))
    })?;
    let qc = match &config.voters {
        Some(voters) => QuorumConfig {
            node_id: node,
            dir: dir.to_path_buf(),
            voters: voters.clone(),
            cluster_listen: config.cluster_listen,
            tls: config.cluster_tls.clone(),
            heartbeat: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
        },
        None => QuorumConfig::single(node, dir.to_path_buf()),
    };
    let quorum = Quorum::start(qc).await?;
    if config.voters.is_some() {
        tracing::info!(voters = ?quorum.voters(), "waiting for the metadata quorum");
    }
    quorum.wait_ready(READY_TIMEOUT).await?;
    import_legacy_journal(&quorum, dir).await?;
    quorum
        .execute(Operation::InitializeCluster {
            cluster_id: new_cluster_id(),
            node_id: config.node_id,
        })
        .await?;
    quorum
        .execute(Operation::RegisterBroker(BrokerRegistration {
            node_id: config.node_id,
            host: config.advertised_host.clone(),
            port: config.advertised_port,
            rack: config.rack.clone(),
            endpoints: config.endpoints(),
        }))
        .await?;
    let status = quorum.status();
    tracing::info!(
        leader = ?status.leader,
        term = status.term,
        applied = status.applied,
        "metadata quorum ready"
    );
    Ok(quorum)
}

/// Imports `metadata.log` (journal format version 1) if there is one, then renames it aside.
async fn import_legacy_journal(quorum: &Quorum, dir: &Path) -> Result<(), MetaError> {
    let path = dir.join("metadata.log");
    if !path.exists() {
        return Ok(());
    }
    let records = MetadataStore::read_records(&path)?;
    let count = records.len();
    quorum.execute(Operation::Import { records }).await?;
    let aside = dir.join(format!("metadata.log.imported-{}", crate::broker::now_ms()));
    std::fs::rename(&path, &aside)
        .map_err(|e| MetaError::io(format!("rename {} aside", path.display()), e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(
        records = count,
        kept = %aside.display(),
        "imported the version-1 metadata journal into the quorum"
    );
    Ok(())
}

/// Runs a metadata operation from synchronous broker code.
pub(crate) fn execute(quorum: &Quorum, op: Operation) -> Result<strata_meta::Outcome, MetaError> {
    block_on(quorum.execute(op))
}

/// The error for an outcome of the wrong shape (a bug, reported rather than panicking).
pub(crate) fn unexpected(outcome: strata_meta::Outcome) -> MetaError {
    MetaError::new(
        MetaErrorKind::InvalidRequest,
        format!("unexpected metadata outcome {outcome:?}"),
    )
}
