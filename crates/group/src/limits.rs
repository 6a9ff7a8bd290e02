//! Input limits of the group APIs: what the coordinator can store is checked where a request
//! enters, so nothing is cut on the way to `__consumer_offsets`.
//!
//! Stored strings (`format.rs`) carry an `int16` length: at most 32767 bytes. Flexible request
//! versions carry compact strings that may be longer, so every id or name that may be stored
//! is checked here and refused when it does not fit:
//!
//! | input | API | refused with |
//! |---|---|---|
//! | group id: empty or > 32767 bytes | JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit | INVALID_GROUP_ID (24) |
//! | member id, `group.instance.id`, client id, protocol type, protocol (assignor) names > 32767 bytes | JoinGroup | INVALID_REQUEST (42) |
//! | topic name: empty or > 249 characters (Kafka's topic name limit) | OffsetCommit | UNKNOWN_TOPIC_OR_PARTITION (3), per partition |
//! | offset metadata > `offset.metadata.max.bytes` (or > 32767 bytes whatever that is set to) | OffsetCommit | OFFSET_METADATA_TOO_LARGE (12), per partition |
//!
//! Reads (OffsetFetch, DescribeGroups, ListGroups) and deletions (DeleteGroups, OffsetDelete)
//! store nothing new: an id that cannot be stored names no group, and they answer as for any
//! unknown group. Generated member ids (`<client id or instance id>-<uuid>`) cut their prefix
//! at a character boundary so the id fits; the prefix is only a readable hint.

use crate::codes;
use crate::format::MAX_STRING_BYTES;

/// Kafka's longest topic name, in characters.
pub(crate) const MAX_TOPIC_CHARS: usize = 249;

/// A group id that may be stored: non-empty and at most 32767 bytes.
pub(crate) fn check_group_id(id: &str) -> Result<(), i16> {
    if id.is_empty() || id.len() > MAX_STRING_BYTES {
        return Err(codes::INVALID_GROUP_ID);
    }
    Ok(())
}

/// Any other stored string: at most 32767 bytes.
pub(crate) fn check_stored(s: &str) -> Result<(), i16> {
    if s.len() > MAX_STRING_BYTES {
        return Err(codes::INVALID_REQUEST);
    }
    Ok(())
}

/// A topic name Kafka could have created: 1 to 249 characters.
pub(crate) fn topic_name_fits(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_TOPIC_CHARS
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A fresh member id `<prefix>-<uuid>` that always fits a stored string.
pub(crate) fn new_member_id(prefix: &str) -> String {
    let uuid = uuid::Uuid::new_v4().to_string();
    let room = MAX_STRING_BYTES - uuid.len() - 1;
    format!("{}-{uuid}", cut_at_char_boundary(prefix, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_in_bytes() {
        assert_eq!(check_group_id(""), Err(codes::INVALID_GROUP_ID));
        assert_eq!(check_group_id("g"), Ok(()));
        // 2-byte characters: 16384 of them are 32768 bytes.
        assert_eq!(
            check_group_id(&"é".repeat(16_384)),
            Err(codes::INVALID_GROUP_ID)
        );
        assert_eq!(check_group_id(&"x".repeat(MAX_STRING_BYTES)), Ok(()));
        assert_eq!(check_stored(&"x".repeat(MAX_STRING_BYTES)), Ok(()));
        assert_eq!(
            check_stored(&"x".repeat(MAX_STRING_BYTES + 1)),
            Err(codes::INVALID_REQUEST)
        );
        assert!(topic_name_fits(&"ü".repeat(249)));
        assert!(!topic_name_fits(&"a".repeat(250)));
        assert!(!topic_name_fits(""));
    }

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(cut_at_char_boundary("aé", 2), "a");
        assert_eq!(cut_at_char_boundary("aé", 3), "aé");
        assert_eq!(cut_at_char_boundary("€€", 5), "€");
        let id = new_member_id(&"€".repeat(20_000));
        assert!(id.len() <= MAX_STRING_BYTES);
        assert!(
            id.len() > MAX_STRING_BYTES - 3,
            "only what does not fit is cut"
        );
        let short = new_member_id("client");
        assert!(short.starts_with("client-") && short.len() == "client-".len() + 36);
    }
}
