//! `strata group list|describe|reset-offsets|delete` against a three-node cluster, through a
//! broker that is *not* the group's coordinator (as `kafka-consumer-groups.sh` is used).
//!
//! Three `strata serve` processes; a topic with 3 partitions and replication factor 3 holds 100
//! records per partition (acks=all). A librdkafka member of the group reads and commits
//! exactly 40, 50 and 60. The coordinator is the leader of the group's `__consumer_offsets`
//! partition (`abs(javaHashCode(group)) % 50`); the others answer the group's requests
//! NOT_COORDINATOR and ListOffsets for partitions they do not lead NOT_LEADER_OR_FOLLOWER, so
//! the CLI must find the coordinator and each partition's leader itself. Checked, with exact
//! output:
//! - `describe` through a non-coordinator while the member is in the group: one row per
//!   partition with CURRENT-OFFSET 40/50/60, LOG-END-OFFSET 100, LAG 60/50/40 and the member;
//! - `list` through each broker alone prints the group (ListGroups on every broker, union);
//! - after the member left, `describe` prints the same table through each of the three
//!   brokers, without members;
//! - `reset-offsets --to-earliest` (dry run, then `--execute`) through the non-coordinators
//!   prints the plan, and `describe` then shows 0 committed everywhere;
//! - `delete` through a non-coordinator deletes the group: `list` is empty on every broker and
//!   `describe` says the group does not exist;
//! - right after kill -9 of a broker (still in Metadata), `list` fails naming it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use strata_integration::client::{consumer, create_replicated_topic, numbered};
use strata_integration::cluster::Cluster;
use strata_integration::groups::{describe_lag, offsets_partition_for, wait_until};
use strata_integration::{producer, run, send_all, strata_cli};

const TOPIC: &str = "cli-topic";
const GROUP: &str = "cli-group";
const PARTITIONS: i32 = 3;
const PER_PARTITION: i64 = 100;
/// What the member reads and commits per partition.
const COMMITTED: [i64; 3] = [40, 50, 60];
const CLIENT_ID: &str = "cli-test-member";
const OFFSETS_PARTITIONS: i32 = 50;
const NODES: [i32; 3] = [1, 2, 3];
/// Bound of each wait for the cluster or the group.
const CONVERGE: Duration = Duration::from_secs(90);

const BROKER_ARGS: &[&str] = &[
    "--set",
    "group.initial.rebalance.delay.ms=0",
    "--set",
    "group.min.session.timeout.ms=1000",
];

const HEADER: &str =
    "GROUP     TOPIC     PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID";

/// `strata group ARGS --bootstrap-server B`, which must succeed: its stdout.
fn group_cli(bootstrap: &str, args: &[&str]) -> Result<String> {
    let mut all = vec!["group"];
    all.extend_from_slice(args);
    all.extend(["--bootstrap-server", bootstrap]);
    let out = strata_cli(&all)?;
    out.ensure_success(&format!("strata {} (bootstrap {bootstrap})", all.join(" ")))?;
    Ok(out.stdout_str())
}

/// The leader of each partition of `topic`, by partition id.
fn leaders(bootstrap: &str, topic: &str) -> Result<Vec<i32>> {
    let md = consumer(bootstrap, &[("allow.auto.create.topics", "false")])?
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("Metadata for {topic}"))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .with_context(|| format!("{topic} is not listed"))?;
    let mut parts: Vec<(i32, i32)> = t
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect();
    parts.sort_unstable();
    ensure!(
        parts.iter().all(|(_, l)| NODES.contains(l)),
        "{topic}: a partition without a leader: {parts:?}"
    );
    Ok(parts.into_iter().map(|(_, l)| l).collect())
}

/// The group's coordinator: the leader of its `__consumer_offsets` partition.
fn coordinator(bootstrap: &str) -> Result<i32> {
    let partition = offsets_partition_for(GROUP, OFFSETS_PARTITIONS);
    leaders(bootstrap, "__consumer_offsets")?
        .get(partition as usize)
        .copied()
        .with_context(|| format!("__consumer_offsets-{partition} is not listed"))
}

/// Joins the group, reads at least offsets `0..COMMITTED[p]` of every partition, commits
/// exactly `COMMITTED` and stays in the group (dropping it leaves).
fn join_and_commit(bootstrap: &str) -> Result<BaseConsumer> {
    let member = consumer(
        bootstrap,
        &[
            ("group.id", GROUP),
            ("client.id", CLIENT_ID),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("allow.auto.create.topics", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )?;
    member.subscribe(&[TOPIC]).context("subscribe")?;
    let deadline = Instant::now() + CONVERGE;
    let mut read = [0i64; 3];
    let mut last_error = String::new();
    while (0..3).any(|p| read[p] < COMMITTED[p]) {
        if Instant::now() >= deadline {
            bail!("the member read only {read:?} of {COMMITTED:?}; last error: {last_error}");
        }
        match member.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let p = usize::try_from(m.partition())?;
                read[p] = read[p].max(m.offset() + 1);
            }
            Some(Err(e)) => last_error = e.to_string(),
            None => {}
        }
    }
    let mut tpl = TopicPartitionList::new();
    for (p, o) in (0..PARTITIONS).zip(COMMITTED) {
        tpl.add_partition_offset(TOPIC, p, Offset::Offset(o))?;
    }
    loop {
        match member.commit(&tpl, CommitMode::Sync) {
            Ok(()) => return Ok(member),
            Err(e) if Instant::now() < deadline => {
                eprintln!("commit failed, retrying: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => bail!("committing {COMMITTED:?} failed: {e}"),
        }
    }
}

/// `describe` of the group without members: (current, log end, lag) per partition.
fn describe_empty(rows: [(i64, i64); 3]) -> String {
    let mut text = format!("\nConsumer group '{GROUP}' has no active members.\n\n{HEADER}\n");
    for (p, (current, end)) in rows.iter().enumerate() {
        let lag = end - current;
        text.push_str(&format!(
            "{GROUP} {TOPIC} {p:<9} {current:<14} {end:<14} {lag:<3} -           -    -\n"
        ));
    }
    text
}

#[test]
fn group_commands_find_the_coordinator_and_the_leaders() {
    run(Duration::from_secs(240), async {
        let mut cluster = Cluster::start(3, BROKER_ARGS)?;
        let all = cluster.bootstrap();
        let addr: BTreeMap<i32, String> = NODES
            .iter()
            .map(|n| (*n, cluster.brokers[*n as usize - 1].bootstrap()))
            .collect();

        create_replicated_topic(&all, TOPIC, PARTITIONS, 3, &[("min.insync.replicas", "2")])
            .await?;
        let p = producer(&all, &[("acks", "all"), ("enable.idempotence", "true")])?;
        let records = (PER_PARTITION * i64::from(PARTITIONS)) as usize;
        // numbered() sends record i to partition i mod 3: 100 per partition, which describe's
        // LOG-END-OFFSET column checks.
        send_all(&p, TOPIC, &numbered(records, "v", PARTITIONS)).await?;
        drop(p);

        let bootstrap = all.clone();
        let member = tokio::task::spawn_blocking(move || join_and_commit(&bootstrap))
            .await
            .context("the member's thread panicked")??;

        // The coordinator, and the brokers that are not it. The CLI goes through `via`, which
        // does not lead every partition of the topic either: it must find the other leaders.
        let coord = coordinator(&all)?;
        let topic_leaders = leaders(&all, TOPIC)?;
        let mut others: Vec<i32> = NODES.iter().copied().filter(|n| *n != coord).collect();
        others.sort_by_key(|n| topic_leaders.iter().filter(|l| *l == n).count());
        ensure!(
            topic_leaders.iter().any(|l| *l != others[0]),
            "broker {} leads every partition of {TOPIC}: {topic_leaders:?}",
            others[0]
        );
        let via = &addr[&others[0]];
        eprintln!(
            "coordinator of {GROUP}: broker {coord}; leaders of {TOPIC}: {topic_leaders:?}; \
             CLI through broker {}",
            others[0]
        );

        // describe with the member in the group: exact offsets, lag and the member.
        let text = group_cli(via, &["describe", GROUP])?;
        let member_id = text
            .lines()
            .nth(2)
            .and_then(|l| l.split_whitespace().nth(6))
            .unwrap_or_default();
        ensure!(
            member_id.starts_with(&format!("{CLIENT_ID}-")),
            "describe with a member:\n{text}"
        );
        let w = member_id.len();
        let mut want = format!(
            "\nGROUP     TOPIC     PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG \
             {:<w$} HOST       CLIENT-ID\n",
            "CONSUMER-ID"
        );
        for (p, c) in (0..PARTITIONS).zip(COMMITTED) {
            let (end, lag) = (PER_PARTITION, PER_PARTITION - c);
            want.push_str(&format!(
                "{GROUP} {TOPIC} {p:<9} {c:<14} {end:<14} {lag:<3} {member_id} /127.0.0.1 \
                 {CLIENT_ID}\n"
            ));
        }
        ensure!(
            text == want,
            "describe with a member:\n{text}\nwant:\n{want}"
        );

        // list through each broker alone: the union of every broker's ListGroups.
        for (n, a) in &addr {
            let listed = group_cli(a, &["list"])?;
            ensure!(
                listed == format!("{GROUP}\n"),
                "list through broker {n}: {listed:?}"
            );
        }

        // The member leaves; the table is the same through every broker, without members.
        tokio::task::spawn_blocking(move || drop(member))
            .await
            .context("closing the member")?;
        let empty = describe_empty([(40, 100), (50, 100), (60, 100)]);
        wait_until("the group to be empty", CONVERGE, || {
            group_cli(via, &["describe", GROUP]).is_ok_and(|t| t == empty)
        })
        .await
        .with_context(|| format!("last describe: {:?}", group_cli(via, &["describe", GROUP])))?;
        for (n, a) in &addr {
            let text = group_cli(a, &["describe", GROUP])?;
            ensure!(text == empty, "describe through broker {n}:\n{text}");
        }
        ensure!(
            describe_lag(via, GROUP)?
                .iter()
                .map(|r| (r.1, r.2.clone(), r.4.clone()))
                .collect::<Vec<_>>()
                == vec![
                    (0, "40".to_string(), "60".to_string()),
                    (1, "50".to_string(), "50".to_string()),
                    (2, "60".to_string(), "40".to_string())
                ],
            "describe_lag disagrees"
        );

        // reset-offsets through the non-coordinators: a dry run, then --execute.
        let plan = format!(
            "\nGROUP     TOPIC     PARTITION NEW-OFFSET\n\
             {GROUP} {TOPIC} 0         0\n\
             {GROUP} {TOPIC} 1         0\n\
             {GROUP} {TOPIC} 2         0\n"
        );
        let reset = ["reset-offsets", GROUP, "--topic", TOPIC, "--to-earliest"];
        let dry = group_cli(&addr[&others[1]], &reset)?;
        ensure!(
            dry == format!("{plan}\n(dry run: nothing was changed; add --execute to apply)\n"),
            "dry run:\n{dry}"
        );
        ensure!(group_cli(via, &["describe", GROUP])? == empty);
        let mut execute = reset.to_vec();
        execute.push("--execute");
        let done = group_cli(via, &execute)?;
        ensure!(
            done == format!("{plan}\nOffsets of group '{GROUP}' were reset.\n"),
            "reset:\n{done}"
        );
        let reset_table = describe_empty([(0, 100), (0, 100), (0, 100)]);
        for (n, a) in &addr {
            let text = group_cli(a, &["describe", GROUP])?;
            ensure!(
                text == reset_table,
                "describe after reset through broker {n}:\n{text}"
            );
        }

        // delete through a non-coordinator.
        let deleted = group_cli(via, &["delete", GROUP])?;
        ensure!(
            deleted
                == format!("Deletion of requested consumer groups ('{GROUP}') was successful.\n"),
            "delete: {deleted:?}"
        );
        for (n, a) in &addr {
            let listed = group_cli(a, &["list"])?;
            ensure!(
                listed.is_empty(),
                "list through broker {n} after delete: {listed:?}"
            );
        }
        let gone = strata_cli(&["group", "describe", GROUP, "--bootstrap-server", via])?;
        ensure!(
            !gone.status.success()
                && gone
                    .stderr
                    .contains(&format!("Consumer group '{GROUP}' does not exist.")),
            "describe after delete: {gone:?}"
        );
        // The coordinator did not move meanwhile (else "through a non-coordinator" is moot).
        ensure!(coordinator(&all)? == coord, "the coordinator moved");

        // A broker that cannot be asked fails `list`, named (its groups would be missing). Right
        // after kill -9 it is still in Metadata (broker.session.timeout.ms is 9 s).
        let dead = others[1];
        cluster.node(dead as usize).sigkill()?;
        let failed = strata_cli(&["group", "list", "--bootstrap-server", via])?;
        let named = format!(
            "listing the groups of broker {dead} ({}) failed",
            addr[&dead]
        );
        ensure!(
            !failed.status.success() && failed.stderr.contains(&named),
            "list with broker {dead} down: {failed:?}"
        );
        Ok(())
    });
}
