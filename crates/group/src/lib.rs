//! The consumer-group coordinator: Kafka's classic group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup), committed offsets (OffsetCommit, OffsetFetch, OffsetDelete) and group
//! administration (ListGroups, DescribeGroups, DeleteGroups), with state kept in the internal
//! log `__consumer_offsets`.
//!
//! Design, in the order a request meets it:
//! 1. The coordinator of a group is the leader of its internal partition (one of 50,
//!    `offsets.topic.num.partitions`). The broker calls [`GroupCoordinator::elect`] when it
//!    becomes leader of one and [`GroupCoordinator::resign`] when it stops; on election the
//!    partition is replayed on a blocking thread (`loader.rs`), and until replay ends its
//!    groups are answered COORDINATOR_LOAD_IN_PROGRESS (14), groups of partitions led
//!    elsewhere NOT_COORDINATOR (16); clients retry and re-discover the coordinator.
//! 2. Ids and names that would be stored are checked against the format's limits where the
//!    request enters (`limits.rs`); what cannot be stored is refused, never cut.
//! 3. Groups are sharded by `__consumer_offsets` partition (`coordinator.rs`), each partition
//!    with a state lock (groups) and a write lock (its log). A request runs the state machine
//!    (`join.rs`, `sync.rs`, `heartbeat.rs`, `leave.rs`, `offsets.rs`, `admin.rs`, transitions
//!    in `rebalance.rs`) under its group's state lock. JoinGroup and SyncGroup may park: they
//!    leave a `oneshot` sender in the member and await the receiver after unlocking; the
//!    rebalance that completes them answers every parked member at once.
//! 4. Writes to `__consumer_offsets` (`storage.rs`, record format in `format.rs`) happen under
//!    the partition's write lock but outside its state lock, and are stored (fsynced and, in a
//!    cluster, replicated to the ISR) before the reply: an acknowledged commit or assignment
//!    survives a crash and a change of coordinator, and a slow write never holds up a
//!    heartbeat. What must only be visible once stored (committed offsets, a Stable group,
//!    deletions) is applied after the write. One group's records all go to one partition, in
//!    the order they were applied, which is the replay order.
//! 5. A timer task (`timers.rs`) ticks every 100 ms: session expiry, the join phase's deadline
//!    (rebalance timeout, or the initial rebalance delay), the sync deadline, pending member
//!    ids that never rejoined, offsets retention, and the lag gauges (`metrics.rs`).
//! 6. Resigning a partition, and shutdown, answer its parked requests NOT_COORDINATOR.
//!
//! See docs/groups.md for the state machine and migrations/FORMATS.md for the record format.
#![deny(missing_docs, unreachable_pub, unused_must_use)]

mod admin;
pub mod codes;
mod config;
mod coordinator;
#[cfg(test)]
mod durability_tests;
pub mod format;
mod group;
mod heartbeat;
mod join;
mod leave;
mod limits;
mod loader;
mod member;
mod metrics;
mod offsets;
mod rebalance;
mod storage;
mod sync;
mod timers;
mod txn_offsets;

pub use config::GroupConfig;
pub use coordinator::{GroupCoordinator, OffsetOracle};
pub use group::GroupState;
pub use storage::{
    open_local_log, partition_dir, LocalLog, OffsetsLog, StorageError, OFFSETS_TOPIC,
    OFFSETS_TOPIC_ID,
};
pub use strata_coordinator::{partition_for, read_batches};

pub(crate) use strata_coordinator::{blocking, now_ms};
