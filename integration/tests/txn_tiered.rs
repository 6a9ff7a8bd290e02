//! Transactions over tiered storage (issue 9: the aborted-transaction index is uploaded with
//! the segment and used on cold reads), with confluent-kafka (`py/txn_tiered.py`).
//!
//! One partition with `remote.storage.enable=true`, 1 MiB segments and
//! `local.retention.bytes=0` receives 16 transactions of 400 records of 1 KB (~6.4 MB),
//! alternately committed and aborted, each followed by one plain record. Once every sealed
//! segment is uploaded and deleted locally, the partition is read from offset 0 — everything
//! below the active segment comes from the bucket: read_committed returns exactly the committed
//! transactions' records and the plain ones, in order, and nothing of an aborted transaction;
//! read_uncommitted returns everything. The same after a SIGKILL and restart of the broker.

use std::time::Duration;

use anyhow::ensure;
use strata_integration::tier::wait_all_uploaded;
use strata_integration::txn::{run_script_async, ScriptOutput, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

const TOPIC: &str = "txn-tier";
const ROUNDS: usize = 16;
const RECORDS: usize = 400;

fn check(out: &ScriptOutput, when: &str) -> anyhow::Result<()> {
    let committed = (ROUNDS / 2) * RECORDS + ROUNDS;
    let all = ROUNDS * RECORDS + ROUNDS;
    ensure!(
        out.need("rc_aborted_records")? == "0",
        "{when}: read_committed returned records of aborted transactions"
    );
    ensure!(
        out.need("rc_records")? == committed.to_string(),
        "{when}: read_committed returned {} records, want {committed}",
        out.need("rc_records")?
    );
    ensure!(
        out.need("ru_records")? == all.to_string(),
        "{when}: read_uncommitted returned {} records, want {all}",
        out.need("ru_records")?
    );
    ensure!(
        out.need("rc_first_offset")? == "0",
        "{when}: read_committed did not start at 0"
    );
    Ok(())
}

#[test]
fn aborted_transactions_stay_hidden_on_cold_reads() {
    run(Duration::from_secs(240), async {
        let mut args = TXN_BROKER_ARGS.to_vec();
        args.extend([
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
        ]);
        let mut broker = Broker::start(&args)?;
        let b = broker.bootstrap();
        create_topic(
            &b,
            TOPIC,
            1,
            &[
                ("remote.storage.enable", "true"),
                ("segment.bytes", "1048576"),
                ("local.retention.bytes", "0"),
                ("retention.ms", "-1"),
            ],
        )
        .await?;
        let rounds = ROUNDS.to_string();
        let records = RECORDS.to_string();
        let written = run_script_async(
            "txn_tiered.py",
            &["write", &b, TOPIC, &rounds, &records, "1000"],
            Duration::from_secs(120),
        )
        .await?;
        let hw: i64 = written.need("hw")?.parse()?;
        // 16 COMMIT/ABORT markers among the records.
        ensure!(
            hw == (ROUNDS * RECORDS + 2 * ROUNDS) as i64,
            "high watermark {hw}"
        );

        let actives =
            wait_all_uploaded(broker.data_dir(), TOPIC, 1, Duration::from_secs(60)).await?;
        ensure!(
            actives[0] > 2 * RECORDS as i64,
            "only offsets below {} are cold; want several transactions there",
            actives[0]
        );
        eprintln!(
            "high watermark {hw}; offsets below {} are only in the bucket",
            actives[0]
        );
        let out = run_script_async(
            "txn_tiered.py",
            &["read", &b, TOPIC, &rounds, &records],
            Duration::from_secs(120),
        )
        .await?;
        check(&out, "cold read")?;

        broker.sigkill()?;
        broker.restart()?;
        let out = run_script_async(
            "txn_tiered.py",
            &["read", &b, TOPIC, &rounds, &records],
            Duration::from_secs(120),
        )
        .await?;
        check(&out, "cold read after a restart")?;
        Ok(())
    });
}
