//! The leader's replication arithmetic (Kafka's `Partition` rules): follower progress from its
//! fetches, the high watermark as the minimum over the ISR, and which followers leave or join
//! the ISR. Pure functions over [`ReplicaState`]; proposing ISR changes to the metadata quorum
//! is the caller's job.
//!
//! Invariants:
//! - a follower's fetch offset is its log end (it asks for what it does not have yet); with
//!   `strata.replica.fsync` the follower fetches only past what it has fsynced, so its log end
//!   is durable there;
//! - a follower is caught up at a fetch whose offset reaches the leader's log end at that time;
//! - the high watermark is the minimum of the leader's own end (its durable end under durable
//!   acks) and every ISR follower's log end; it never moves backwards;
//! - a follower leaves the ISR when it has not been caught up for longer than
//!   `replica.lag.time.max.ms`; it joins again once its log end reaches the high watermark
//!   and the start of the leader's current epoch; the leader is always in the ISR.

use crate::state::{FollowerProgress, ReplicaState};

impl ReplicaState {
    /// Records a fetch from `follower` at `fetch_offset`, when the leader's log ended at
    /// `leader_log_end`.
    pub fn record_follower_fetch(
        &mut self,
        follower: i32,
        fetch_offset: i64,
        leader_log_end: i64,
        now_ms: i64,
    ) {
        let progress = self.followers.entry(follower).or_insert(FollowerProgress {
            log_end: 0,
            last_caught_up_ms: now_ms,
        });
        progress.log_end = fetch_offset;
        if fetch_offset >= leader_log_end {
            progress.last_caught_up_ms = now_ms;
        }
    }

    /// The high watermark the ISR allows, given the leader's own end (never below `current`).
    pub fn high_watermark(&self, leader_end: i64, current: i64, leader: i32) -> i64 {
        let followers_min = self
            .isr
            .iter()
            .filter(|&&id| id != leader)
            .map(|id| self.followers.get(id).map_or(0, |p| p.log_end))
            .min();
        let hw = followers_min.map_or(leader_end, |m| m.min(leader_end));
        hw.max(current)
    }

    /// ISR followers that have not been caught up within `lag_max_ms` (to be removed).
    pub fn lagging_in_sync(&self, now_ms: i64, lag_max_ms: i64, leader: i32) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|&id| id != leader)
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_none_or(|p| now_ms.saturating_sub(p.last_caught_up_ms) > lag_max_ms)
            })
            .collect()
    }

    /// Replicas outside the ISR whose log end reached both the high watermark and the start of
    /// the leader's current epoch (to be added).
    pub fn caught_up_out_of_sync(&self, high_watermark: i64, epoch_start: i64) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|id| !self.isr.contains(id))
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_some_and(|p| p.log_end >= high_watermark && p.log_end >= epoch_start)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::state::Role;

    fn three_replicas() -> ReplicaState {
        ReplicaState {
            node: 1,
            role: Role::Leader,
            leader_epoch: 4,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            followers: BTreeMap::new(),
            partition_epoch: 0,
        }
    }

    #[test]
    fn the_high_watermark_is_the_minimum_over_the_isr() {
        let mut s = three_replicas();
        s.record_follower_fetch(2, 80, 100, 1_000);
        s.record_follower_fetch(3, 95, 100, 1_000);
        assert_eq!(s.high_watermark(100, 0, 1), 80);
        // The leader's own (durable) end bounds it too.
        assert_eq!(s.high_watermark(70, 0, 1), 70);
        // Never backwards.
        assert_eq!(s.high_watermark(100, 90, 1), 90);
        // Without follower 2 in the ISR, follower 3 decides.
        s.isr = vec![1, 3];
        assert_eq!(s.high_watermark(100, 0, 1), 95);
        // A single in-sync replica: the leader's end.
        s.isr = vec![1];
        assert_eq!(s.high_watermark(100, 0, 1), 100);
    }

    #[test]
    fn an_isr_follower_that_stops_catching_up_is_removed_after_the_lag_time() {
        let mut s = three_replicas();
        s.record_follower_fetch(2, 100, 100, 1_000);
        s.record_follower_fetch(3, 100, 100, 1_000);
        // Follower 3 keeps up; follower 2 fetches but stays behind.
        s.record_follower_fetch(2, 100, 150, 20_000);
        s.record_follower_fetch(3, 150, 150, 20_000);
        assert!(s.lagging_in_sync(30_000, 30_000, 1).is_empty());
        assert_eq!(s.lagging_in_sync(31_001, 30_000, 1), vec![2]);
        // A replica never heard from counts as lagging.
        s.followers.remove(&3);
        assert_eq!(s.lagging_in_sync(31_001, 30_000, 1), vec![2, 3]);
    }

    #[test]
    fn a_follower_rejoins_once_it_reaches_the_high_watermark_and_the_epoch_start() {
        let mut s = three_replicas();
        s.isr = vec![1, 3];
        s.record_follower_fetch(2, 60, 100, 1_000);
        assert!(s.caught_up_out_of_sync(80, 50).is_empty());
        s.record_follower_fetch(2, 85, 100, 2_000);
        assert_eq!(s.caught_up_out_of_sync(80, 50), vec![2]);
        assert!(
            s.caught_up_out_of_sync(80, 90).is_empty(),
            "not yet past the current epoch's start"
        );
    }
}
