//! Two librdkafka consumers in one group split a 4-partition topic: each record is consumed
//! exactly once, by the member that owns its partition; a second group reads everything
//! independently; both groups' committed offsets end at the log end (lag 0).

use std::collections::BTreeSet;
use std::time::Duration;

use strata_integration::groups::{describe_lag, wait_until, GroupConsumer};
use strata_integration::{create_topic, producer, run, send_all, Broker, Outgoing};

const GROUP_ARGS: &[&str] = &[
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "group.min.session.timeout.ms=1000",
];

fn records(n: usize, from: usize) -> Vec<Outgoing> {
    (from..from + n)
        .map(|i| Outgoing {
            partition: Some((i % 4) as i32),
            value: format!("v{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

#[test]
fn two_consumers_split_partitions_and_a_second_group_reads_independently() {
    run(Duration::from_secs(120), async {
        let broker = Broker::start(GROUP_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "split", 4, &[]).await?;
        let c1 = GroupConsumer::start("c1", &b, "g", "split", 6000, None)?;
        let c2 = GroupConsumer::start("c2", &b, "g", "split", 6000, None)?;
        wait_until("both members assigned two partitions each", Duration::from_secs(40), || {
            matches!((c1.assigned(), c2.assigned()), (Some(a), Some(b)) if a.len() == 2 && b.len() == 2)
        })
        .await?;
        let (a1, a2) = (
            c1.assigned().unwrap_or_default(),
            c2.assigned().unwrap_or_default(),
        );
        let union: BTreeSet<i32> = a1.iter().chain(&a2).copied().collect();
        assert_eq!(
            union,
            (0..4).collect(),
            "assignments {a1:?} {a2:?} cover every partition once"
        );

        let p = producer(&b, &[])?;
        send_all(&p, "split", &records(400, 0)).await?;
        wait_until("400 records consumed", Duration::from_secs(40), || {
            c1.records().len() + c2.records().len() >= 400
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (r1, r2) = (c1.records(), c2.records());
        assert_eq!(r1.len() + r2.len(), 400, "no record twice");
        for (r, owned) in [(&r1, &a1), (&r2, &a2)] {
            assert!(
                r.iter().all(|(p, _, _)| owned.contains(p)),
                "records only from owned partitions"
            );
        }
        let seen: BTreeSet<(i32, i64)> = r1.iter().chain(&r2).map(|(p, o, _)| (*p, *o)).collect();
        let expected: BTreeSet<(i32, i64)> =
            (0..4).flat_map(|p| (0..100).map(move |o| (p, o))).collect();
        assert_eq!(seen, expected);
        for (p, o, v) in r1.iter().chain(&r2) {
            assert_eq!(v, &format!("v{}", o * 4 + i64::from(*p)));
        }

        // A second group reads the same data independently, from the beginning.
        let other = GroupConsumer::start("other", &b, "other", "split", 6000, None)?;
        wait_until(
            "the second group reads 400",
            Duration::from_secs(40),
            || other.records().len() >= 400,
        )
        .await?;
        let seen_other: BTreeSet<(i32, i64)> =
            other.records().iter().map(|(p, o, _)| (*p, *o)).collect();
        assert_eq!(seen_other, expected);
        other.stop()?;
        c1.stop()?;
        c2.stop()?;

        for group in ["g", "other"] {
            let rows = describe_lag(&b, group)?;
            let got: Vec<(i32, String, String, String)> = rows
                .iter()
                .map(|r| (r.1, r.2.clone(), r.3.clone(), r.4.clone()))
                .collect();
            let want: Vec<(i32, String, String, String)> = (0..4)
                .map(|p| (p, "100".into(), "100".into(), "0".into()))
                .collect();
            assert_eq!(got, want, "group {group}");
        }
        Ok(())
    });
}
