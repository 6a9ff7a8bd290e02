//! WatchTopic: a server stream of a topic's partition states, sent when they change.
//!
//! One task per stream polls every interval with its own [`ClusterClient`] (so a watch never
//! waits behind another call) and a [`ManifestCache`] it keeps, so each poll fetches only new
//! manifests.
//!
//! Invariants:
//! - The first message is the state at the first poll; after it, a message is sent only when
//!   some partition's state (leader, replicas, ISR, offsets, remote ranges or size) differs
//!   from the last message sent. Offsets only grow in Kafka, so a client sees each partition's
//!   high watermark rise across messages.
//! - An error at the first poll ends the stream with that error's status. After it, a topic
//!   that Metadata no longer knows ends the stream with NOT_FOUND
//!   (UNKNOWN_TOPIC_OR_PARTITION); any other error is logged and the next poll reconnects.
//! - The task ends within one interval of the client going away (the channel closing), and
//!   at once, with UNAVAILABLE, when the server shuts down.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use tracing::Instrument;

use crate::cluster_client::ClusterClient;
use crate::error::to_status;
use crate::proto;
use crate::remote::ManifestCache;
use crate::service::Shared;
use crate::topics;

/// Poll interval when the request gives none.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
/// Shortest poll interval a request may ask for.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// The stream a WatchTopic call answers.
pub(crate) type WatchStream = ReceiverStream<Result<proto::TopicState, Status>>;

/// The poll interval for a request's `interval_ms`.
pub(crate) fn interval(ms: u32) -> Duration {
    if ms == 0 {
        DEFAULT_INTERVAL
    } else {
        Duration::from_millis(u64::from(ms)).max(MIN_INTERVAL)
    }
}

/// Starts watching `name`; the task runs in `span`.
pub(crate) fn start(
    shared: Arc<Shared>,
    name: String,
    every: Duration,
    span: tracing::Span,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(run(shared, name, every, tx).instrument(span));
    ReceiverStream::new(rx)
}

async fn poll(
    shared: &Shared,
    client: &mut Option<ClusterClient>,
    cache: &mut ManifestCache,
    name: &str,
) -> anyhow::Result<Vec<proto::PartitionState>> {
    let c = match client {
        Some(c) => c,
        None => client
            .insert(ClusterClient::connect_with(&shared.bootstrap, shared.security.clone()).await?),
    };
    let topic = topics::topic_metadata(c, name).await?;
    topics::partition_states(c, &topic, shared.store.as_deref(), cache).await
}

async fn run(
    shared: Arc<Shared>,
    name: String,
    every: Duration,
    tx: mpsc::Sender<Result<proto::TopicState, Status>>,
) {
    let mut client = None;
    let mut cache = ManifestCache::new();
    let mut last: Option<Vec<proto::PartitionState>> = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0u64;
    let mut stopping = shared.stopping.clone();
    loop {
        let stop = tokio::select! {
            _ = ticks.tick() => false,
            _ = tx.closed() => break,
            _ = stopping.wait_for(|s| *s) => true,
        };
        if stop {
            let _ = tx
                .send(Err(Status::unavailable("the server is shutting down")))
                .await;
            break;
        }
        match poll(&shared, &mut client, &mut cache, &name).await {
            Ok(partitions) => {
                if last.as_ref() == Some(&partitions) {
                    continue;
                }
                last = Some(partitions.clone());
                let observed_at_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let state = proto::TopicState {
                    name: name.clone(),
                    partitions,
                    observed_at_ms,
                };
                if tx.send(Ok(state)).await.is_err() {
                    break;
                }
                sent += 1;
            }
            Err(e) => {
                let status = to_status(&e);
                if last.is_none() || status.code() == Code::NotFound {
                    let _ = tx.send(Err(status)).await;
                    break;
                }
                tracing::warn!("watch poll failed; retrying: {e:#}");
                client = None;
            }
        }
    }
    tracing::info!(sent, "watch ended");
}
