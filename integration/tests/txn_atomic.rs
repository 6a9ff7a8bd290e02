//! A broker SIGKILL between EndTxn and the control markers (issue 9), with confluent-kafka
//! against one broker (`py/txn_atomic.py`). Each round: a transaction over 8 partitions
//! (50 records each) is produced and acknowledged; the script starts commit_transaction in a
//! thread and says so; the test SIGKILLs the broker right away or up to 3 ms later
//! (different per round, so the kill lands before, during and after the commit's EndTxn and
//! marker writes) and starts it again. The transaction must then be fully visible to
//! read_committed (all 8 partitions) or not at all — never in part — and fully visible if its
//! commit was acknowledged.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::ensure;
use strata_integration::txn::{kv, PyProcess, TXN_BROKER_ARGS};
use strata_integration::{create_topic, run, Broker};

const PARTITIONS: usize = 8;
const PER_PARTITION: usize = 50;
/// Microseconds between the script's `STEP committing k` and the SIGKILL, per round. A
/// commit over 8 partitions takes 1-4 ms on a debug build here, so the kills spread over
/// that window (and one after it).
const DELAYS_US: [u64; 8] = [0, 250, 500, 750, 1000, 1250, 1500, 3000];

#[test]
fn kill_during_commit_is_all_or_nothing_across_partitions() {
    run(Duration::from_secs(270), async {
        let rounds = DELAYS_US.len();
        let total = PARTITIONS * PER_PARTITION;
        let mut broker = Broker::start(TXN_BROKER_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "txn-atomic", PARTITIONS as i32, &[]).await?;
        let mut py = PyProcess::spawn(
            "txn_atomic.py",
            &[
                &b,
                "txn-atomic",
                &PARTITIONS.to_string(),
                &PER_PARTITION.to_string(),
                &rounds.to_string(),
            ],
        )?;
        let mut from = 0;
        for (idx, delay) in DELAYS_US.iter().enumerate() {
            let k = idx + 1;
            let ready = format!("STEP ready {k}");
            from = py
                .wait_line(from, Duration::from_secs(60), |l| l == ready)
                .await?
                .0
                + 1;
            py.send("GO")?;
            // Blocking wait: the kill follows the script's line within microseconds.
            let committing = format!("STEP committing {k}");
            from = py
                .wait_line_blocking(from, Duration::from_secs(30), |l| l == committing)?
                .0
                + 1;
            if *delay > 0 {
                std::thread::sleep(Duration::from_micros(*delay));
            }
            broker.sigkill()?;
            broker.restart()?;
            let want = format!("KV visible_{k} ");
            from = py
                .wait_line(from, Duration::from_secs(90), |l| l.starts_with(&want))
                .await?
                .0
                + 1;
        }
        let out = py.finish(Duration::from_secs(60)).await?;

        let rc = out.records("rc");
        let mut per_round: BTreeMap<usize, Vec<(i32, String)>> = BTreeMap::new();
        for (p, _o, v) in &rc {
            let k: usize = v.split('-').next().unwrap_or("x").parse()?;
            per_round.entry(k).or_default().push((*p, v.clone()));
        }
        let mut summary = Vec::new();
        for k in 1..=rounds {
            let outcome = kv(&out.lines, &format!("outcome_{k}")).unwrap_or_default();
            let visible: usize = kv(&out.lines, &format!("visible_{k}"))
                .unwrap_or_default()
                .parse()?;
            let mut got = per_round.remove(&k).unwrap_or_default();
            got.sort();
            ensure!(
                got.len() == visible,
                "round {k}: the script saw {visible} visible records, the final read {}",
                got.len()
            );
            ensure!(
                visible == 0 || visible == total,
                "round {k} ({outcome}): {visible} of {total} records visible: partial transaction"
            );
            if outcome == "committed" {
                ensure!(
                    visible == total,
                    "round {k}: acknowledged commit, {visible} visible"
                );
            }
            if outcome == "aborted" {
                ensure!(visible == 0, "round {k}: aborted, {visible} visible");
            }
            if visible == total {
                let mut want: Vec<(i32, String)> = (0..PARTITIONS)
                    .flat_map(|p| {
                        (0..PER_PARTITION).map(move |i| (p as i32, format!("{k}-{p}-{i}")))
                    })
                    .collect();
                want.sort();
                ensure!(
                    got == want,
                    "round {k}: the visible records differ from those produced"
                );
            }
            let ms = kv(&out.lines, &format!("commit_ms_{k}")).unwrap_or_default();
            summary.push(format!(
                "round {k} (kill +{} us): {outcome} in {ms} ms, {visible} visible",
                DELAYS_US[k - 1]
            ));
        }
        ensure!(
            per_round.is_empty(),
            "records of unknown rounds: {per_round:?}"
        );
        eprintln!("{}", summary.join("\n"));
        Ok(())
    });
}
