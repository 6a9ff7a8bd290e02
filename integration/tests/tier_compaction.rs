//! Remote compaction of a tiered compacted topic, against a real S3 server (moto, over HTTP),
//! driven by librdkafka with exact offsets, keys, values, headers and timestamps.
//!
//! A 2-partition topic with `remote.storage.enable=true`, `cleanup.policy=compact`,
//! `min.cleanable.dirty.ratio=0.01` and `local.retention.ms=100`; small segments come from
//! `segment.ms=250` (the smallest `segment.bytes` is 1 MiB, KIP-1030). The broker runs the
//! tiering loop every 200 ms, remote compaction at most every second
//! (`strata.tier.compaction.interval.ms=1000`) and sweeps superseded uploads after
//! `strata.tier.compaction.grace.ms=5000`. The topic starts with `min.compaction.lag.ms` at
//! one hour, so nothing is compacted (locally or remotely) while the history is produced: 50
//! keys × 40 updates of ~200-byte values (acks=all), two rounds at a time with a pause so that
//! they roll into ~20 segments per partition, and tombstones for 5 keys after round 30 (those
//! keys get no later update). Once all of it is sealed and uploaded, `segment.ms` goes to an
//! hour and a tail of 10 more updates (two of them resurrecting deleted keys) stays in the
//! active segments, at `B`.
//!
//! 1. Once every sealed segment is uploaded and deleted locally, the bucket is listed (the
//!    "before" state: every manifest uncompacted, contiguous from 0 to `B`, no orphan), and a
//!    consumer from offset 0 reads the whole history exactly (cold, then hot).
//! 2. `min.compaction.lag.ms` is set to 0 (IncrementalAlterConfigs through `strata topic
//!    alter`), more than the grace period after the last upload, as in production where the
//!    segments a compaction supersedes were uploaded long before. The bucket is polled (every
//!    100 ms, with the in-process S3 client) until it settles: `strata_tier_compactions_total`
//!    = 2 (one run per partition), every manifest compacted, every object belongs to a
//!    complete upload with a manifest, each partition's manifests contiguous over exactly
//!    `[0, B)` (so none nests in another).
//! 3. Then:
//!    - the live `.log` bytes are less than a quarter of those before;
//!    - `strata tier status` shows the remote range `[0, B)`, log start 0, local start B and
//!      log end = records acknowledged; ListOffsets says (0, records acknowledged);
//!    - a consumer from offset 0 reads exactly: below B, the latest record of each key among
//!      offsets below B (tombstones included, `delete.retention.ms` is a day), at the offset it
//!      was acknowledged at, with its headers and timestamp; from B on, every record;
//!    - no second run happens (nothing is dirty), and no run failed;
//!    - the superseded uploads stayed in the bucket for the grace period after the switch
//!      (module docs of `remote_compaction.rs`, step 5: "so cold reads in flight finish"). The
//!      compaction's new objects are written before its catalog switch, so the last poll that
//!      saw none bounds the switch from below; 1 s of slack for S3's whole-second LastModified.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;
use strata_integration::client::OP_TIMEOUT;
use strata_integration::keyed::{
    alter_topic, compacted, compare, logs_from_acks, send_keyed, Keyed,
};
use strata_integration::prom::metric;
use strata_integration::tier::{
    local_segments, now_ms, s3_env, tier_status, wait_all_uploaded, wait_for, Moto,
};
use strata_integration::{consumer, create_topic, producer, read_topic, run, Broker};
use strata_tier::manifest::SegmentManifest;
use strata_tier::store::{ListedObject, RemoteStore, StoreOptions};

const TOPIC: &str = "compacted";
const PARTITIONS: i32 = 2;
const KEYS: usize = 50;
const ROUNDS: usize = 40;
/// Keys that get a tombstone after round [`TOMBSTONE_AFTER`] (both partitions).
const TOMBSTONED: [usize; 5] = [6, 7, 26, 37, 48];
const TOMBSTONE_AFTER: usize = 30;
const VALUE_LEN: usize = 200;
/// `segment.ms` of the topic (its smallest `segment.bytes` is 1 MiB).
const SEGMENT_MS: u64 = 250;
/// Keys `0..TAIL_KEYS` get one more update in the local tail (resurrecting keys 6 and 7).
const TAIL_KEYS: usize = 10;
const BUCKET: &str = "strata-compaction";
const GRACE_MS: u64 = 5000;

#[test]
fn remote_compaction_keeps_latest_values_and_shrinks_the_bucket() {
    // The in-process S3 client below reads its credentials from the environment; set before
    // the runtime starts any thread (one test in this binary).
    for (k, v) in [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/nonexistent/strata-it-aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/strata-it-aws-credentials",
        ),
    ] {
        std::env::set_var(k, v);
    }
    run(Duration::from_secs(150), scenario());
}

async fn scenario() -> Result<()> {
    let moto = Moto::start().await?;
    moto.create_bucket(BUCKET).await?;
    let url = format!("s3://{BUCKET}/archive");
    let env = s3_env(&moto.endpoint());
    let store = RemoteStore::from_url(
        &url,
        StoreOptions {
            endpoint: Some(moto.endpoint()),
            region: Some("us-east-1".into()),
            allow_http: true,
            ..StoreOptions::default()
        },
    )
    .await
    .context("opening the bucket from the test")?;
    let metrics_port = strata_integration::broker::free_port()?;
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let grace = format!("strata.tier.compaction.grace.ms={GRACE_MS}");
    let broker = Broker::start_with_env(
        &[
            "--object-store",
            &url,
            "--metrics-listen",
            &metrics_listen,
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
            "--set",
            "strata.tier.compaction.interval.ms=1000",
            "--set",
            &grace,
        ],
        &env,
    )?;
    let bootstrap = broker.bootstrap();
    let segment_ms = SEGMENT_MS.to_string();
    create_topic(
        &bootstrap,
        TOPIC,
        PARTITIONS,
        &[
            ("remote.storage.enable", "true"),
            ("cleanup.policy", "compact"),
            ("segment.ms", segment_ms.as_str()),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "3600000"),
            ("local.retention.ms", "100"),
            ("retention.ms", "-1"),
        ],
    )
    .await?;

    // The history, two rounds at a time, each pair rolled into segments of its own
    // (`segment.ms`; a segment's age counts from its first append).
    let mut sent = Vec::new();
    let mut acked = Vec::new();
    let producer = producer(&bootstrap, &[])?;
    for pair in 0..ROUNDS / 2 {
        let mut chunk = Vec::new();
        let ts = now_ms();
        for round in [2 * pair, 2 * pair + 1] {
            for k in 0..KEYS {
                let tombstoned = TOMBSTONED.contains(&k);
                if tombstoned && round > TOMBSTONE_AFTER {
                    continue;
                }
                let n = chunk.len() as i64;
                chunk.push(keyed(k, Some(round), ts + n));
                if tombstoned && round == TOMBSTONE_AFTER {
                    let n = chunk.len() as i64;
                    chunk.push(keyed(k, None, ts + n));
                }
            }
        }
        acked.extend(send_keyed(&producer, TOPIC, &chunk).await?);
        sent.extend(chunk);
        tokio::time::sleep(Duration::from_millis(SEGMENT_MS + 150)).await;
    }
    // Every record so far is sealed (the active segments are empty, at the log end) and
    // uploaded; segments stop rolling by time, so the tail stays in the active segment.
    let sealed: Vec<i64> = (0..PARTITIONS)
        .map(|p| acked.iter().filter(|d| d.partition == p).count() as i64)
        .collect();
    wait_for(
        "the history sealed and uploaded",
        Duration::from_secs(60),
        || {
            let locals: Vec<Vec<i64>> = (0..PARTITIONS)
                .map(|p| local_segments(broker.data_dir(), TOPIC, p))
                .collect::<Result<_>>()?;
            Ok(
                if (0..PARTITIONS as usize).all(|p| locals[p] == [sealed[p]]) {
                    Ok(())
                } else {
                    Err(format!("local segments {locals:?}, log ends {sealed:?}"))
                },
            )
        },
    )
    .await?;
    alter_topic(&bootstrap, TOPIC, "segment.ms=3600000")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ts = now_ms();
    let tail: Vec<Keyed> = (0..TAIL_KEYS)
        .map(|k| keyed(k, Some(ROUNDS), ts + k as i64))
        .collect();
    acked.extend(send_keyed(&producer, TOPIC, &tail).await?);
    sent.extend(tail);
    drop(producer);
    let logs = logs_from_acks(&sent, &acked, PARTITIONS as usize)?;

    // 1. Everything sealed is uploaded and gone locally; nothing is compacted yet.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let actives = wait_all_uploaded(
        broker.data_dir(),
        TOPIC,
        PARTITIONS,
        Duration::from_secs(60),
    )
    .await?;
    ensure!(
        actives == sealed && (0..PARTITIONS as usize).all(|p| sealed[p] < logs[p].len() as i64),
        "test setup: the history was sealed up to {sealed:?}, the tail (up to {:?}) should \
         have stayed in the active segments, which are at {actives:?}",
        logs.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let uploads_done = Instant::now();
    let before = list(&store).await?;
    let before_manifests = manifests(&store, &before).await?;
    check_settled(&before, &before_manifests, &actives, false)
        .map_err(anyhow::Error::msg)
        .context("the bucket once uploads are done")?;
    let before_bytes = log_bytes(&before);
    let before_ids: BTreeSet<String> = before_manifests
        .iter()
        .map(|m| m.upload_id.clone())
        .collect();
    let before_keys: BTreeSet<String> = before.iter().map(|(_, _, o)| o.key.clone()).collect();
    ensure!(
        metric(metrics_port, "strata_tier_compactions_total")? == 0.0,
        "a remote compaction ran while min.compaction.lag.ms was an hour"
    );
    for (p, log) in logs.iter().enumerate() {
        let segments = before_manifests
            .iter()
            .filter(|m| m.partition == p as i32)
            .count();
        ensure!(
            segments >= 10,
            "test setup: partition {p}: only {segments} remote segments"
        );
        let tombstones: Vec<i64> = log
            .iter()
            .filter(|r| r.value.is_none())
            .map(|r| r.offset)
            .collect();
        ensure!(
            !tombstones.is_empty() && tombstones.iter().all(|o| *o < actives[p]),
            "test setup: partition {p}: tombstones at {tombstones:?} are not all in the remote \
             range [0, {})",
            actives[p]
        );
    }
    println!(
        "before compaction: {} uploads, {before_bytes} bytes of .log objects; active segments \
         at {actives:?}; {} records acknowledged",
        before_ids.len(),
        sent.len()
    );
    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    for (p, log) in logs.iter().enumerate() {
        compare("full history before compaction", p as i32, &read, log)?;
    }

    // 2. Compaction on. The uploads are older than the grace period by then.
    let age = uploads_done.elapsed();
    if age < Duration::from_millis(GRACE_MS + 1000) {
        tokio::time::sleep(Duration::from_millis(GRACE_MS + 1000) - age).await;
    }
    alter_topic(&bootstrap, TOPIC, "min.compaction.lag.ms=0")?;

    // Poll: when the compaction's first object appears, when a superseded upload goes, and
    // when the bucket has settled.
    let started = Instant::now();
    let mut last_poll_without_new: Option<Instant> = None;
    let mut first_old_gone: Option<Instant> = None;
    let mut state = String::new();
    let (after, after_manifests) = loop {
        if started.elapsed() > Duration::from_secs(40) {
            bail!("the bucket did not settle within 40 s of enabling compaction: {state}");
        }
        let polled = Instant::now();
        let objects = list(&store).await?;
        let ids: BTreeSet<String> = objects.iter().map(|(_, id, _)| id.clone()).collect();
        if ids.is_subset(&before_ids) {
            last_poll_without_new = Some(polled);
        }
        let keys: BTreeSet<String> = objects.iter().map(|(_, _, o)| o.key.clone()).collect();
        if first_old_gone.is_none() && !before_keys.is_subset(&keys) {
            first_old_gone = Some(polled);
        }
        let runs = metric(metrics_port, "strata_tier_compactions_total")?;
        if runs >= PARTITIONS as f64 {
            match manifests(&store, &objects).await {
                Ok(ms) => match check_settled(&objects, &ms, &actives, true) {
                    Ok(()) => break (objects, ms),
                    Err(e) => state = format!("{runs} runs; {e}"),
                },
                Err(e) => state = format!("{runs} runs; reading manifests: {e:#}"),
            }
        } else {
            state = format!(
                "{runs} compaction runs, {} upload ids in the bucket",
                ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // 3. The settled bucket.
    let after_bytes = log_bytes(&after);
    let after_ids: BTreeSet<String> = after_manifests
        .iter()
        .map(|m| m.upload_id.clone())
        .collect();
    println!(
        "after compaction and sweep: {} uploads ({} kept from before), {after_bytes} bytes of \
         .log objects, settled {:?} after enabling compaction",
        after_ids.len(),
        after_ids.intersection(&before_ids).count(),
        started.elapsed()
    );
    ensure!(
        after_bytes * 4 < before_bytes,
        "the bucket holds {after_bytes} bytes of .log objects after compaction, {before_bytes} \
         before: not below a quarter"
    );
    let rows = tier_status(broker.data_dir(), Some(&url), Some(&bootstrap), &env)?;
    ensure!(rows.len() == PARTITIONS as usize, "tier status {rows:?}");
    for (p, row) in rows.iter().enumerate() {
        let mine: Vec<&SegmentManifest> = after_manifests
            .iter()
            .filter(|m| m.partition == p as i32)
            .collect();
        let end = logs[p].len() as i64;
        ensure!(
            row.partition == p as i32
                && row.remote_start == 0
                && row.remote_end == actives[p]
                && row.remote_segments == mine.len()
                && row.remote_bytes == mine.iter().map(|m| m.size).sum::<u64>()
                && row.log_start == Some(0)
                && row.local_start == Some(actives[p])
                && row.log_end == Some(end),
            "partition {p}: tier status {row:?}; {} live manifests, active segment at {}, {end} \
             records acknowledged",
            mine.len(),
            actives[p]
        );
    }
    let watermarks = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<(i64, i64)>> {
            let c = consumer(&bootstrap, &[])?;
            (0..PARTITIONS)
                .map(|p| Ok(c.fetch_watermarks(TOPIC, p, OP_TIMEOUT)?))
                .collect()
        })
        .await??
    };
    for (p, wm) in watermarks.iter().enumerate() {
        ensure!(
            *wm == (0, logs[p].len() as i64),
            "partition {p}: watermarks {wm:?}, expected (0, {})",
            logs[p].len()
        );
    }

    // Exactly the latest record per key below B, everything from B on.
    let read = read_topic(&bootstrap, TOPIC, PARTITIONS).await?;
    let mut expected_total = 0;
    for (p, log) in logs.iter().enumerate() {
        let expected = compacted(log, actives[p]);
        expected_total += expected.len();
        compare(
            "history after remote compaction",
            p as i32,
            &read,
            &expected,
        )?;
    }
    ensure!(
        read.len() == expected_total,
        "read {} records after compaction, expected {expected_total}",
        read.len()
    );
    println!(
        "read {} records from offset 0 after compaction ({} before)",
        read.len(),
        sent.len()
    );

    // Nothing is dirty any more: no second run, and no run failed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let runs = metric(metrics_port, "strata_tier_compactions_total")?;
    let errors = metric(metrics_port, "strata_tier_compaction_errors_total")?;
    ensure!(
        runs == PARTITIONS as f64 && errors == 0.0,
        "{runs} remote compaction runs and {errors} failed runs; expected {PARTITIONS} and 0"
    );

    // The superseded uploads outlived the switch by the grace period.
    let (lower, gone) = (
        last_poll_without_new.context("no poll before the compaction's first object")?,
        first_old_gone.context("no superseded upload was ever deleted")?,
    );
    let kept_for = gone.saturating_duration_since(lower);
    println!(
        "the compaction's first object appeared {:?} after enabling it; the first superseded \
         object went {kept_for:?} after the last poll that saw no new object",
        lower.saturating_duration_since(started)
    );
    ensure!(
        kept_for + Duration::from_millis(1000) >= Duration::from_millis(GRACE_MS),
        "a superseded upload was deleted at most {kept_for:?} after the compaction's catalog \
         switch, before strata.tier.compaction.grace.ms={GRACE_MS} passed: cold reads in flight \
         on the superseded segments are not protected (the sweep ages uploads by their own \
         upload time, not by when they were superseded)"
    );
    drop(broker);
    drop(moto);
    Ok(())
}

/// One record of the history: `key-<k>` → a unique ~200-byte value (`None`: a tombstone),
/// one header naming the round.
fn keyed(k: usize, round: Option<usize>, timestamp: i64) -> Keyed {
    let value = round.map(|r| {
        let mut v = format!("key-{k:03}-round-{r:03}-").into_bytes();
        let mut x = (k * 1_000 + r) as u64 | 1;
        while v.len() < VALUE_LEN {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(b'a' + (x % 26) as u8);
        }
        v
    });
    let tag = round.map_or_else(|| "tombstone".to_string(), |r| r.to_string());
    Keyed {
        partition: (k % PARTITIONS as usize) as i32,
        key: format!("key-{k:03}").into_bytes(),
        value,
        headers: vec![("round".to_string(), Some(tag.into_bytes()))],
        timestamp,
    }
}

/// Every segment object of the bucket: (partition, upload id, object).
async fn list(store: &RemoteStore) -> Result<Vec<(i32, String, ListedObject)>> {
    let mut out = Vec::new();
    for o in store
        .list_objects("v1/")
        .await
        .context("listing the bucket")?
    {
        let (_, partition, _, upload_id) = strata_tier::keys::parse(&o.key)
            .with_context(|| format!("object {} does not follow the key layout", o.key))?;
        out.push((partition, upload_id, o));
    }
    Ok(out)
}

/// The manifests among `objects`, sorted by (partition, base offset).
async fn manifests(
    store: &RemoteStore,
    objects: &[(i32, String, ListedObject)],
) -> Result<Vec<SegmentManifest>> {
    let mut out = Vec::new();
    for (_, _, o) in objects
        .iter()
        .filter(|(_, _, o)| o.key.ends_with(".manifest.json"))
    {
        let data = store
            .get(&o.key)
            .await
            .with_context(|| format!("GET {}", o.key))?;
        out.push(
            SegmentManifest::from_bytes(&data)
                .map_err(|e| anyhow::anyhow!("manifest {}: {e}", o.key))?,
        );
    }
    out.sort_by_key(|m| (m.partition, m.base_offset));
    Ok(out)
}

/// Bytes of the `.log` objects.
fn log_bytes(objects: &[(i32, String, ListedObject)]) -> u64 {
    objects
        .iter()
        .filter(|(_, _, o)| o.key.ends_with(".log"))
        .map(|(_, _, o)| o.size)
        .sum()
}

/// The bucket is settled: every object belongs to a complete upload with a manifest (its
/// objects of the sizes the manifest names), and each partition's manifests are contiguous
/// and cover exactly `[0, actives[p])` (so none nests in another); with `compacted`, every
/// manifest is marked compacted.
fn check_settled(
    objects: &[(i32, String, ListedObject)],
    manifests: &[SegmentManifest],
    actives: &[i64],
    compacted: bool,
) -> Result<(), String> {
    let mut by_upload: BTreeMap<&str, Vec<&ListedObject>> = BTreeMap::new();
    for (_, id, o) in objects {
        by_upload.entry(id.as_str()).or_default().push(o);
    }
    for m in manifests {
        let objs = by_upload.remove(m.upload_id.as_str()).unwrap_or_default();
        let ext_size = |ext: &str| {
            objs.iter()
                .find(|o| o.key.ends_with(&format!(".{ext}")))
                .map(|o| o.size)
        };
        let mut want = vec![("log", Some(m.size)), ("index", None), ("timeindex", None)];
        if let Some(a) = m.producer_snapshot {
            want.push(("snapshot", Some(a.size)));
        }
        if let Some(a) = m.txn_index {
            want.push(("txnindex", Some(a.size)));
        }
        for (ext, size) in &want {
            match (ext_size(ext), size) {
                (None, _) => return Err(format!("upload {} has no .{ext} object", m.upload_id)),
                (Some(got), Some(s)) if got != *s => {
                    return Err(format!(
                        "upload {}: .{ext} has {got} bytes, the manifest says {s}",
                        m.upload_id
                    ))
                }
                _ => {}
            }
        }
        if objs.len() != want.len() + 1 {
            return Err(format!(
                "upload {} has {} objects: {:?}",
                m.upload_id,
                objs.len(),
                objs.iter().map(|o| o.key.as_str()).collect::<Vec<_>>()
            ));
        }
        if compacted && m.compacted_at_ms.is_none() {
            return Err(format!(
                "segment [{}, {}) of partition {} ({}) is not compacted yet",
                m.base_offset, m.end_offset, m.partition, m.upload_id
            ));
        }
        if !compacted && m.compacted_at_ms.is_some() {
            return Err(format!("segment {} is compacted already", m.upload_id));
        }
    }
    if let Some((id, objs)) = by_upload.iter().next() {
        return Err(format!(
            "{} upload(s) without a manifest, e.g. {id}: {:?}",
            by_upload.len(),
            objs.iter().map(|o| o.key.as_str()).collect::<Vec<_>>()
        ));
    }
    for (p, active) in actives.iter().enumerate() {
        let ranges: Vec<(i64, i64)> = manifests
            .iter()
            .filter(|m| m.partition == p as i32)
            .map(|m| (m.base_offset, m.end_offset))
            .collect();
        let mut at = 0;
        for (base, end) in &ranges {
            if *base != at || end <= base {
                return Err(format!(
                    "partition {p}: segments {ranges:?} are not contiguous from 0 (superseded \
                     ones not swept yet?)"
                ));
            }
            at = *end;
        }
        if at != *active {
            return Err(format!(
                "partition {p}: segments {ranges:?} end at {at}, the active segment is at {active}"
            ));
        }
    }
    Ok(())
}
