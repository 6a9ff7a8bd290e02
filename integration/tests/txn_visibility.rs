//! Transactions, read side (issue 9), with confluent-kafka against one broker:
//! - a committed transaction is visible to read_committed only after its commit, an aborted
//!   one never; read_uncommitted sees the aborted records, and the control markers' offsets
//!   are gaps for both (`py/txn_commit_abort.py`);
//! - an open transaction hides every later record of its partition from read_committed, even
//!   another producer's non-transactional ones, but not from read_uncommitted; the
//!   read_committed consumer stalls at the last stable offset and, after the commit, gets
//!   everything in offset order (`py/txn_open_hides.py`).
//!
//! The scripts check every intermediate state themselves (exit 1 with `FAIL: ...`); the
//! tests assert the final reads exactly.

use std::time::Duration;

use anyhow::Result;
use strata_integration::txn::{run_script_async, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

fn rows(v: &[(i32, i64, &str)]) -> Vec<(i32, i64, String)> {
    v.iter().map(|(p, o, s)| (*p, *o, s.to_string())).collect()
}

/// (partition, offset, value) of `n` records `<tag><i>` (record i on partition i % 2) written
/// from `first` on in each partition.
fn two_partitions(tag: &str, n: i64, first: i64) -> Vec<(i32, i64, String)> {
    (0..n)
        .map(|i| ((i % 2) as i32, first + i / 2, format!("{tag}{i}")))
        .collect()
}

#[test]
fn commit_is_visible_only_after_commit_and_abort_never() {
    run(Duration::from_secs(180), async {
        let broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-ca", 2, &[]).await?;
        let out = run_script_async(
            "txn_commit_abort.py",
            &[&b, "txn-ca"],
            Duration::from_secs(150),
        )
        .await?;

        let mut rc = out.records("rc");
        rc.sort();
        let mut want_rc = two_partitions("a", 6, 0);
        want_rc.extend(two_partitions("c", 2, 8));
        want_rc.sort();
        assert_eq!(rc, want_rc, "read_committed: A (0..2) and C (8), never B");

        let mut ru = out.records("ru");
        ru.sort();
        let mut want_ru = want_rc.clone();
        want_ru.extend(two_partitions("b", 6, 4));
        want_ru.sort();
        assert_eq!(
            ru, want_ru,
            "read_uncommitted: A, aborted B and C; offsets 3, 7, 9 (markers) are gaps"
        );
        for p in 0..2 {
            let offsets: Vec<i64> = ru.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
            assert_eq!(offsets, vec![0, 1, 2, 4, 5, 6, 8], "partition {p} offsets");
        }
        Ok(())
    });
}

#[test]
fn open_transaction_hides_later_records_from_read_committed() {
    run(Duration::from_secs(180), async {
        let broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-open", 1, &[]).await?;
        let out = run_script_async(
            "txn_open_hides.py",
            &[&b, "txn-open"],
            Duration::from_secs(150),
        )
        .await?;

        assert_eq!(
            out.need("rc_position_open")?,
            "2",
            "read_committed position stalls at the LSO"
        );
        assert_eq!(out.need("lso_open")?, "2", "last stable offset while open");
        assert_eq!(out.need("hw_open")?, "8", "high watermark while open");
        let all = rows(&[
            (0, 0, "p0"),
            (0, 1, "p1"),
            (0, 2, "x0"),
            (0, 3, "x1"),
            (0, 4, "x2"),
            (0, 5, "n0"),
            (0, 6, "n1"),
            (0, 7, "n2"),
        ]);
        assert_eq!(
            out.records("live"),
            all[2..].to_vec(),
            "the live read_committed consumer after the commit, in offset order"
        );
        assert_eq!(out.records("rc"), all, "read_committed after the commit");
        assert_eq!(out.records("ru"), all, "read_uncommitted after the commit");
        assert_eq!(out.need("lso_end")?, "9");
        assert_eq!(out.need("hw_end")?, "9");
        Ok(())
    });
}

/// The Python side must be importable; otherwise every other test here fails with a less
/// obvious message.
#[test]
fn confluent_kafka_is_installed() -> Result<()> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import confluent_kafka; print(confluent_kafka.version()[0])",
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "confluent-kafka is not importable (run integration/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
