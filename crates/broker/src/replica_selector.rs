//! Fetch from follower (KIP-392): `replica.selector.class` and the choice of the replica a
//! consumer should read from.
//!
//! Behaviour (docs/architecture.md, "Replication"):
//! - off by default (`replica.selector.class` empty, as Kafka): consumers read from leaders,
//!   and a follower answers a consumer's Fetch with NOT_LEADER_OR_FOLLOWER;
//! - with [`RACK_AWARE_SELECTOR`], a leader answering a consumer's Fetch (v11+, which carries
//!   the client's `rack_id`) names a `preferred_read_replica` in the client's rack and sends no
//!   records, so the client moves its fetches there: none (-1, keep reading from the leader)
//!   when the client names no rack or the leader is in the client's rack, otherwise the lowest
//!   id among the live in-sync followers in that rack that hold the fetch offset (their log end,
//!   as their last fetch reported it, is at or past it), and none if there is no such follower;
//! - with it, followers also serve consumer fetches (v11+) up to their own high watermark (which
//!   they take from the leader); ListOffsets, Produce and replica fetches stay leader-only.
//!
//! The choice is Kafka's `RackAwareReplicaSelector` made deterministic: Kafka picks the most
//! caught-up replica of the rack, which changes from fetch to fetch; the lowest id keeps a
//! client on one follower while the set of candidates does not change.

/// The only selector Strata implements, under Kafka's class name.
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// A `replica.selector.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaSelector {
    /// Kafka's `RackAwareReplicaSelector`: read from a replica in the client's rack.
    RackAware,
}

/// What the leader knows of one follower when it chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerView<'a> {
    /// The follower's broker id.
    pub id: i32,
    /// Its `broker.rack`, as registered with the quorum.
    pub rack: Option<&'a str>,
    /// Whether it is in the ISR.
    pub in_sync: bool,
    /// Whether it is live (registered and not fenced).
    pub live: bool,
    /// Its log end offset as its last fetch reported it (-1 if it never fetched).
    pub log_end: i64,
}

impl ReplicaSelector {
    /// Parses `replica.selector.class`: empty (or unset) is none, Kafka's rack-aware selector
    /// is accepted, anything else is refused.
    pub fn parse(value: Option<&str>) -> Result<Option<ReplicaSelector>, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some(RACK_AWARE_SELECTOR) => Ok(Some(ReplicaSelector::RackAware)),
            Some(other) => Err(format!(
                "replica.selector.class = {other}: Strata implements only \
                 {RACK_AWARE_SELECTOR} (or leave it empty: consumers read from leaders only)"
            )),
        }
    }

    /// The broker a consumer in `client_rack` fetching `fetch_offset` should read from
    /// instead of the leader (in `leader_rack`), or -1 to keep reading from the leader.
    pub fn preferred_read_replica(
        self,
        client_rack: &str,
        leader_rack: Option<&str>,
        fetch_offset: i64,
        followers: &[FollowerView<'_>],
    ) -> i32 {
        match self {
            ReplicaSelector::RackAware => {
                if client_rack.is_empty() || leader_rack == Some(client_rack) {
                    return -1;
                }
                followers
                    .iter()
                    .filter(|f| {
                        f.rack == Some(client_rack)
                            && f.in_sync
                            && f.live
                            && f.log_end >= fetch_offset
                    })
                    .map(|f| f.id)
                    .min()
                    .unwrap_or(-1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(id: i32, rack: Option<&str>) -> FollowerView<'_> {
        FollowerView {
            id,
            rack,
            in_sync: true,
            live: true,
            log_end: 100,
        }
    }

    #[test]
    fn parses_only_kafkas_rack_aware_class() {
        assert_eq!(ReplicaSelector::parse(None), Ok(None));
        assert_eq!(ReplicaSelector::parse(Some("")), Ok(None));
        assert_eq!(ReplicaSelector::parse(Some("  ")), Ok(None));
        assert_eq!(
            ReplicaSelector::parse(Some(RACK_AWARE_SELECTOR)),
            Ok(Some(ReplicaSelector::RackAware))
        );
        for bad in [
            "RackAwareReplicaSelector",
            "org.apache.kafka.common.replica.LeaderSelector",
            "org.apache.kafka.common.replica.rackawarereplicaselector",
        ] {
            let err = ReplicaSelector::parse(Some(bad)).unwrap_err();
            assert!(
                err.contains("replica.selector.class") && err.contains(RACK_AWARE_SELECTOR),
                "{err}"
            );
        }
    }

    #[test]
    fn the_leader_keeps_clients_of_its_own_rack_and_those_without_one() {
        let s = ReplicaSelector::RackAware;
        let followers = [follower(2, Some("r1")), follower(3, Some("r2"))];
        assert_eq!(
            s.preferred_read_replica("r1", Some("r1"), 0, &followers),
            -1
        );
        assert_eq!(s.preferred_read_replica("", Some("r1"), 0, &followers), -1);
        assert_eq!(s.preferred_read_replica("", None, 0, &followers), -1);
    }

    #[test]
    fn a_follower_in_the_clients_rack_is_preferred_lowest_id_first() {
        let s = ReplicaSelector::RackAware;
        let followers = [
            follower(5, Some("r2")),
            follower(3, Some("r2")),
            follower(2, Some("r3")),
        ];
        assert_eq!(s.preferred_read_replica("r2", Some("r1"), 0, &followers), 3);
        assert_eq!(s.preferred_read_replica("r3", None, 0, &followers), 2);
        assert_eq!(
            s.preferred_read_replica("r9", Some("r1"), 0, &followers),
            -1
        );
    }

    #[test]
    fn only_live_in_sync_followers_holding_the_offset_qualify() {
        let s = ReplicaSelector::RackAware;
        let out_of_sync = FollowerView {
            in_sync: false,
            ..follower(2, Some("r2"))
        };
        let fenced = FollowerView {
            live: false,
            ..follower(3, Some("r2"))
        };
        let behind = FollowerView {
            log_end: 40,
            ..follower(4, Some("r2"))
        };
        let good = follower(6, Some("r2"));
        let all = [out_of_sync, fenced, behind, good];
        assert_eq!(s.preferred_read_replica("r2", Some("r1"), 50, &all), 6);
        // The follower that is behind still qualifies for offsets it holds.
        assert_eq!(s.preferred_read_replica("r2", Some("r1"), 40, &all), 4);
        assert_eq!(
            s.preferred_read_replica("r2", Some("r1"), 50, &all[..3]),
            -1
        );
        // A follower without a rack never matches.
        assert_eq!(
            s.preferred_read_replica("r2", Some("r1"), 0, &[follower(7, None)]),
            -1
        );
    }
}
