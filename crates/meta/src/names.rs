//! Topic name rules, exactly as Kafka's `Topic.validate`: 1–249 characters of
//! `[a-zA-Z0-9._-]`, and not `.` or `..`; and the internal names that clients may not create,
//! alter or delete (`__consumer_offsets`, `__transaction_state`, `__cluster_metadata`, and any
//! name starting with `__strata`).

use crate::error::{MetaError, MetaErrorKind};

/// Longest legal topic name.
pub const TOPIC_NAME_MAX_LEN: usize = 249;

/// Validates a topic name, returning INVALID_TOPIC_EXCEPTION's message on failure.
pub fn validate_topic_name(name: &str) -> Result<(), MetaError> {
    let bad = |why: String| Err(MetaError::new(MetaErrorKind::InvalidTopic, why));
    if name.is_empty() {
        return bad("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return bad("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_MAX_LEN {
        return bad(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_MAX_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Topics that Strata itself owns.
pub const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__cluster_metadata",
];

/// Prefix reserved for Strata's own internal topics.
pub const INTERNAL_PREFIX: &str = "__strata";

/// True for a name reserved for internal use.
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name) || name.starts_with(INTERNAL_PREFIX)
}

/// Refuses `action` ("created", "altered", "deleted", …) on an internal topic with
/// INVALID_TOPIC_EXCEPTION.
pub fn refuse_internal(name: &str, action: &str) -> Result<(), MetaError> {
    if is_internal_topic(name) {
        return Err(MetaError::new(
            MetaErrorKind::InvalidTopic,
            format!(
                "Topic '{name}' is an internal topic and cannot be {action} by clients \
                 (reserved: {}, and any name starting with {INTERNAL_PREFIX})",
                INTERNAL_TOPICS.join(", ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        for ok in [
            "a",
            "orders.v1",
            "A_b-C",
            &"x".repeat(249),
            "__consumer_offsets",
        ] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for internal in [
            "__consumer_offsets",
            "__transaction_state",
            "__cluster_metadata",
            "__strata",
            "__strata_x",
        ] {
            assert_eq!(
                refuse_internal(internal, "deleted")
                    .unwrap_err()
                    .kafka_error_code(),
                17
            );
        }
        for user in ["__consumer_offsets2", "_strata", "__str", "orders"] {
            assert!(refuse_internal(user, "deleted").is_ok(), "{user}");
        }
        for bad in ["", ".", "..", "bad/name", "sp ace", "ü", &"x".repeat(250)] {
            let e = validate_topic_name(bad).unwrap_err();
            assert_eq!(e.kafka_error_code(), 17, "{bad}");
        }
    }
}
