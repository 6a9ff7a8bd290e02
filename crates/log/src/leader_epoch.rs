//! Leader epoch cache: `(epoch, start_offset)` pairs, persisted as `leader-epoch-checkpoint`
//! (Kafka `LeaderEpochFileCache`).
//!
//! Invariants: epochs and start offsets are both strictly increasing; every start offset lies
//! in `[log_start, log_end]`. Callers persist the checkpoint whenever a method reports a change.

/// Kafka `UNDEFINED_EPOCH` / `UNDEFINED_EPOCH_OFFSET`.
const UNDEFINED: i32 = -1;
const UNDEFINED_OFFSET: i64 = -1;

/// In-memory leader epoch history of one partition.
#[derive(Debug, Default)]
pub(crate) struct LeaderEpochCache {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub(crate) fn new(mut entries: Vec<(i32, i64)>) -> Self {
        entries.sort_unstable();
        entries.dedup_by_key(|e| e.0);
        LeaderEpochCache { entries }
    }

    pub(crate) fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// Latest epoch, or -1 when none was recorded.
    pub(crate) fn latest_epoch(&self) -> i32 {
        self.entries.last().map_or(UNDEFINED, |e| e.0)
    }

    /// Records that `epoch` starts at `start_offset`; only a newer epoch is recorded.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.entries.last().is_some_and(|&(e, _)| e >= epoch) {
            return false;
        }
        // A later start offset for an older epoch cannot exist; drop any at/after this one.
        self.entries.retain(|&(_, o)| o < start_offset);
        self.entries.push((epoch, start_offset));
        true
    }

    /// Drops epochs starting at or after `log_end` (the log was truncated).
    pub(crate) fn truncate_from_end(&mut self, log_end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, o)| o < log_end);
        before != self.entries.len()
    }

    /// Moves history below the new `log_start`: the latest epoch starting before it now starts
    /// at `log_start`; older ones are dropped.
    pub(crate) fn truncate_from_start(&mut self, log_start: i64) -> bool {
        let below = self.entries.partition_point(|&(_, o)| o < log_start);
        if below == 0 {
            return false;
        }
        let mut kept = self.entries[below - 1];
        let changed = below > 1 || kept.1 != log_start;
        if self
            .entries
            .get(below)
            .is_some_and(|&(_, o)| o == log_start)
        {
            self.entries.drain(..below);
        } else {
            kept.1 = log_start;
            self.entries.splice(..below, [kept]);
        }
        changed
    }

    /// OffsetForLeaderEpoch: `(largest epoch <= requested, end offset of that epoch)`.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested == UNDEFINED {
            return (UNDEFINED, UNDEFINED_OFFSET);
        }
        if self.latest_epoch() == requested {
            return (requested, log_end);
        }
        let higher = self.entries.partition_point(|&(e, _)| e <= requested);
        let Some(&(_, higher_start)) = self.entries.get(higher) else {
            return (UNDEFINED, UNDEFINED_OFFSET);
        };
        if higher == 0 {
            (requested, higher_start)
        } else {
            (self.entries[higher - 1].0, higher_start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offset_matches_kafka_semantics() {
        let cache = LeaderEpochCache::new(vec![(1, 0), (3, 10), (5, 20)]);
        assert_eq!(cache.end_offset_for(5, 30), (5, 30));
        assert_eq!(cache.end_offset_for(3, 30), (3, 20));
        assert_eq!(cache.end_offset_for(4, 30), (3, 20));
        assert_eq!(cache.end_offset_for(0, 30), (0, 0));
        assert_eq!(cache.end_offset_for(6, 30), (-1, -1));
        assert_eq!(cache.end_offset_for(-1, 30), (-1, -1));
    }

    #[test]
    fn truncation_from_both_ends() {
        let mut cache = LeaderEpochCache::new(vec![(1, 0), (3, 10), (5, 20)]);
        assert!(cache.truncate_from_start(15));
        assert_eq!(cache.entries(), &[(3, 15), (5, 20)]);
        assert!(cache.truncate_from_start(20));
        assert_eq!(cache.entries(), &[(5, 20)]);
        assert!(!cache.truncate_from_start(20));
        assert!(cache.truncate_from_end(20));
        assert!(cache.entries().is_empty());
        assert!(cache.assign(7, 20));
        assert!(!cache.assign(6, 25));
        assert_eq!(cache.latest_epoch(), 7);
    }
}
