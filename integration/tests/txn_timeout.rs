//! Transaction timeout (issue 9: `transaction.timeout.ms`, automatic abort of expired
//! transactions), with confluent-kafka against one broker (`py/txn_timeout.py`): a producer
//! with transaction.timeout.ms=3000 leaves its transaction open. The coordinator aborts it on
//! its own: its records are never visible to read_committed, the last stable offset reaches
//! the high watermark (the ABORT marker written), the producer's late commit fails, and a new
//! producer with the same transactional.id commits.

use std::time::Duration;

use strata_integration::txn::{run_script_async, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

#[test]
fn expired_transaction_is_aborted_by_the_coordinator() {
    run(Duration::from_secs(180), async {
        let mut args = TXN_BROKER_ARGS.to_vec();
        args.extend([
            "--set",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
        ]);
        let broker = Broker::start(&args)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-timeout", 1, &[]).await?;
        let out = run_script_async(
            "txn_timeout.py",
            &[&b, "txn-timeout"],
            Duration::from_secs(150),
        )
        .await?;
        assert_eq!(out.need("lso_after_timeout")?, "5");
        assert!(
            out.kv("late_commit").is_some(),
            "the late commit did not fail"
        );
        assert_eq!(
            out.records("rc"),
            vec![(0, 3, "n0".to_string()), (0, 5, "u0".to_string())],
            "read_committed: n0 and the new producer's u0, never t0..t2"
        );
        let ru: Vec<(i32, i64, String)> = [(0, "t0"), (1, "t1"), (2, "t2"), (3, "n0"), (5, "u0")]
            .iter()
            .map(|(o, v)| (0, *o, v.to_string()))
            .collect();
        assert_eq!(
            out.records("ru"),
            ru,
            "read_uncommitted: the aborted t0..t2 too"
        );
        Ok(())
    });
}
