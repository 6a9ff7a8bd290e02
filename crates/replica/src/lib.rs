//! The replica layer: each hosted partition's log together with its replica state (leader or
//! follower, leader epoch, replicas, ISR, follower progress), its topic's typed settings
//! snapshot, and a wake-up for the readers long-polling it.
//!
//! Dependencies point one way: this crate knows the log (`strata-log`), never the broker, the
//! wire protocol or the metadata store. The broker resolves settings and replica assignments and
//! hands them in.
//!
//! Module map: `partition` (the hosted partition), `state` (replica state), `isr` (follower
//! progress, the high watermark over the ISR, ISR shrink and expand), `settings` (the typed
//! settings snapshot).

mod isr;
mod partition;
mod settings;
mod state;

pub use partition::{Partition, KAFKA_STORAGE_ERROR};
pub use settings::TopicSettings;
pub use state::{FollowerProgress, ReplicaState, Role, INITIAL_LEADER_EPOCH};
