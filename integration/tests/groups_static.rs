//! Static membership (`group.instance.id`): a member that restarts within its session timeout
//! gets its partitions back without a rebalance — the other member sees no revocation.

use std::time::Duration;

use strata_integration::groups::{wait_until, GroupConsumer};
use strata_integration::{create_topic, producer, run, send_all, Broker, Outgoing};

const GROUP_ARGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0"];

#[test]
fn static_member_restart_causes_no_rebalance() {
    run(Duration::from_secs(120), async {
        let broker = Broker::start(GROUP_ARGS)?;
        let b = broker.bootstrap();
        create_topic(&b, "st", 4, &[]).await?;
        let a = GroupConsumer::start("a", &b, "g", "st", 20000, Some("inst-a"))?;
        let other = GroupConsumer::start("b", &b, "g", "st", 20000, Some("inst-b"))?;
        wait_until("two static members with two partitions each", Duration::from_secs(40), || {
            matches!((a.assigned(), other.assigned()), (Some(x), Some(y)) if x.len() == 2 && y.len() == 2)
        })
        .await?;
        let a_parts = a.assigned().unwrap_or_default();
        let b_lines_before = other.lines().len();
        let b_assignments = other.assignments();
        // A static member closing sends no LeaveGroup; it comes back with the same instance id.
        a.stop()?;
        let a2 = GroupConsumer::start("a2", &b, "g", "st", 20000, Some("inst-a"))?;
        wait_until(
            "the restarted member is assigned",
            Duration::from_secs(40),
            || a2.assigned().is_some(),
        )
        .await?;
        assert_eq!(
            a2.assigned().unwrap_or_default(),
            a_parts,
            "same partitions back"
        );
        let p = producer(&b, &[])?;
        let out: Vec<Outgoing> = (0..40)
            .map(|i| Outgoing {
                partition: Some(i % 4),
                value: format!("v{i}").into_bytes(),
                ..Outgoing::default()
            })
            .collect();
        send_all(&p, "st", &out).await?;
        wait_until("40 consumed", Duration::from_secs(40), || {
            a2.records().len() + other.records().len() >= 40
        })
        .await?;
        assert!(a2.records().iter().all(|r| a_parts.contains(&r.0)));
        assert_eq!(
            other.assignments(),
            b_assignments,
            "the other member was not rebalanced"
        );
        let b_new: Vec<String> = other.lines()[b_lines_before..].to_vec();
        assert!(
            !b_new.iter().any(|l| l == "REVOKED"),
            "no revocation: {b_new:?}"
        );
        let desc =
            strata_integration::strata_cli(&["group", "describe", "g", "--bootstrap-server", &b])?;
        desc.ensure_success("describe")?;
        assert_eq!(
            desc.stdout_str().matches("inst-a-").count(),
            2,
            "{}",
            desc.stdout_str()
        );
        a2.stop()?;
        other.stop()?;
        Ok(())
    });
}
