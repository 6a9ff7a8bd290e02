//! AlterPartitionReassignments against `max.broker.partitions`: replicas a request adds to a
//! broker count against the limit, including those added earlier in the same request.

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::*;
use strata_meta::{BrokerRegistration, Operation};

use super::test_support::{call, name, open_broker_with};

#[tokio::test(flavor = "multi_thread")]
async fn added_replicas_count_against_max_broker_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_broker_with(dir.path(), &[("max.broker.partitions", "1")]);
    b.create_topic("t", 1, 1, Default::default(), false)
        .unwrap();
    b.quorum()
        .execute(Operation::RegisterBroker(BrokerRegistration {
            node_id: 5,
            host: "127.0.0.1".into(),
            port: 1,
            rack: None,
            endpoints: Vec::new(),
        }))
        .await
        .unwrap();
    // Straight through the quorum: placed on node 0 or 5, past this broker's own check.
    b.quorum()
        .execute(Operation::CreateTopic {
            name: "u".into(),
            topic_id: uuid::Uuid::new_v4().to_string(),
            partitions: 1,
            replication_factor: 1,
            configs: Default::default(),
            validate_only: false,
        })
        .await
        .unwrap();
    let image = b.meta();
    let u_on = image.replicas(image.topic("u").unwrap(), 0);
    // Move both partitions to broker 5, which may hold one.
    let req = AlterPartitionReassignmentsRequest::default().with_topics(
        ["t", "u"]
            .iter()
            .map(|t| {
                ReassignableTopic::default()
                    .with_name(name(t))
                    .with_partitions(vec![ReassignablePartition::default()
                        .with_partition_index(0)
                        .with_replicas(Some(vec![BrokerId(5)]))])
            })
            .collect(),
    );
    let resp: AlterPartitionReassignmentsResponse = call(
        &b,
        ApiKey::AlterPartitionReassignments,
        0,
        RequestKind::AlterPartitionReassignments(req),
    )
    .await;
    let codes: Vec<i16> = resp
        .responses
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect();
    if u_on == vec![5] {
        // Broker 5 is full already: t may not come; u stays where it is.
        assert_eq!(codes, vec![44, 0]);
    } else {
        // t takes broker 5's one place; u, moved in the same request, finds it taken.
        assert_eq!(u_on, vec![0]);
        assert_eq!(codes, vec![0, 44]);
    }
}
