//! Zombie fencing (issue 9), with confluent-kafka against one broker (`py/txn_fencing.py`):
//! a second producer with the same transactional.id fences the first. The first's open
//! transaction is aborted (never visible to read_committed), its next produce is not written
//! and its commit fails with a fatal fencing error (librdkafka's _FENCED, from
//! PRODUCER_FENCED or INVALID_PRODUCER_EPOCH); the second producer commits and keeps working.

use std::time::Duration;

use strata_integration::txn::{run_script_async, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

#[test]
fn second_producer_with_same_transactional_id_fences_the_first() {
    run(Duration::from_secs(180), async {
        let broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-fence", 1, &[]).await?;
        let out = run_script_async(
            "txn_fencing.py",
            &[&b, "txn-fence"],
            Duration::from_secs(150),
        )
        .await?;
        assert_eq!(
            out.need("second_offset")?,
            "4",
            "s0 after r0..r2 and the ABORT marker"
        );
        assert_eq!(out.need("zombie_commit_fatal")?, "1");
        let code = out.need("zombie_commit_code")?;
        assert!(
            ["_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"].contains(&code.as_str()),
            "the zombie's commit failed with {code}, not a fencing error"
        );
        assert_eq!(
            out.records("rc"),
            vec![(0, 4, "s0".to_string())],
            "read_committed: only the second producer's record"
        );
        let ru: Vec<(i32, i64, String)> = [(0, "r0"), (1, "r1"), (2, "r2"), (4, "s0")]
            .iter()
            .map(|(o, v)| (0, *o, v.to_string()))
            .collect();
        assert_eq!(
            out.records("ru"),
            ru,
            "read_uncommitted: the aborted r0..r2, s0; no r3"
        );
        Ok(())
    });
}
