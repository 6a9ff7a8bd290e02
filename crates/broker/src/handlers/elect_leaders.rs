//! ElectLeaders (KIP-460): preferred-leader election through the quorum. Each named partition
//! (every partition when none are named) whose first replica is live and in sync but does not
//! lead gets it back as leader. Results per partition as Kafka gives them: 0 (elected),
//! ELECTION_NOT_NEEDED (84, it already leads), PREFERRED_LEADER_NOT_AVAILABLE (80, it is not
//! live or not in sync), UNKNOWN_TOPIC_OR_PARTITION (3). Unclean elections are not offered
//! (`unclean.leader.election.enable` is false): ELIGIBLE_LEADERS_NOT_AVAILABLE (83).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use strata_meta::Operation;

use super::sb;
use crate::broker::Broker;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
const ELECTION_NOT_NEEDED: i16 = 84;
const PREFERRED: i8 = 0;

pub(crate) async fn handle(broker: &Arc<Broker>, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let before = broker.meta();
    let named: Option<Vec<(String, i32)>> = req.topic_partitions.as_ref().map(|ts| {
        ts.iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
            .collect()
    });
    let mut results: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    let result = |p: i32, code: i16, msg: Option<&str>| {
        PartitionResult::default()
            .with_partition_id(p)
            .with_error_code(code)
            .with_error_message(msg.map(sb))
    };
    if req.election_type != PREFERRED {
        for (t, p) in named.unwrap_or_default() {
            results.entry(t).or_default().push(result(
                p,
                ELIGIBLE_LEADERS_NOT_AVAILABLE,
                Some("unclean leader election is not supported"),
            ));
        }
        return response(results);
    }
    let executed = broker
        .quorum()
        .execute(Operation::ElectPreferred {
            partitions: named.clone(),
        })
        .await;
    if let Err(e) = executed {
        let code = e.kafka_error_code();
        for (t, p) in named.unwrap_or_default() {
            results
                .entry(t)
                .or_default()
                .push(result(p, code, Some(&e.message)));
        }
        return response(results);
    }
    let after = broker.meta();
    let targets: Vec<(String, i32)> = match named {
        Some(n) => n,
        // All partitions: report the ones that changed leader.
        None => after
            .topics
            .values()
            .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p)))
            .filter(|(t, p)| {
                let b = before.topic(t).map(|m| before.leadership(m, *p).leader);
                let a = after.topic(t).map(|m| after.leadership(m, *p).leader);
                b != a
            })
            .collect(),
    };
    for (t, p) in targets {
        let code = match after.topic(&t).filter(|m| (0..m.partitions).contains(&p)) {
            None => UNKNOWN_TOPIC_OR_PARTITION,
            Some(m) => {
                let preferred = after.replicas(m, p).first().copied();
                let now = after.leadership(m, p).leader;
                let was = before.topic(&t).map(|bm| before.leadership(bm, p).leader);
                if Some(now) != preferred {
                    PREFERRED_LEADER_NOT_AVAILABLE
                } else if was == Some(now) {
                    ELECTION_NOT_NEEDED
                } else {
                    0
                }
            }
        };
        results.entry(t).or_default().push(result(p, code, None));
    }
    response(results)
}

fn response(results: BTreeMap<String, Vec<PartitionResult>>) -> ElectLeadersResponse {
    ElectLeadersResponse::default().with_replica_election_results(
        results
            .into_iter()
            .map(|(t, r)| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(sb(&t)))
                    .with_partition_result(r)
            })
            .collect(),
    )
}
