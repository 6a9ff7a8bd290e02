//! A partition hosted by this broker: its log behind a mutex, its replica state, its topic's
//! settings snapshot and the wake-up of its long-polling readers.
//!
//! Invariants:
//! - the mutex is held only for in-memory work and page-cache writes; fsyncs run outside it
//!   (group commit); record bytes are sent to sockets *after* it is released, from the
//!   `Arc<File>` in a [`strata_log::ReadSlice`];
//! - the leader epoch of the replica state is stamped into every batch appended as leader;
//! - readers waiting for data (long-polling fetches) wait on the partition's own wake-up, woken
//!   when its high watermark may have moved (an append, a group-commit flush), never by other
//!   partitions' appends (shutdown reaches them through the broker's shutdown signal);
//! - a partition is offline (KAFKA_STORAGE_ERROR for Produce, Fetch, ListOffsets and in
//!   Metadata) once its log failed a write or fsync (the log's own flag, see
//!   `strata_log::PartitionLog::offline_flag`), until a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strata_log::PartitionLog;

use crate::settings::TopicSettings;
use crate::state::ReplicaState;

/// Kafka's error for a partition whose storage failed.
pub const KAFKA_STORAGE_ERROR: i16 = 56;

/// A hosted partition.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Topic id.
    pub topic_id: String,
    /// Partition index.
    pub index: i32,
    log: Mutex<PartitionLog>,
    /// The log's offline flag, readable without its lock.
    offline: Arc<AtomicBool>,
    /// Bytes of sealed segments not yet uploaded, as of the last tiering sync.
    tier_lag_bytes: std::sync::atomic::AtomicU64,
    /// On a follower: records behind the leader's log end at its last fetch.
    replica_lag_records: std::sync::atomic::AtomicI64,
    /// The topic's effective settings (a snapshot replaced on alter).
    settings: RwLock<Arc<TopicSettings>>,
    /// Role, leader epoch, replicas, ISR, follower progress.
    state: RwLock<ReplicaState>,
    /// Wakes this partition's long-polling readers.
    wake: tokio::sync::Notify,
}

impl Partition {
    /// Wraps an opened log with its topic's settings and its replica state; the settings'
    /// log part is applied to the log.
    pub fn new(
        topic: String,
        topic_id: String,
        index: i32,
        mut log: PartitionLog,
        settings: Arc<TopicSettings>,
        state: ReplicaState,
    ) -> Self {
        log.set_config(settings.log.clone());
        if state.is_leader() {
            assign_epoch(&topic, index, &mut log, state.leader_epoch);
        }
        Partition {
            topic,
            topic_id,
            index,
            offline: log.offline_flag(),
            log: Mutex::new(log),
            tier_lag_bytes: std::sync::atomic::AtomicU64::new(0),
            replica_lag_records: std::sync::atomic::AtomicI64::new(0),
            settings: RwLock::new(settings),
            state: RwLock::new(state),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Wakes the readers waiting on this partition (its high watermark may have moved).
    pub fn wake_readers(&self) {
        self.wake.notify_waiters();
    }

    /// A future that completes at the next [`Partition::wake_readers`]; `enable` it before
    /// checking for data so that a wake-up in between is not missed.
    pub fn readers_woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The topic's settings snapshot (no metadata lock, no string parsing).
    pub fn settings(&self) -> Arc<TopicSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings snapshot and applies the log part to the log.
    pub fn set_settings(&self, settings: Arc<TopicSettings>) {
        self.log().set_config(settings.log.clone());
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    /// The replica state (a copy).
    pub fn replica_state(&self) -> ReplicaState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current leader epoch, stamped into every batch this broker appends as leader.
    pub fn leader_epoch(&self) -> i32 {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .leader_epoch
    }

    /// True when the partition has more than one replica (the replica layer sets its high
    /// watermark). Reads the replica state only, not the log.
    pub fn is_replicated(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .replicas
            .len()
            > 1
    }

    /// The leader this broker follows, or `None` while it leads.
    pub fn following(&self) -> Option<i32> {
        match self.state.read().unwrap_or_else(|p| p.into_inner()).role {
            crate::state::Role::Leader => None,
            crate::state::Role::Follower { leader } => Some(leader),
        }
    }

    /// Number of in-sync replicas.
    pub fn isr_size(&self) -> i32 {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .isr_size()
    }

    /// Replaces the replica state (the reconciler, when metadata changes it). A leader that
    /// stays leader in the same epoch keeps what it knows of its followers. A partition with
    /// more than one replica has its high watermark set by this layer.
    pub fn set_replica_state(&self, mut state: ReplicaState) {
        let mut current = self.state.write().unwrap_or_else(|p| p.into_inner());
        if current.is_leader() && state.is_leader() && current.leader_epoch == state.leader_epoch {
            state.followers = std::mem::take(&mut current.followers);
        }
        if state.is_leader() {
            // A follower this leader has not heard from yet gets a full lag period from now
            // (as Kafka does): none is out of sync merely because it has not fetched yet.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            for &r in state.replicas.iter().filter(|&&r| r != state.node) {
                state
                    .followers
                    .entry(r)
                    .or_insert(crate::state::FollowerProgress {
                        log_end: 0,
                        last_caught_up_ms: now,
                    });
            }
        }
        {
            let mut log = self.log();
            log.set_replicated(state.replicas.len() > 1);
            if state.is_leader() {
                assign_epoch(&self.topic, self.index, &mut log, state.leader_epoch);
            }
        }
        *current = state;
    }

    /// On the leader of a replicated partition: moves the high watermark to the minimum over
    /// the ISR of the log ends (this copy's own visible end included). Returns true, and wakes
    /// the readers, when it moved.
    pub fn refresh_high_watermark(&self) -> bool {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        if !state.is_leader() || state.replicas.len() < 2 {
            return false;
        }
        let moved = {
            let mut log = self.log();
            if !log.is_replicated() {
                return false;
            }
            let current = log.high_watermark();
            let hw = state.high_watermark(log.local_visible_end(), current, state.node);
            if hw > current {
                log.set_high_watermark(hw);
                true
            } else {
                false
            }
        };
        drop(state);
        if moved {
            self.wake_readers();
        }
        moved
    }

    /// On the leader: records a follower's fetch at `fetch_offset` and moves the high
    /// watermark if it can. Returns the high watermark after it.
    pub fn record_follower_fetch(&self, follower: i32, fetch_offset: i64, now_ms: i64) -> i64 {
        let leader_end = self.log().log_end_offset();
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .record_follower_fetch(follower, fetch_offset, leader_end, now_ms);
        self.refresh_high_watermark();
        self.log().high_watermark()
    }

    /// Locks the log. A poisoned lock (a panic while appending) is recovered: the log's own
    /// invariants are re-established by the next append or by recovery at restart.
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once a failed write or fsync took the log offline.
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Bytes waiting for upload, as of the last tiering sync.
    /// On a follower: how many records it was behind the leader at its last fetch.
    pub fn replica_lag_records(&self) -> i64 {
        self.replica_lag_records.load(Ordering::Relaxed)
    }

    /// Records the follower's lag after a fetch.
    pub fn set_replica_lag_records(&self, lag: i64) {
        self.replica_lag_records
            .store(lag.max(0), Ordering::Relaxed);
    }

    /// Bytes of sealed segments not yet uploaded, as of the last tiering sync.
    pub fn tier_lag_bytes(&self) -> u64 {
        self.tier_lag_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the tiering lag.
    pub fn set_tier_lag_bytes(&self, bytes: u64) {
        self.tier_lag_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The log's mutex, for services that lock it briefly themselves (tiering).
    pub fn log_mutex(&self) -> &Mutex<PartitionLog> {
        &self.log
    }

    /// Takes the log out for closing or deletion.
    pub fn into_log(self) -> PartitionLog {
        self.log.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Records the leader epoch this replica now leads in, in its log's epoch history. A failure
/// to persist the checkpoint is logged: the entry stays in memory, and the checkpoint is
/// written again at the next epoch change or clean close.
fn assign_epoch(topic: &str, index: i32, log: &mut PartitionLog, epoch: i32) {
    if let Err(e) = log.assign_leader_epoch(epoch) {
        tracing::warn!(topic, partition = index, epoch, error = %e, "cannot record the leader epoch start");
    }
}
