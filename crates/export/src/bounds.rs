//! Where an export starts and ends in each partition.
//!
//! Ranges are half-open, `[start, end)`, in offsets:
//! - start: `--from-offset N` (raised to the partition's log start if below it), `--from-time T`
//!   (the first offset whose timestamp is at least T, by ListOffsets), or the log start;
//! - end: `--to-offset N` (exclusive: the export stops before N), `--to-time T` (exclusive: the
//!   first offset whose timestamp is at least T), or the high watermark at the start of the
//!   run; never past that high watermark. Reading at read_committed, an export also stops at
//!   the last stable offset when a transaction is still open there.
//!
//! Invariant: `start <= end` for every range returned (an empty range exports nothing).

use std::collections::BTreeSet;
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context};
use strata_admin::cluster_client::ClusterClient;

/// ListOffsets timestamp of the log start.
const EARLIEST: i64 = -2;
/// ListOffsets timestamp of the high watermark.
const LATEST: i64 = -1;

/// Where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The partition's log start (hot or tiered).
    Earliest,
    /// An offset.
    Offset(i64),
    /// The first offset with a timestamp at or after this time (ms since the epoch).
    Time(i64),
}

/// Where to stop (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The high watermark when the export starts.
    Latest,
    /// Before this offset.
    Offset(i64),
    /// Before the first offset with a timestamp at or after this time (ms since the epoch).
    Time(i64),
}

/// One partition's range, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition.
    pub partition: i32,
    /// First offset to export.
    pub start: i64,
    /// Offset to stop before.
    pub end: i64,
}

/// Parses a time: milliseconds since the epoch, or RFC 3339 (`2026-12-01T00:00:00Z`).
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(s)
        .with_context(|| format!("{s:?} is neither milliseconds nor an RFC 3339 time"))?;
    let ms = t
        .duration_since(UNIX_EPOCH)
        .with_context(|| format!("{s:?} is before 1970"))?
        .as_millis();
    i64::try_from(ms).with_context(|| format!("{s:?} is out of range"))
}

/// The ranges of `topic`'s partitions (only `partition` when given), sorted by partition.
pub async fn resolve(
    client: &mut ClusterClient,
    topic: &str,
    partition: Option<i32>,
    start: Start,
    end: End,
) -> anyhow::Result<Vec<PartitionRange>> {
    let md = client.metadata(Some(&[topic])).await?;
    let Some(t) = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some(topic))
    else {
        bail!("topic {topic} is not in the cluster metadata");
    };
    if t.error_code != 0 {
        bail!(
            "topic {topic}: {}",
            strata_admin::cluster_client::error_name(t.error_code)
        );
    }
    let all: BTreeSet<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    let wanted: BTreeSet<i32> = match partition {
        Some(p) if all.contains(&p) => [p].into(),
        Some(p) => bail!("topic {topic} has no partition {p} (it has {})", all.len()),
        None => all,
    };
    let tps: BTreeSet<(String, i32)> = wanted.iter().map(|&p| (topic.to_string(), p)).collect();
    let from_ts = match start {
        Start::Time(t) => t,
        _ => EARLIEST,
    };
    let to_ts = match end {
        End::Time(t) => t,
        _ => LATEST,
    };
    let [earliest, latest, from, to] = client
        .list_offsets(&tps, [EARLIEST, LATEST, from_ts, to_ts])
        .await?;
    let mut ranges = Vec::new();
    for tp in &tps {
        let (Some(&log_start), Some(&hw)) = (earliest.get(tp), latest.get(tp)) else {
            bail!(
                "partition {} of {topic}: its leader did not answer ListOffsets",
                tp.1
            );
        };
        // ListOffsets by time answers -1 when no record is that late.
        let at = |m: &std::collections::BTreeMap<(String, i32), i64>| match m.get(tp) {
            Some(&o) if o >= 0 => o,
            _ => hw,
        };
        let s = match start {
            Start::Earliest => log_start,
            Start::Offset(n) => n.max(log_start),
            Start::Time(_) => at(&from),
        }
        .min(hw);
        let e = match end {
            End::Latest => hw,
            End::Offset(n) => n.min(hw),
            End::Time(_) => at(&to),
        }
        .max(s);
        ranges.push(PartitionRange {
            partition: tp.1,
            start: s,
            end: e,
        });
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_in_ms_and_rfc3339() {
        assert_eq!(parse_time("1700000000123").unwrap(), 1_700_000_000_123);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5Z").unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("yesterday").is_err());
    }
}
