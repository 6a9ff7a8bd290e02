//! Data safety of metadata and partition directories (issue 7, items 1–4), against the real
//! binary with librdkafka and the `strata` CLI:
//! - a damaged metadata journal refuses to start with the file, offset and way out; `strata meta
//!   check` reports it; `repair --truncate-at` + `recover` bring every topic and record back;
//! - a lost metadata directory: unowned partition dirs are renamed aside as `.stray`, never
//!   deleted, and `strata meta recover` re-attaches them with every record;
//! - internal topic names cannot be created, altered or deleted;
//! - config values are normalized and range-checked (Kafka 4 bounds) at the edge;
//! - topic creation is atomic (a partition that cannot be created rolls the topic back);
//! - `max.broker.partitions`; topics with 249-character names can be created and deleted.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::admin::{NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use strata_integration::client::{
    admin_options, numbered, numbered_values, partition_count, topic_names, values_by_partition,
};
use strata_integration::{
    admin, create_topic, producer, run, send_all, strata_cli, Broker, Outgoing,
};

type Admin = rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>;

/// Byte offsets of the journal's entries (header 10 bytes, then `len, crc, payload`).
fn entry_offsets(journal: &[u8]) -> Vec<usize> {
    let mut pos = 10;
    let mut out = Vec::new();
    while pos + 8 <= journal.len() {
        out.push(pos);
        let len = u32::from_be_bytes(journal[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    out
}

/// The metadata quorum's Raft log: the metadata journal framing, version 2.
fn journal_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("__cluster_metadata").join("raft.log")
}

fn meta_cli(data_dir: &Path, args: &[&str]) -> Result<strata_integration::CommandOutput> {
    let dir = data_dir.display().to_string();
    let mut all = vec!["meta"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", &dir]);
    strata_cli(&all)
}

#[test]
fn damaged_journal_refuses_start_then_repair_and_recover_restore_everything() {
    run(Duration::from_secs(120), async {
        let mut broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        for t in ["alpha", "beta", "gamma"] {
            create_topic(&bootstrap, t, 2, &[]).await?;
            let p = producer(&bootstrap, &[])?;
            send_all(&p, t, &numbered(20, t, 2)).await?;
        }
        broker.sigterm_and_wait()?;

        // Flip one byte inside beta's TopicCreated entry: intact entries (gamma) follow.
        let path = journal_path(broker.data_dir());
        let mut journal = std::fs::read(&path)?;
        let offsets = entry_offsets(&journal);
        let beta_at = *offsets
            .iter()
            .find(|&&o| {
                let len = u32::from_be_bytes(journal[o..o + 4].try_into().unwrap()) as usize;
                String::from_utf8_lossy(&journal[o + 8..o + 8 + len]).contains("\"beta\"")
            })
            .context("beta's entry")?;
        journal[beta_at + 20] ^= 0x20;
        std::fs::write(&path, &journal)?;

        let start = broker.restart();
        ensure!(start.is_err(), "the broker must refuse a damaged journal");
        let tail = broker.log_tail();
        ensure!(
            tail.contains(&format!("damaged at byte {beta_at}"))
                && tail.contains(&path.display().to_string())
                && tail.contains(&format!("--truncate-at {beta_at}")),
            "refusal must name the file, offset and way out:\n{tail}"
        );
        ensure!(std::fs::read(&path)? == journal, "the journal was modified");

        let check = meta_cli(broker.data_dir(), &["check"])?;
        ensure!(
            check.status.code() == Some(1),
            "check exit: {:?}",
            check.status
        );
        ensure!(
            check
                .stdout_str()
                .contains(&format!("DAMAGED at byte {beta_at}")),
            "check output:\n{}",
            check.stdout_str()
        );

        meta_cli(
            broker.data_dir(),
            &["repair", "--truncate-at", &beta_at.to_string()],
        )?
        .ensure_success("meta repair")?;
        let recover = meta_cli(broker.data_dir(), &["recover"])?;
        recover.ensure_success("meta recover")?;
        let out = recover.stdout_str();
        ensure!(
            out.contains("created topic beta") && out.contains("created topic gamma"),
            "recover output:\n{out}"
        );
        ensure!(
            !out.contains("created topic alpha"),
            "alpha was intact:\n{out}"
        );

        broker.restart()?;
        let bootstrap = broker.bootstrap();
        for t in ["alpha", "beta", "gamma"] {
            ensure!(partition_count(&bootstrap, t)? == Some(2), "{t} partitions");
            ensure!(
                values_by_partition(&bootstrap, t, 2).await? == numbered_values(20, t, 2),
                "{t} records after repair + recover"
            );
        }
        Ok(())
    });
}

#[test]
fn lost_metadata_dir_strays_then_recover_reattaches() {
    run(Duration::from_secs(120), async {
        let mut broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        create_topic(&bootstrap, "orders", 3, &[]).await?;
        send_all(&producer(&bootstrap, &[])?, "orders", &numbered(30, "o", 3)).await?;
        broker.sigkill()?;

        let data = broker.data_dir().to_path_buf();
        std::fs::remove_dir_all(data.join("__cluster_metadata"))?;
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        ensure!(
            !topic_names(&bootstrap)?.contains(&"orders".to_string()),
            "no metadata, no topic"
        );
        for p in 0..3 {
            ensure!(
                !data.join(format!("orders-{p}")).exists(),
                "orders-{p} still live"
            );
            let stray = data.join(format!("orders-{p}.stray"));
            ensure!(stray.is_dir(), "{} missing", stray.display());
            ensure!(
                std::fs::metadata(stray.join("00000000000000000000.log"))?.len() > 0,
                "stray segment emptied"
            );
        }
        let log = std::fs::read_to_string(broker.log_path())?;
        ensure!(
            log.contains("renamed aside as stray"),
            "no stray warning in the log"
        );
        broker.sigterm_and_wait()?;

        let out = meta_cli(&data, &["recover"])?;
        out.ensure_success("meta recover")?;
        ensure!(
            out.stdout_str().contains("created topic orders"),
            "{}",
            out.stdout_str()
        );
        broker.restart()?;
        let bootstrap = broker.bootstrap();
        ensure!(
            values_by_partition(&bootstrap, "orders", 3).await? == numbered_values(30, "o", 3),
            "records after recover"
        );
        // The recovered topic takes new writes after the old ones.
        let more = send_all(
            &producer(&bootstrap, &[])?,
            "orders",
            &[Outgoing {
                partition: Some(0),
                value: b"after".to_vec(),
                ..Outgoing::default()
            }],
        )
        .await?;
        ensure!(more[0].offset == 10, "next offset {}", more[0].offset);
        Ok(())
    });
}

async fn create_code(admin: &Admin, topic: NewTopic<'_>) -> Result<Option<RDKafkaErrorCode>> {
    let results = admin
        .create_topics([&topic], &admin_options())
        .await
        .context("CreateTopics")?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(None),
        Some(Err((_, code))) => Ok(Some(code)),
        None => bail!("CreateTopics: empty answer"),
    }
}

#[test]
fn internal_names_and_config_values_are_checked_at_the_edge() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        let admin = admin(&bootstrap)?;
        for name in [
            "__consumer_offsets",
            "__transaction_state",
            "__cluster_metadata",
            "__strata_internal",
        ] {
            let code =
                create_code(&admin, NewTopic::new(name, 1, TopicReplication::Fixed(1))).await?;
            ensure!(
                code == Some(RDKafkaErrorCode::InvalidTopic),
                "create {name}: {code:?}"
            );
            let deleted = admin.delete_topics(&[name], &admin_options()).await?;
            ensure!(
                deleted == vec![Err((name.to_string(), RDKafkaErrorCode::InvalidTopic))],
                "delete {name}: {deleted:?}"
            );
            // (rust-rdkafka drops per-resource AlterConfigs errors; the CLI reports them.)
            let altered = strata_cli(&[
                "topic",
                "alter",
                name,
                "--config",
                "retention.ms=1",
                "--bootstrap-server",
                &bootstrap,
            ])?;
            ensure!(
                !altered.status.success() && altered.stderr.contains("internal topic"),
                "alter {name}: {altered:?}"
            );
            let grown = admin
                .create_partitions([&NewPartitions::new(name, 60)], &admin_options())
                .await?;
            ensure!(
                grown == vec![Err((name.to_string(), RDKafkaErrorCode::InvalidTopic))],
                "create partitions {name}: {grown:?}"
            );
        }
        // Groups still work: __consumer_offsets is untouched.
        ensure!(!topic_names(&bootstrap)?.iter().any(|t| t.starts_with("__")));

        let cases: &[(&str, &str)] = &[
            ("segment.bytes", "1048575"),       // below Kafka 4's 1 MiB minimum
            ("segment.bytes", "4294967296"),    // beyond INT
            ("retention.ms", "-2"),             // below -1
            ("flush.messages", "0"),            // below 1
            ("min.cleanable.dirty.ratio", "2"), // beyond 1
            ("preallocate", "yes"),             // not a boolean
            ("no.such.config", "1"),            // unknown
        ];
        for (k, v) in cases {
            let code = create_code(
                &admin,
                NewTopic::new("cfg", 1, TopicReplication::Fixed(1)).set(k, v),
            )
            .await?;
            ensure!(
                code == Some(RDKafkaErrorCode::InvalidConfig),
                "{k}={v}: {code:?}"
            );
        }
        let long = "9".repeat(2000);
        let code = create_code(
            &admin,
            NewTopic::new("cfg", 1, TopicReplication::Fixed(1)).set("retention.ms", &long),
        )
        .await?;
        ensure!(
            code == Some(RDKafkaErrorCode::InvalidConfig),
            "long value: {code:?}"
        );
        ensure!(!topic_names(&bootstrap)?.contains(&"cfg".to_string()));

        // Values are trimmed and normalized once, at the edge.
        let code = create_code(
            &admin,
            NewTopic::new("cfg", 1, TopicReplication::Fixed(1))
                .set("retention.ms", " 86400000 ")
                .set("preallocate", "TRUE"),
        )
        .await?;
        ensure!(code.is_none(), "normalizable values refused: {code:?}");
        let described = admin
            .describe_configs([&ResourceSpecifier::Topic("cfg")], &admin_options())
            .await?;
        let resource = described
            .into_iter()
            .next()
            .context("no answer")?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let value = |k: &str| resource.get(k).and_then(|e| e.value.clone());
        ensure!(value("retention.ms").as_deref() == Some("86400000"));
        ensure!(value("preallocate").as_deref() == Some("true"));
        Ok(())
    });
}

#[test]
fn topic_creation_is_atomic_and_bounded() {
    run(Duration::from_secs(90), async {
        let mut broker = Broker::start(&["--set", "max.broker.partitions=6"])?;
        let bootstrap = broker.bootstrap();
        let admin = admin(&bootstrap)?;

        // A plain file where partition 1's directory must go: creating the topic fails and
        // leaves nothing behind (no topic, no partition-0 directory).
        let data = broker.data_dir().to_path_buf();
        std::fs::write(data.join("blocked-1"), b"not a directory")?;
        let code = create_code(
            &admin,
            NewTopic::new("blocked", 3, TopicReplication::Fixed(1)),
        )
        .await?;
        ensure!(code.is_some(), "creating over a file must fail");
        ensure!(!topic_names(&bootstrap)?.contains(&"blocked".to_string()));
        ensure!(!data.join("blocked-0").exists(), "blocked-0 left behind");
        ensure!(!data.join("blocked-2").exists(), "blocked-2 left behind");

        // The limit counts every hosted partition.
        create_topic(&bootstrap, "four", 4, &[]).await?;
        let code = create_code(
            &admin,
            NewTopic::new("three", 3, TopicReplication::Fixed(1)),
        )
        .await?;
        ensure!(
            code == Some(RDKafkaErrorCode::PolicyViolation),
            "over the limit: {code:?}"
        );
        let grown = admin
            .create_partitions([&NewPartitions::new("four", 7)], &admin_options())
            .await?;
        ensure!(
            grown == vec![Err(("four".to_string(), RDKafkaErrorCode::PolicyViolation))],
            "{grown:?}"
        );
        ensure!(partition_count(&bootstrap, "four")? == Some(4));

        // Kafka's longest topic name (249 characters) can be created, used and deleted.
        let long = "l".repeat(249);
        create_topic(&bootstrap, &long, 2, &[]).await?;
        send_all(&producer(&bootstrap, &[])?, &long, &numbered(4, "x", 2)).await?;
        let deleted = admin
            .delete_topics(&[long.as_str()], &admin_options())
            .await?;
        ensure!(deleted == vec![Ok(long.clone())], "delete: {deleted:?}");
        ensure!(!data.join(format!("{long}-0")).exists());
        let leftovers: Vec<String> = std::fs::read_dir(&data)?
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("lll"))
            .collect();
        ensure!(leftovers.is_empty(), "left behind: {leftovers:?}");

        // Nothing of the failed creation comes back after a restart.
        broker.sigkill()?;
        broker.restart()?;
        let names = topic_names(&broker.bootstrap())?;
        ensure!(
            names.contains(&"four".to_string()) && !names.contains(&"blocked".to_string()),
            "{names:?}"
        );
        Ok(())
    });
}
