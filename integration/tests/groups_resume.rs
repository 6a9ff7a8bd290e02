//! Committed offsets are where a group resumes: across a consumer restart, and across a broker
//! SIGKILL in the middle of consumption (commits are fsynced before they are acknowledged and
//! the coordinator reloads `__consumer_offsets` at start).

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
            partition: Some((i % 2) as i32),
            value: format!("v{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

#[test]
fn consumers_resume_exactly_after_committed_offsets_across_restarts() {
    run(Duration::from_secs(120), async {
        let mut broker = Broker::start(GROUP_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "resume", 2, &[]).await?;
        send_all(&producer(&b, &[])?, "resume", &records(100, 0)).await?;
        let c = GroupConsumer::start("c", &b, "g", "resume", 3000, None)?;
        wait_until("100 consumed", Duration::from_secs(40), || {
            c.records().len() >= 100
        })
        .await?;

        // The broker dies mid-consumption and comes back; the consumer keeps running.
        broker.sigkill()?;
        broker.restart()?;
        send_all(&producer(&b, &[])?, "resume", &records(50, 100)).await?;
        wait_until("150 consumed", Duration::from_secs(60), || {
            c.records().len() >= 150
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let first = c.records();
        let mut keys: Vec<(i32, i64)> = first.iter().map(|(p, o, _)| (*p, *o)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 150);
        assert_eq!(first.len(), 150, "nothing re-read after the broker restart");
        c.stop()?;

        // Closed and restarted: the next incarnation reads only what was produced since.
        send_all(&producer(&b, &[])?, "resume", &records(10, 150)).await?;
        let again = GroupConsumer::start("again", &b, "g", "resume", 3000, None)?;
        wait_until("10 new consumed", Duration::from_secs(40), || {
            again.records().len() >= 10
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let mut got: Vec<(i32, i64)> = again.records().iter().map(|(p, o, _)| (*p, *o)).collect();
        got.sort();
        let want: Vec<(i32, i64)> = (0..2).flat_map(|p| (75..80).map(move |o| (p, o))).collect();
        assert_eq!(got, want, "resumed exactly at the committed offsets");
        again.stop()?;
        let rows = describe_lag(&b, "g")?;
        assert_eq!(
            rows.iter()
                .map(|r| (r.1, r.2.as_str(), r.4.as_str()))
                .collect::<Vec<_>>(),
            vec![(0, "80", "0"), (1, "80", "0")]
        );
        Ok(())
    });
}
