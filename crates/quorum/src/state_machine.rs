//! The replicated state machine: the metadata image folded from committed entries, published to
//! the broker's reconciler after every applied batch, and snapshotted to bound replay.
//!
//! Snapshot file `raft-snapshot.json` (version 1): the snapshot meta (last included log id,
//! membership) and the image. The image alone is the state machine's durable form; entries
//! after the snapshot are replayed from the Raft log on start.
//!
//! Invariants:
//! - the published image and index only move forward, and always match (`image` is the fold
//!   of every entry up to `applied`);
//! - a snapshot is written to disk (atomically) before openraft may purge the entries it
//!   covers.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, RaftLogId, StorageIOError, StoredMembership};
use serde::{Deserialize, Serialize};
use strata_meta::{MetaError, MetadataState};
use tokio::sync::watch;

use crate::files;
use crate::types::{Applied, Entry, LogId, NodeId, StorageError, TypeConfig};

/// File name of the snapshot inside the metadata directory.
pub const SNAPSHOT_FILE: &str = "raft-snapshot.json";

/// What the state machine publishes after each applied batch.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The image.
    pub image: Arc<MetadataState>,
    /// Raft index of the last applied entry (0 before any).
    pub applied: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    image: MetadataState,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    image: MetadataState,
    last_applied: Option<LogId>,
    membership: StoredMembership<NodeId, BasicNode>,
    snapshot: Option<SnapshotFile>,
    snapshot_seq: u64,
}

/// The state machine (cheap to clone).
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    publish: Arc<watch::Sender<Published>>,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(openraft::AnyError::new(&e)).into()
}

impl StateMachine {
    /// Opens the state machine under `dir`, starting from the snapshot if there is one.
    pub fn open(dir: &Path) -> Result<StateMachine, MetaError> {
        let snapshot = files::read::<SnapshotFile>(&dir.join(SNAPSHOT_FILE))
            .map_err(|e| MetaError::io("read the metadata snapshot", e))?;
        let (image, last_applied, membership) = match &snapshot {
            Some(s) => (
                s.image.clone(),
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataState::default(), None, StoredMembership::default()),
        };
        let published = Published {
            image: Arc::new(image.clone()),
            applied: last_applied.map(|l| l.index).unwrap_or(0),
        };
        let (tx, _) = watch::channel(published);
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                image,
                last_applied,
                membership,
                snapshot,
                snapshot_seq: 0,
            })),
            publish: Arc::new(tx),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The image and last applied index as opened (from the snapshot).
    pub fn snapshot_image(&self) -> (MetadataState, u64) {
        let inner = self.lock();
        (
            inner.image.clone(),
            inner.last_applied.map(|l| l.index).unwrap_or(0),
        )
    }

    /// Subscribes to applied images.
    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.publish.subscribe()
    }

    fn publish(&self, inner: &Inner) {
        let published = Published {
            image: Arc::new(inner.image.clone()),
            applied: inner.last_applied.map(|l| l.index).unwrap_or(0),
        };
        self.publish.send_replace(published);
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let mut inner = self.lock();
        inner.snapshot_seq += 1;
        let snapshot_id = match inner.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, inner.snapshot_seq),
            None => format!("empty-{}", inner.snapshot_seq),
        };
        let file = SnapshotFile {
            meta: SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
                snapshot_id,
            },
            image: inner.image.clone(),
        };
        files::write_atomic(&inner.dir.join(SNAPSHOT_FILE), &file).map_err(sm_err)?;
        let data = serde_json::to_vec(&file).map_err(sm_err)?;
        let meta = file.meta.clone();
        inner.snapshot = Some(file);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, BasicNode>), StorageError> {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for entry in entries {
            let id = *entry.get_log_id();
            match &entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    for record in &batch.records {
                        inner.image.apply(record);
                    }
                }
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(id), m.clone());
                }
            }
            inner.last_applied = Some(id);
            out.push(Applied { index: id.index });
        }
        self.publish(&inner);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let file: SnapshotFile = serde_json::from_slice(snapshot.get_ref()).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                openraft::AnyError::new(&e),
            ))
        })?;
        let mut inner = self.lock();
        let file = SnapshotFile {
            meta: meta.clone(),
            image: file.image,
        };
        files::write_atomic(&inner.dir.join(SNAPSHOT_FILE), &file).map_err(sm_err)?;
        inner.image = file.image.clone();
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some(file);
        self.publish(&inner);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let inner = self.lock();
        match &inner.snapshot {
            None => Ok(None),
            Some(file) => {
                let data = serde_json::to_vec(file).map_err(sm_err)?;
                Ok(Some(Snapshot {
                    meta: file.meta.clone(),
                    snapshot: Box::new(Cursor::new(data)),
                }))
            }
        }
    }
}
