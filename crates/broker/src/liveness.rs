//! Broker liveness, as KRaft does it: every broker sends a heartbeat to the quorum leader every
//! `broker.heartbeat.interval.ms`; the quorum leader (the controller) fences a broker whose
//! last heartbeat is older than `broker.session.timeout.ms` — its partitions get new leaders
//! from their ISRs — and unfences it when its heartbeats come back.
//!
//! Invariants:
//! - heartbeats live in the controller's memory only; a node that becomes controller gives
//!   every broker a full session from that moment before it fences anyone;
//! - fencing and unfencing are quorum operations (planned by `strata_meta::election`), so every
//!   broker learns the new leaders from the image, and a stale one is a no-op;
//! - with `auto.leader.rebalance.enable` (default true) the controller runs a preferred-leader
//!   election every `leader.imbalance.check.interval.seconds`, so leadership returns to the
//!   preferred replicas once they are back in sync;
//! - every tick the controller also completes any partition reassignment whose target replicas
//!   are all in the ISR (normally the AlterIsr that put the last one there has already done so;
//!   see `strata_meta::reassign`) — checked on its own image first, so an idle cluster sends
//!   nothing;
//! - a broker stops heartbeating as soon as its shutdown begins, so the controlled shutdown's
//!   fence is not undone by a late heartbeat.

use std::sync::Arc;
use std::time::Duration;

use strata_meta::Operation;

use crate::broker::Broker;

/// Sends this broker's heartbeats and, while this node leads the quorum, fences and unfences
/// brokers. Runs until shutdown.
pub(crate) async fn run(broker: Arc<Broker>) {
    let interval = Duration::from_millis(broker.config.broker_heartbeat_interval_ms.max(10));
    let session = Duration::from_millis(broker.config.broker_session_timeout_ms.max(100));
    let mut shutdown = broker.shutdown_signal();
    let mut tick = tokio::time::interval(interval.min(Duration::from_millis(250)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent = tokio::time::Instant::now() - interval;
    let mut was_leader = false;
    let rebalance_every = broker
        .config
        .auto_leader_rebalance
        .then(|| Duration::from_secs(broker.config.leader_imbalance_check_interval_s.max(1)));
    let mut last_rebalance = tokio::time::Instant::now();
    let quorum = broker.quorum().clone();
    let node = broker.config.node_id;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if last_sent.elapsed() >= interval {
            last_sent = tokio::time::Instant::now();
            if let Err(e) = quorum.send_heartbeat(node).await {
                tracing::debug!(error = %e, "heartbeat not delivered");
            }
        }
        let leader = quorum.leader() == u64::try_from(node).ok();
        let image = broker.meta();
        if leader && !was_leader {
            quorum.reset_heartbeats(image.brokers.keys().copied());
        }
        was_leader = leader;
        if !leader {
            continue;
        }
        // auto.leader.rebalance.enable: leadership goes back to preferred replicas that are
        // in sync again (after a restart), every leader.imbalance.check.interval.seconds.
        if rebalance_every.is_some_and(|every| last_rebalance.elapsed() >= every) {
            last_rebalance = tokio::time::Instant::now();
            if let Err(e) = quorum
                .execute(Operation::ElectPreferred { partitions: None })
                .await
            {
                tracing::debug!(error = %e, "preferred leader election not committed");
            }
        }
        if !strata_meta::reassign::complete_ready(&image).is_empty() {
            match quorum.execute(Operation::CompleteReassignments).await {
                Ok(_) => {
                    tracing::info!("completed partition reassignments whose replicas are in sync")
                }
                Err(e) => tracing::debug!(error = %e, "reassignment completion not committed"),
            }
        }
        for &b in image.brokers.keys() {
            let fresh = quorum.last_heartbeat(b).elapsed() <= session;
            let op = match (fresh, image.fenced.contains(&b)) {
                (false, false) => Operation::FenceBroker { node_id: b },
                (true, true) => Operation::UnfenceBroker { node_id: b },
                _ => continue,
            };
            let fencing = matches!(op, Operation::FenceBroker { .. });
            match quorum.execute(op).await {
                Ok(_) if fencing => {
                    tracing::warn!(
                        broker = b,
                        "fenced: no heartbeat within broker.session.timeout.ms"
                    );
                    metrics::counter!("strata_brokers_fenced_total").increment(1);
                }
                Ok(_) => tracing::info!(broker = b, "unfenced: heartbeats are back"),
                Err(e) => tracing::debug!(broker = b, error = %e, "fence change not committed"),
            }
        }
    }
}

/// Controlled shutdown: asks the quorum to fence this broker, so that its partitions get new
/// leaders before it stops serving (a one-voter cluster has nobody to hand them to).
pub(crate) async fn controlled_shutdown(broker: &Broker) {
    if broker.config.voters.as_ref().is_none_or(|v| v.len() < 2) {
        return;
    }
    let op = Operation::FenceBroker {
        node_id: broker.config.node_id,
    };
    match tokio::time::timeout(Duration::from_secs(5), broker.quorum().execute(op)).await {
        Ok(Ok(_)) => tracing::info!("controlled shutdown: leadership moved away"),
        Ok(Err(e)) => tracing::warn!(error = %e, "controlled shutdown: could not move leadership"),
        Err(_) => tracing::warn!("controlled shutdown: the quorum did not answer in 5 s"),
    }
}
