//! Which internal partition owns a key: Kafka's `Utils.abs(key.hashCode()) % partitions`.
//!
//! Invariant: identical to Kafka for every string (Java's `String.hashCode` over UTF-16 code
//! units, and `Utils.abs`, which maps `i32::MIN` to 0), so a key lives in the partition a
//! Kafka cluster would put it in.

/// The partition of `key` among `partitions` (at least 1).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in key.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_matches_kafka() {
        // Java: "test-group".hashCode() = 627841412 → 627841412 % 50 = 12.
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE → Utils.abs gives 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert!((0..50).contains(&partition_for("ü-gröup", 50)));
    }
}
