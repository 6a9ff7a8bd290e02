//! The API versions Strata advertises in ApiVersions.
//!
//! Invariants (see shared/reference/kafka-wire-surface.md §1.3):
//! - every range lies inside what `kafka-protocol` can decode, except Produce, which is
//!   advertised from 0 (KAFKA-18659: librdkafka < 2.11.1 stops compressing otherwise) while v0-2
//!   requests are refused by [`crate::parse_request`];
//! - ApiVersions, FindCoordinator and InitProducerId start at 0 (old librdkafka feature checks);
//! - an API is listed here only if the broker routes it; the broker's dispatcher matches on the
//!   same keys, and a test checks that every entry decodes at both ends of its range.

use kafka_protocol::messages::ApiKey;

/// `(api key, min version, max version)` of every API the broker serves.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeQuorum, 0, 1),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 4),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// Lowest Produce version Strata actually decodes (magic v2 record batches).
pub(crate) const MIN_DECODED_PRODUCE_VERSION: i16 = 3;

/// The advertised `(min, max)` for `key`, if Strata serves it.
pub fn advertised_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, min, max)| (*min, *max))
}

/// True if `version` of `key` is advertised.
pub fn advertised(key: ApiKey, version: i16) -> bool {
    advertised_range(key).is_some_and(|(min, max)| (min..=max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_are_decodable() {
        for (key, min, max) in SUPPORTED_APIS {
            let valid = key.valid_versions();
            let lowest = if *key == ApiKey::Produce {
                MIN_DECODED_PRODUCE_VERSION
            } else {
                *min
            };
            assert!(
                valid.min <= lowest && *max <= valid.max,
                "{key:?} {min}-{max} vs {valid}"
            );
        }
    }

    #[test]
    fn old_librdkafka_single_version_checks_are_contained() {
        // MsgVer2: Produce 3, Fetch 4; ZSTD: Produce 7, Fetch 10; OffsetTime: ListOffsets 1;
        // IdempotentProducer: InitProducerId 0; BrokerGroupCoordinator: FindCoordinator 0.
        for (key, v) in [
            (ApiKey::Produce, 0),
            (ApiKey::Produce, 3),
            (ApiKey::Produce, 7),
            (ApiKey::Fetch, 4),
            (ApiKey::Fetch, 10),
            (ApiKey::ListOffsets, 1),
            (ApiKey::InitProducerId, 0),
            (ApiKey::FindCoordinator, 0),
            (ApiKey::ApiVersions, 0),
        ] {
            assert!(advertised(key, v), "{key:?} v{v}");
        }
    }
}
