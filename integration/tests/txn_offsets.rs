//! Transactions and consumer-group offsets (issue 9), with confluent-kafka against one broker
//! (`py/txn_offsets.py`): offsets sent with send_offsets_to_transaction move only when the
//! transaction commits. After an abort the group's committed offset is unchanged (none, then
//! 7); after a commit it is the offset sent (7); while the transaction is open a
//! read_uncommitted OffsetFetch sees the previous offset and a read_committed one
//! (require_stable) waits for the transaction to end; a new member of the group resumes at
//! the committed offset; the output of the aborted transaction is never visible.

use std::time::Duration;

use strata_integration::txn::{run_script_async, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

#[test]
fn group_offsets_move_only_with_commits() {
    run(Duration::from_secs(180), async {
        let broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-off-in", 1, &[]).await?;
        create_topic(&b, "txn-off-out", 1, &[]).await?;
        let out = run_script_async(
            "txn_offsets.py",
            &[&b, "txn-off-in", "txn-off-out", "txn-off-group"],
            Duration::from_secs(150),
        )
        .await?;
        // OFFSET_INVALID (-1001): nothing committed.
        assert_eq!(out.need("committed_start")?, "-1001");
        assert_eq!(out.need("committed_after_abort")?, "-1001");
        assert_eq!(out.need("committed_pending_read_uncommitted")?, "-1001");
        assert_eq!(out.need("stable_fetch_waited")?, "1");
        assert_eq!(out.need("committed_stable_after_commit")?, "7");
        assert_eq!(out.need("committed_after_commit")?, "7");
        assert_eq!(out.need("committed_after_second_abort")?, "7");
        assert_eq!(out.need("resumed_first_offset")?, "7");
        assert_eq!(
            out.records("out"),
            vec![(0, 6, "o5".to_string()), (0, 7, "o6".to_string())],
            "output with read_committed: only the committed transaction's records"
        );
        Ok(())
    });
}
