//! Golden file: a version-1 `partition.metadata` with the optional identity keys (`topic`,
//! `partition`) reads back through `read_identity`, and one without them still reads.

use std::path::Path;

use strata_log::{read_identity, PartitionIdentity};

#[test]
fn golden_partition_metadata_with_identity() {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v1/partition-identity");
    assert_eq!(
        read_identity(&golden).unwrap(),
        Some(PartitionIdentity {
            topic_id: "6f1d2c3b-0000-4000-8000-00000000a001".into(),
            topic: Some("orders.v1".into()),
            partition: Some(7),
        })
    );
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/golden/v1/partition");
    let id = read_identity(&old)
        .unwrap()
        .expect("v1 file has a topic id");
    assert_eq!((id.topic, id.partition), (None, None));
}
