//! The gRPC admin API (issue 11, part 3) through a client that is not ours: Python grpcio with
//! the reflection client (`py/admin_grpc.py`), against the real broker started with
//! `--grpc-listen`. The script builds every message from the descriptors the server reflects
//! (no generated stubs). The test prepares the cluster with rdkafka and asserts the script's
//! answers exactly:
//! - reflection lists `strata.admin.v1.Admin`;
//! - ListTopics gives each topic's partition count; DescribeTopic, per partition, log start,
//!   local log start and high watermark after K records produced to partition 0;
//! - ListGroups / DescribeGroup give the committed offset and lag of a group;
//! - a missing topic is NOT_FOUND with `UNKNOWN_TOPIC_OR_PARTITION` in the ErrorInfo, and
//!   CreateTopic / AlterTopicConfig / DeleteTopic round-trip with their errors;
//! - WatchTopic pushes a strictly increasing high watermark while a producer runs, ending at
//!   the produced count.

use std::time::Duration;

use anyhow::{ensure, Context};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use strata_integration::broker::free_port;
use strata_integration::client::{consumer, producer, send_all, Outgoing};
use strata_integration::tier::{
    base_env, bucket_manifests, now_ms, numbered_records, wait_all_uploaded,
};
use strata_integration::txn::{kv, run_script_async, PyProcess};
use strata_integration::{create_topic, run, Broker};

const TOPIC: &str = "admin-t";
const PARTITIONS: i32 = 3;
/// Records produced to partition 0 of [`TOPIC`] before the script starts.
const K: usize = 25;
const GROUP: &str = "admin-g";
/// The offset [`GROUP`] commits for partition 0 of [`TOPIC`].
const COMMITTED: i64 = 10;
const WATCH_TOPIC: &str = "admin-w";
/// Rounds of [`PER_ROUND`] records produced while the script watches.
const ROUNDS: usize = 8;
const PER_ROUND: usize = 20;

fn records(n: usize, tag: &str) -> Vec<Outgoing> {
    (0..n)
        .map(|i| Outgoing {
            partition: Some(0),
            key: Some(format!("k{i}").into_bytes()),
            value: format!("{tag}-{i}").into_bytes(),
            ..Outgoing::default()
        })
        .collect()
}

fn need(lines: &[String], key: &str) -> anyhow::Result<String> {
    kv(lines, key).with_context(|| format!("the script printed no `KV {key}`"))
}

#[test]
fn grpc_admin_api_through_python_reflection_client() {
    run(Duration::from_secs(180), async {
        let grpc = format!("127.0.0.1:{}", free_port()?);
        let broker = Broker::start(&["--grpc-listen", &grpc])?;
        let b = broker.bootstrap();
        create_topic(&b, TOPIC, PARTITIONS, &[]).await?;
        create_topic(&b, WATCH_TOPIC, 1, &[]).await?;
        let p = producer(&b, &[("linger.ms", "5")])?;
        send_all(&p, TOPIC, &records(K, "before")).await?;

        // A group with a committed offset and no members.
        let committer = consumer(&b, &[("group.id", GROUP)])?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, Offset::Offset(COMMITTED))?;
        // The first commit may meet the coordinator still loading (NOT_COORDINATOR,
        // COORDINATOR_LOAD_IN_PROGRESS: retriable, as for any client).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::task::block_in_place(|| committer.commit(&tpl, CommitMode::Sync)) {
                Ok(()) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("commit retried: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e).context("commit the group's offset"),
            }
        }
        drop(committer);

        let target = (ROUNDS * PER_ROUND).to_string();
        let py = PyProcess::spawn(
            "admin_grpc.py",
            &[&grpc, TOPIC, GROUP, WATCH_TOPIC, &target],
        )?;
        py.wait_line(0, Duration::from_secs(90), |l| l == "STEP watching")
            .await
            .with_context(|| py.report())?;
        // Produce while the script watches, in rounds far apart compared with its 50 ms poll.
        for round in 0..ROUNDS {
            send_all(&p, WATCH_TOPIC, &records(PER_ROUND, &format!("r{round}"))).await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let out = py.finish(Duration::from_secs(60)).await?;
        let lines = &out.lines;

        let services = need(lines, "services")?;
        ensure!(
            services.split(',').any(|s| s == "strata.admin.v1.Admin"),
            "reflection lists {services}"
        );
        assert_eq!(need(lines, &format!("topic_{TOPIC}"))?, "3");
        assert_eq!(need(lines, &format!("topic_{WATCH_TOPIC}"))?, "1");
        assert_eq!(need(lines, "describe_name")?, TOPIC);
        assert_eq!(
            need(lines, "partition_0")?,
            format!("leader=0 log_start=0 local_start=0 hw={K} remote_ranges=0 remote_bytes=0")
        );
        for p in 1..PARTITIONS {
            assert_eq!(
                need(lines, &format!("partition_{p}"))?,
                "leader=0 log_start=0 local_start=0 hw=0 remote_ranges=0 remote_bytes=0"
            );
        }
        assert_eq!(need(lines, "describe_configs")?, "");

        let groups = need(lines, "groups")?;
        ensure!(
            groups.split(',').any(|g| g == GROUP),
            "ListGroups: {groups}"
        );
        let lag = K as i64 - COMMITTED;
        assert_eq!(
            need(lines, "group_state")?,
            format!("Empty members=0 total_lag={lag}")
        );
        assert_eq!(
            need(lines, &format!("group_{TOPIC}_0"))?,
            format!("committed={COMMITTED} end={K} lag={lag}")
        );
        assert_eq!(
            need(lines, "group_missing")?,
            "NOT_FOUND GROUP_ID_NOT_FOUND strata.admin.v1"
        );
        assert_eq!(need(lines, "tier")?, "partitions=0 store=file");

        assert_eq!(
            need(lines, "missing")?,
            "NOT_FOUND UNKNOWN_TOPIC_OR_PARTITION strata.admin.v1"
        );
        assert_eq!(need(lines, "created")?, "admin-created 2 1");
        assert_eq!(need(lines, "created_listed")?, "2");
        assert_eq!(
            need(lines, "create_again")?,
            "ALREADY_EXISTS TOPIC_ALREADY_EXISTS strata.admin.v1"
        );
        assert_eq!(
            need(lines, "altered")?,
            "cleanup.policy=compact,retention.ms=7200000"
        );
        assert_eq!(need(lines, "deleted_config")?, "retention.ms=7200000");
        assert_eq!(
            need(lines, "alter_invalid")?,
            "INVALID_ARGUMENT INVALID_CONFIG strata.admin.v1"
        );
        assert_eq!(
            need(lines, "after_delete")?,
            "NOT_FOUND UNKNOWN_TOPIC_OR_PARTITION strata.admin.v1"
        );
        assert_eq!(
            need(lines, "delete_again")?,
            "NOT_FOUND UNKNOWN_TOPIC_OR_PARTITION strata.admin.v1"
        );

        // WatchTopic: the state before the producer (0), then a strictly increasing high
        // watermark ending at the produced count, with the rounds seen on the way.
        let hws: Vec<i64> = need(lines, "watch_hw")?
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        assert_eq!(hws.first(), Some(&0), "{hws:?}");
        assert_eq!(hws.last(), Some(&((ROUNDS * PER_ROUND) as i64)), "{hws:?}");
        ensure!(
            hws.windows(2).all(|w| w[0] < w[1]),
            "the high watermarks pushed are not strictly increasing: {hws:?}"
        );
        ensure!(
            hws.len() >= ROUNDS / 2,
            "WatchTopic pushed only {hws:?} over {ROUNDS} rounds"
        );
        Ok(())
    });
}

const TIERED: &str = "admin-tiered";
/// Records of [`VALUE_LEN`] bytes produced to [`TIERED`]: about 3 MiB, so several 1 MiB
/// segments are sealed and uploaded.
const TIERED_RECORDS: usize = 700;
const VALUE_LEN: usize = 4096;

/// DescribeTopic, TierStatus and WatchTopic of a topic whose sealed segments are in the
/// object store and gone from local disk: the remote range is exactly `[0, E)` with the
/// manifests' segment count and bytes, the local log starts at E, the log at 0, and the high
/// watermark is the produced count.
#[test]
fn remote_ranges_of_a_tiered_topic() {
    run(Duration::from_secs(180), async {
        let grpc = format!("127.0.0.1:{}", free_port()?);
        let args = [
            "--grpc-listen",
            &grpc,
            "--set",
            "remote.log.manager.task.interval.ms=200",
            "--set",
            "log.retention.check.interval.ms=200",
        ];
        let broker = Broker::start_with_env(&args, &base_env())?;
        let b = broker.bootstrap();
        create_topic(
            &b,
            TIERED,
            1,
            &[
                ("remote.storage.enable", "true"),
                ("segment.bytes", "1048576"),
                ("local.retention.bytes", "0"),
                ("retention.ms", "-1"),
            ],
        )
        .await?;
        let sent = numbered_records(0, TIERED_RECORDS, 1, VALUE_LEN, now_ms());
        let p = producer(&b, &[("batch.size", "131072")])?;
        send_all(&p, TIERED, &sent).await?;
        let ends = wait_all_uploaded(broker.data_dir(), TIERED, 1, Duration::from_secs(60)).await?;
        let e = ends[0];
        let manifests = bucket_manifests(&broker.data_dir().join("remote"))?;
        let segments = manifests.len();
        let bytes: u64 = manifests.iter().map(|m| m.size).sum();
        ensure!(segments >= 2, "only {segments} segments uploaded");

        let out = run_script_async(
            "admin_grpc.py",
            &["tier", &grpc, TIERED],
            Duration::from_secs(60),
        )
        .await?;
        let n = TIERED_RECORDS;
        assert_eq!(
            out.need("describe_0")?,
            format!(
                "log_start=0 local_start={e} hw={n} remote=[0,{e}) segments={segments} bytes={bytes}"
            )
        );
        assert_eq!(
            out.need(&format!("tier_{TIERED}_0"))?,
            format!(
                "remote=[0,{e}) segments={segments} bytes={bytes} log_start=0 local_start={e} end={n}"
            )
        );
        assert_eq!(out.need("watch_0")?, format!("hw={n} remote=[0,{e})"));
        Ok(())
    });
}
