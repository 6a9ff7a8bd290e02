//! The log cleaner service: compacts the partitions of `cleanup.policy=compact` topics
//! (including `__consumer_offsets` and `__transaction_state`) off the request path.
//!
//! `log.cleaner.threads` workers (default 1) each loop: pick the partition with the highest
//! dirty ratio among those at or above their `min.cleanable.dirty.ratio` (or whose oldest dirty
//! record is older than `max.compaction.lag.ms`), that no other worker holds; clean it; when
//! nothing is cleanable, sleep `log.cleaner.backoff.ms` (15000). `log.cleaner.enable=false`
//! starts no worker.
//!
//! One clean holds the partition's lock twice, briefly: to snapshot the segments
//! ([`strata_log::PartitionLog::prepare_clean`]) and to swap the cleaned files in
//! ([`strata_log::PartitionLog::finish_clean`], which abandons the swap when retention or a
//! truncation changed the segments). The offset map and the rewrite run without the lock, on a
//! blocking thread, throttled to `log.cleaner.io.max.bytes.per.second` (read plus written
//! bytes). A leader epoch change in between (a follower became leader or the reverse) also
//! abandons the swap. Each worker's map gets `log.cleaner.dedupe.buffer.size / threads` bytes
//! (default 128 MiB in total).
//!
//! Compaction is safe for the coordinators' topics: their replay is last-value-wins, and
//! transaction markers stay until `delete.retention.ms` after their data is cleaned away, so a
//! replay still resolves every transactional offset commit it can see.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_log::{CleanOutcome, CleanerConfig};
use strata_replica::Partition;

use crate::broker::{now_ms, Broker};
use crate::config::BrokerConfig;
use crate::log_config::effective;

/// Broker-level cleaner settings (Kafka's names and defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanerSettings {
    /// `log.cleaner.enable` (true).
    pub(crate) enable: bool,
    /// `log.cleaner.threads` (1).
    pub(crate) threads: usize,
    /// `log.cleaner.io.max.bytes.per.second` (unlimited).
    pub(crate) io_max_bytes_per_second: f64,
    /// `log.cleaner.dedupe.buffer.size` (128 MiB), shared by the threads.
    pub(crate) dedupe_buffer_size: usize,
    /// `log.cleaner.backoff.ms` (15000).
    pub(crate) backoff_ms: u64,
}

fn raw<T: std::str::FromStr>(config: &BrokerConfig, name: &str, default: T) -> T {
    match config.raw.get(name).map(|v| v.trim().parse::<T>()) {
        Some(Ok(v)) => v,
        Some(Err(_)) => {
            tracing::warn!(setting = name, "invalid value, using the default");
            default
        }
        None => default,
    }
}

impl CleanerSettings {
    pub(crate) fn from_config(config: &BrokerConfig) -> CleanerSettings {
        CleanerSettings {
            enable: raw(config, "log.cleaner.enable", true),
            threads: raw(config, "log.cleaner.threads", 1usize).max(1),
            io_max_bytes_per_second: raw(config, "log.cleaner.io.max.bytes.per.second", f64::MAX),
            dedupe_buffer_size: raw(config, "log.cleaner.dedupe.buffer.size", 128usize << 20),
            backoff_ms: raw(config, "log.cleaner.backoff.ms", 15_000u64),
        }
    }
}

/// The topic's cleaner settings, or `None` when its `cleanup.policy` has no `compact`.
pub(crate) fn topic_cleaner_config(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    dedupe_bytes: usize,
) -> Option<CleanerConfig> {
    let policy = effective(config, overrides, "cleanup.policy");
    if !policy.split(',').any(|p| p.trim() == "compact") {
        return None;
    }
    let num = |name: &str, default: i64| -> i64 {
        effective(config, overrides, name)
            .trim()
            .parse()
            .unwrap_or(default)
    };
    let defaults = CleanerConfig::default();
    Some(CleanerConfig {
        min_cleanable_dirty_ratio: effective(config, overrides, "min.cleanable.dirty.ratio")
            .trim()
            .parse()
            .unwrap_or(defaults.min_cleanable_dirty_ratio),
        min_compaction_lag_ms: num("min.compaction.lag.ms", defaults.min_compaction_lag_ms),
        max_compaction_lag_ms: num("max.compaction.lag.ms", defaults.max_compaction_lag_ms),
        delete_retention_ms: num("delete.retention.ms", defaults.delete_retention_ms),
        dedupe_buffer_bytes: dedupe_bytes,
    })
}

/// The cleaner settings of `part`'s topic, if it is compacted.
pub(crate) fn partition_config(
    broker: &Broker,
    part: &Partition,
    dedupe: usize,
) -> Option<CleanerConfig> {
    let meta = broker.meta();
    let topic = meta.topic(&part.topic)?;
    topic_cleaner_config(&broker.config, &topic.configs, dedupe)
}

/// Starts the cleaner workers (none with `log.cleaner.enable=false`).
pub(crate) fn spawn(broker: &Arc<Broker>) -> Vec<tokio::task::JoinHandle<()>> {
    let settings = CleanerSettings::from_config(&broker.config);
    if !settings.enable {
        tracing::info!("log.cleaner.enable=false: compacted topics are not cleaned");
        return Vec::new();
    }
    let busy = Arc::new(Mutex::new(HashSet::new()));
    (0..settings.threads)
        .map(|worker| {
            let broker = Arc::clone(broker);
            let busy = Arc::clone(&busy);
            tokio::spawn(async move {
                loop {
                    let b = Arc::clone(&broker);
                    let held = Arc::clone(&busy);
                    let cleaned =
                        tokio::task::spawn_blocking(move || clean_one(&b, &held, settings))
                            .await
                            .unwrap_or(false);
                    if !cleaned {
                        tokio::time::sleep(Duration::from_millis(settings.backoff_ms.max(10)))
                            .await;
                    }
                    let _ = worker;
                }
            })
        })
        .collect()
}

type Busy = Mutex<HashSet<(String, i32)>>;

/// Picks the dirtiest cleanable partition and cleans it; false when there was none.
fn clean_one(broker: &Broker, busy: &Busy, settings: CleanerSettings) -> bool {
    let dedupe = settings.dedupe_buffer_size / settings.threads;
    let now = now_ms();
    let mut best: Option<(f64, Arc<Partition>, CleanerConfig)> = None;
    let mut max_ratio: f64 = 0.0;
    for part in broker.all_partitions() {
        if part.is_offline() {
            continue;
        }
        let Some(config) = partition_config(broker, &part, dedupe) else {
            continue;
        };
        let state = match part.log().cleanable_state(&config, now) {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "cleaner cannot read the partition's state");
                continue;
            }
        };
        max_ratio = max_ratio.max(state.dirty_ratio);
        let held = busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(part.topic.clone(), part.index));
        if held || !state.needs_cleaning(&config, now) {
            continue;
        }
        if best.as_ref().is_none_or(|(r, _, _)| state.dirty_ratio > *r) {
            best = Some((state.dirty_ratio, part, config));
        }
    }
    metrics::gauge!("strata_log_cleaner_dirty_ratio").set(max_ratio);
    let Some((_, part, config)) = best else {
        return false;
    };
    let key = (part.topic.clone(), part.index);
    if !busy
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.clone())
    {
        return false;
    }
    let result = clean_partition(&part, &config, settings.io_max_bytes_per_second, now);
    busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
    match result {
        Ok(outcome) => outcome.is_some(),
        Err(e) => {
            tracing::error!(topic = %part.topic, partition = part.index, error = %e, "log cleaning failed");
            false
        }
    }
}

/// Sleeps so that `bytes` so far since `start` stay under `rate` bytes per second.
struct Throttle {
    start: Instant,
    bytes: f64,
    rate: f64,
}

impl Throttle {
    fn charge(&mut self, bytes: u64) {
        self.bytes += bytes as f64;
        if !self.rate.is_finite() || self.rate >= f64::MAX / 2.0 || self.rate <= 0.0 {
            return;
        }
        let due = Duration::from_secs_f64(self.bytes / self.rate);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// One clean of `part` (phases in the module docs); `Some` when the swap happened.
pub(crate) fn clean_partition(
    part: &Partition,
    config: &CleanerConfig,
    io_rate: f64,
    now: i64,
) -> Result<Option<i64>, strata_log::LogError> {
    let started = Instant::now();
    let epoch = part.leader_epoch();
    let Some(job) = part.log().prepare_clean(config, now)? else {
        return Ok(None);
    };
    let mut throttle = Throttle {
        start: Instant::now(),
        bytes: 0.0,
        rate: io_rate,
    };
    let built = job.build(&mut |bytes| throttle.charge(bytes))?;
    metrics::gauge!("strata_log_cleaner_map_fill_ratio").set(built.map_fill_ratio);
    let (read, written) = (built.bytes_read, built.bytes_written);
    let outcome = {
        let mut log = part.log();
        if part.leader_epoch() != epoch {
            drop(log);
            tracing::info!(topic = %part.topic, partition = part.index, "leadership changed during cleaning: swap abandoned");
            built.abandon()?;
            CleanOutcome::Abandoned
        } else {
            log.finish_clean(built)?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("strata_log_cleaner_seconds").record(seconds);
    match outcome {
        CleanOutcome::Swapped(end) => {
            metrics::counter!("strata_log_cleaner_bytes_cleaned_total").increment(read);
            tracing::info!(topic = %part.topic, partition = part.index, read, written, end,
                seconds, "cleaned partition log");
            Ok(Some(end))
        }
        CleanOutcome::Abandoned => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_topics_get_a_cleaner_config() {
        let config = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        let mut o = BTreeMap::new();
        assert!(topic_cleaner_config(&config, &o, 1 << 20).is_none());
        o.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        o.insert("min.cleanable.dirty.ratio".to_string(), "0.01".to_string());
        o.insert("delete.retention.ms".to_string(), "100".to_string());
        let c = topic_cleaner_config(&config, &o, 1 << 20).unwrap();
        assert!((c.min_cleanable_dirty_ratio - 0.01).abs() < 1e-9);
        assert_eq!((c.delete_retention_ms, c.min_compaction_lag_ms), (100, 0));
        assert_eq!(c.max_compaction_lag_ms, i64::MAX);
        let s = CleanerSettings::from_config(&config);
        assert!(s.enable);
        assert_eq!(
            (s.threads, s.dedupe_buffer_size, s.backoff_ms),
            (1, 128 << 20, 15_000)
        );
    }
}
