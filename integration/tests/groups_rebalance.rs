//! Membership changes under load: a third consumer joins, one leaves cleanly, one is SIGKILLed
//! (its partitions move only after its session timeout). Nothing is lost; the only duplicates
//! allowed are records the killed consumer printed but had not committed (Kafka's
//! at-least-once window: at most one per partition it owned).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strata_integration::groups::{describe_lag, wait_until, GroupConsumer};
use strata_integration::{create_topic, producer, run, send_all, Broker, Outgoing};

const GROUP_ARGS: &[&str] = &[
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "group.min.session.timeout.ms=1000",
];
const SESSION_MS: u32 = 3000;

fn records(n: usize, from: usize) -> Vec<Outgoing> {
    (from..from + n)
        .map(|i| Outgoing {
            partition: Some((i % 4) as i32),
            value: format!("v{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

fn total(cs: &[&GroupConsumer]) -> usize {
    cs.iter().map(|c| c.records().len()).sum()
}

#[test]
fn join_leave_and_kill_lose_nothing() {
    run(Duration::from_secs(150), async {
        let broker = Broker::start(GROUP_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "rb", 4, &[]).await?;
        let p = producer(&b, &[])?;
        let c1 = GroupConsumer::start("c1", &b, "g", "rb", SESSION_MS, None)?;
        let mut c2 = GroupConsumer::start("c2", &b, "g", "rb", SESSION_MS, None)?;
        wait_until("two members with two partitions each", Duration::from_secs(40), || {
            matches!((c1.assigned(), c2.assigned()), (Some(a), Some(b)) if a.len() == 2 && b.len() == 2)
        })
        .await?;
        send_all(&p, "rb", &records(200, 0)).await?;
        wait_until("200 consumed", Duration::from_secs(40), || {
            total(&[&c1, &c2]) >= 200
        })
        .await?;

        // A third member joins: everyone rebalances to 2/1/1.
        let c3 = GroupConsumer::start("c3", &b, "g", "rb", SESSION_MS, None)?;
        wait_until(
            "three members share the partitions",
            Duration::from_secs(40),
            || {
                let sizes: Vec<usize> = [&c1, &c2, &c3]
                    .iter()
                    .filter_map(|c| c.assigned())
                    .map(|a| a.len())
                    .collect();
                sizes.len() == 3
                    && sizes.iter().all(|n| *n >= 1)
                    && sizes.iter().sum::<usize>() == 4
            },
        )
        .await?;
        send_all(&p, "rb", &records(200, 200)).await?;
        wait_until("400 consumed", Duration::from_secs(40), || {
            total(&[&c1, &c2, &c3]) >= 400
        })
        .await?;

        // c1 leaves cleanly: c2 and c3 take over at once (LeaveGroup, no session wait).
        let c1_records = c1.records();
        c1.stop()?;
        wait_until(
            "two members own all partitions",
            Duration::from_secs(40),
            || {
                let a: usize = [&c2, &c3]
                    .iter()
                    .filter_map(|c| c.assigned())
                    .map(|a| a.len())
                    .sum();
                a == 4
            },
        )
        .await?;
        send_all(&p, "rb", &records(200, 400)).await?;
        wait_until("600 consumed", Duration::from_secs(40), || {
            c1_records.len() + total(&[&c2, &c3]) >= 600
        })
        .await?;

        // c2 is killed: c3 gets everything after the session timeout.
        let c2_owned = c2.assigned().unwrap_or_default();
        c2.kill()?;
        let killed_at = Instant::now();
        wait_until(
            "c3 owns all four partitions",
            Duration::from_secs(40),
            || c3.assigned().map(|a| a.len()) == Some(4),
        )
        .await?;
        let waited = killed_at.elapsed();
        assert!(
            waited >= Duration::from_millis(u64::from(SESSION_MS) - 500),
            "moved after {waited:?}: before the session timeout?"
        );
        send_all(&p, "rb", &records(200, 600)).await?;
        let c2_records = c2.records();
        wait_until(
            "800 distinct records consumed",
            Duration::from_secs(40),
            || {
                let mut all: Vec<(i32, i64)> = c1_records
                    .iter()
                    .chain(&c2_records)
                    .chain(&c3.records())
                    .map(|(p, o, _)| (*p, *o))
                    .collect();
                all.sort();
                all.dedup();
                all.len() >= 800
            },
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let mut counts: BTreeMap<(i32, i64), usize> = BTreeMap::new();
        for (p, o, _) in c1_records.iter().chain(&c2_records).chain(&c3.records()) {
            *counts.entry((*p, *o)).or_default() += 1;
        }
        let expected: Vec<(i32, i64)> =
            (0..4).flat_map(|p| (0..200).map(move |o| (p, o))).collect();
        assert_eq!(
            counts.keys().copied().collect::<Vec<_>>(),
            expected,
            "nothing lost"
        );
        let dups: Vec<(i32, i64)> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| *k)
            .collect();
        assert!(
            dups.len() <= c2_owned.len(),
            "duplicates {dups:?} exceed the killed member's window"
        );
        for (p, o) in &dups {
            assert!(
                c2_owned.contains(p),
                "duplicate {p}/{o} not from the killed member's partitions"
            );
            let last_of_c2 = c2_records.iter().filter(|r| r.0 == *p).map(|r| r.1).max();
            assert_eq!(
                last_of_c2,
                Some(*o),
                "a duplicate is the killed member's last uncommitted record"
            );
        }
        assert!(counts.values().all(|n| *n <= 2));
        c3.stop()?;
        let rows = describe_lag(&b, "g")?;
        let lags: Vec<(i32, String, String)> = rows
            .iter()
            .map(|r| (r.1, r.2.clone(), r.4.clone()))
            .collect();
        assert_eq!(
            lags,
            (0..4)
                .map(|p| (p, "200".to_string(), "0".to_string()))
                .collect::<Vec<_>>()
        );
        Ok(())
    });
}
