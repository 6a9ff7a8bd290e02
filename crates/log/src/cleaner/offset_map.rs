//! The cleaner's key → latest offset map, bounded in bytes (`log.cleaner.dedupe.buffer.size`).
//!
//! Kafka's `SkimpyOffsetMap` stores 24-byte (MD5 hash, offset) slots; this map stores whole keys
//! (no hash collisions can lose a record) and charges each entry its key length plus a fixed
//! overhead, so the budget bounds memory the same way. An insert that would go past the budget
//! is refused: the caller ends the cleaned section there.

use std::collections::HashMap;

/// Bytes charged per entry besides the key (offset, hash-table slot, allocation).
const ENTRY_OVERHEAD: usize = 48;

/// Key → latest offset, at most `capacity` bytes.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    used: usize,
    capacity: usize,
}

impl OffsetMap {
    pub(crate) fn new(capacity: usize) -> OffsetMap {
        OffsetMap {
            map: HashMap::new(),
            used: 0,
            capacity,
        }
    }

    /// Records `offset` for `key`; false (nothing stored) if a new key does not fit.
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) -> bool {
        if let Some(slot) = self.map.get_mut(key) {
            *slot = (*slot).max(offset);
            return true;
        }
        let cost = key.len() + ENTRY_OVERHEAD;
        if self.used + cost > self.capacity {
            return false;
        }
        self.used += cost;
        self.map.insert(key.into(), offset);
        true
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    /// Fraction of the budget used.
    pub(crate) fn fill_ratio(&self) -> f64 {
        if self.capacity == 0 {
            1.0
        } else {
            self.used as f64 / self.capacity as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_the_budget_holds() {
        let mut map = OffsetMap::new(2 * (1 + ENTRY_OVERHEAD));
        assert!(map.put(b"a", 5));
        assert!(map.put(b"a", 3));
        assert!(map.put(b"b", 7));
        assert!(!map.put(b"c", 9));
        assert!(map.put(b"b", 8));
        assert_eq!(
            (map.get(b"a"), map.get(b"b"), map.get(b"c")),
            (Some(5), Some(8), None)
        );
        assert!((map.fill_ratio() - 1.0).abs() < 1e-9);
    }
}
