//! The Kafka error codes the coordinator answers with, declared once.

/// No error.
pub const NONE: i16 = 0;
/// The topic or partition does not exist.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The commit metadata string is longer than `offset.metadata.max.bytes`.
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// The coordinator is still replaying `__consumer_offsets`.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// The coordinator is not available (shutting down, group being deleted, storage failure).
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// The generation id is not the group's current one.
pub const ILLEGAL_GENERATION: i16 = 22;
/// The member's protocol type or protocols do not fit the group's.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// The group id is empty.
pub const INVALID_GROUP_ID: i16 = 24;
/// The member id is not a member of the group.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// The session timeout is outside `[group.min.session.timeout.ms, group.max.session.timeout.ms]`.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// The group is rebalancing: rejoin.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// The request is malformed (here: an id or name too long to store).
pub const INVALID_REQUEST: i16 = 42;
/// The group still has members.
pub const NON_EMPTY_GROUP: i16 = 68;
/// The group does not exist.
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// JoinGroup v4+: rejoin with the member id in this response.
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// Another member took over this `group.instance.id`.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// OffsetDelete: a member of the group is subscribed to the topic.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
/// This broker is no longer the coordinator (shutting down): find the coordinator again.
pub const NOT_COORDINATOR: i16 = 16;
/// UNSTABLE_OFFSET_COMMIT: a transactional offset for the partition is not resolved yet.
pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
/// INVALID_PRODUCER_EPOCH.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
