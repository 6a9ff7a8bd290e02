//! Topic administration through librdkafka's AdminClient and through the `strata topic` CLI:
//! create (with configs, validate-only, invalid and duplicate names, invalid configs),
//! describe and alter configs, add partitions, delete.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use rdkafka::admin::{
    AlterConfig, ConfigResource, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use strata_integration::client::{admin_options, partition_count, topic_names};
use strata_integration::{
    admin, create_topic, producer, read_topic, run, send_all, strata_cli, Broker, Outgoing,
};

type Admin = rdkafka::admin::AdminClient<DefaultClientContext>;

async fn describe_topic(admin: &Admin, topic: &str) -> Result<ConfigResource> {
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &admin_options())
        .await
        .context("DescribeConfigs")?;
    match results.into_iter().next() {
        Some(Ok(resource)) => Ok(resource),
        Some(Err(code)) => bail!("DescribeConfigs {topic}: {code:?}"),
        None => bail!("DescribeConfigs {topic}: empty answer"),
    }
}

/// Fails unless `name` has `value`, and is (or is not) an override set on the topic.
fn ensure_entry(
    resource: &ConfigResource,
    name: &str,
    value: &str,
    overridden: bool,
) -> Result<()> {
    let entry = resource
        .get(name)
        .with_context(|| format!("config {name} missing from DescribeConfigs"))?;
    ensure!(
        entry.value.as_deref() == Some(value),
        "{name} = {:?}, expected {value}",
        entry.value
    );
    if overridden {
        ensure!(
            !entry.is_default && entry.source == ConfigSource::DynamicTopic,
            "{name} should be a topic override: {entry:?}"
        );
    } else {
        ensure!(
            entry.is_default && entry.source == ConfigSource::Default,
            "{name} should be a default: {entry:?}"
        );
    }
    Ok(())
}

/// Creates one topic and returns the broker's per-topic outcome.
async fn try_create(
    admin: &Admin,
    topic: &NewTopic<'_>,
    validate_only: bool,
) -> Result<Result<String, RDKafkaErrorCode>> {
    let results = admin
        .create_topics([topic], &admin_options().validate_only(validate_only))
        .await
        .context("CreateTopics")?;
    match results.into_iter().next() {
        Some(Ok(name)) => Ok(Ok(name)),
        Some(Err((_, code))) => Ok(Err(code)),
        None => bail!("CreateTopics: empty answer"),
    }
}

#[test]
fn create_with_configs_describe_and_alter() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        let admin = admin(&bootstrap)?;
        let topic = NewTopic::new("configured", 3, TopicReplication::Fixed(1))
            .set("retention.ms", "123456")
            .set("cleanup.policy", "delete");
        ensure!(try_create(&admin, &topic, false).await? == Ok("configured".to_string()));
        ensure!(partition_count(&bootstrap, "configured")? == Some(3));

        let described = describe_topic(&admin, "configured").await?;
        ensure_entry(&described, "retention.ms", "123456", true)?;
        ensure_entry(&described, "cleanup.policy", "delete", true)?;
        ensure_entry(&described, "max.message.bytes", "1048588", false)?;
        ensure_entry(&described, "segment.bytes", "1073741824", false)?;

        // AlterConfigs (not incremental) replaces the topic's whole override set: afterwards
        // retention.ms is the new override and cleanup.policy is back to its default.
        let alter =
            AlterConfig::new(ResourceSpecifier::Topic("configured")).set("retention.ms", "654321");
        let results = admin
            .alter_configs([&alter], &admin_options())
            .await
            .context("AlterConfigs")?;
        ensure!(
            matches!(results.as_slice(), [Ok(_)]),
            "AlterConfigs: {results:?}"
        );
        let described = describe_topic(&admin, "configured").await?;
        ensure_entry(&described, "retention.ms", "654321", true)?;
        ensure_entry(&described, "cleanup.policy", "delete", false)?;
        ensure_entry(&described, "max.message.bytes", "1048588", false)?;
        Ok(())
    });
}

#[test]
fn create_partitions_from_two_to_five() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        let admin = admin(&bootstrap)?;
        create_topic(&bootstrap, "growing", 2, &[]).await?;

        let results = admin
            .create_partitions([&NewPartitions::new("growing", 5)], &admin_options())
            .await
            .context("CreatePartitions")?;
        ensure!(
            results == vec![Ok("growing".to_string())],
            "CreatePartitions to 5: {results:?}"
        );
        ensure!(partition_count(&bootstrap, "growing")? == Some(5));

        // Shrinking is refused.
        let results = admin
            .create_partitions([&NewPartitions::new("growing", 3)], &admin_options())
            .await
            .context("CreatePartitions")?;
        ensure!(
            results
                == vec![Err((
                    "growing".to_string(),
                    RDKafkaErrorCode::InvalidPartitions
                ))],
            "CreatePartitions to 3 (fewer): {results:?}"
        );
        ensure!(partition_count(&bootstrap, "growing")? == Some(5));

        // The new partition 4 takes writes from offset 0 and serves them back.
        let producer = producer(&bootstrap, &[])?;
        let record = Outgoing {
            partition: Some(4),
            value: b"on partition four".to_vec(),
            ..Outgoing::default()
        };
        let delivered = send_all(&producer, "growing", &[record]).await?;
        ensure!(
            (delivered[0].partition, delivered[0].offset) == (4, 0),
            "delivered to {:?}",
            delivered[0]
        );
        let read = read_topic(&bootstrap, "growing", 5).await?;
        let got: Vec<_> = read
            .iter()
            .map(|r| (r.partition, r.offset, r.value.clone()))
            .collect();
        ensure!(
            got == vec![(4, 0, Some(b"on partition four".to_vec()))],
            "read {got:?}"
        );
        Ok(())
    });
}

#[test]
fn delete_topic() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        let admin = admin(&bootstrap)?;
        create_topic(&bootstrap, "doomed", 2, &[]).await?;
        create_topic(&bootstrap, "survivor", 1, &[]).await?;
        ensure!(topic_names(&bootstrap)?.contains(&"doomed".to_string()));

        let results = admin
            .delete_topics(&["doomed"], &admin_options())
            .await
            .context("DeleteTopics")?;
        ensure!(
            results == vec![Ok("doomed".to_string())],
            "DeleteTopics: {results:?}"
        );
        let names = topic_names(&bootstrap)?;
        ensure!(
            !names.contains(&"doomed".to_string()) && names.contains(&"survivor".to_string()),
            "topics after delete: {names:?}"
        );

        let results = admin
            .delete_topics(&["doomed"], &admin_options())
            .await
            .context("DeleteTopics")?;
        ensure!(
            results
                == vec![Err((
                    "doomed".to_string(),
                    RDKafkaErrorCode::UnknownTopicOrPartition
                ))],
            "deleting a missing topic: {results:?}"
        );
        Ok(())
    });
}

#[test]
fn create_errors_and_validate_only() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let bootstrap = broker.bootstrap();
        let admin = admin(&bootstrap)?;

        let bad = NewTopic::new("bad/name", 1, TopicReplication::Fixed(1));
        let outcome = try_create(&admin, &bad, false).await?;
        ensure!(
            outcome == Err(RDKafkaErrorCode::InvalidTopic),
            "bad/name: {outcome:?}"
        );

        create_topic(&bootstrap, "exists", 1, &[]).await?;
        let again = NewTopic::new("exists", 1, TopicReplication::Fixed(1));
        let outcome = try_create(&admin, &again, false).await?;
        ensure!(
            outcome == Err(RDKafkaErrorCode::TopicAlreadyExists),
            "creating an existing topic: {outcome:?}"
        );

        let bad_value = NewTopic::new("bad-config", 1, TopicReplication::Fixed(1))
            .set("retention.ms", "not-a-number");
        let outcome = try_create(&admin, &bad_value, false).await?;
        ensure!(
            outcome == Err(RDKafkaErrorCode::InvalidConfig),
            "retention.ms=not-a-number: {outcome:?}"
        );
        let unknown_key =
            NewTopic::new("bad-config", 1, TopicReplication::Fixed(1)).set("no.such.config", "1");
        let outcome = try_create(&admin, &unknown_key, false).await?;
        ensure!(
            outcome == Err(RDKafkaErrorCode::InvalidConfig),
            "no.such.config=1: {outcome:?}"
        );

        let dry = NewTopic::new("dry-run", 4, TopicReplication::Fixed(1));
        let outcome = try_create(&admin, &dry, true).await?;
        ensure!(
            outcome == Ok("dry-run".to_string()),
            "validate_only: {outcome:?}"
        );
        let names = topic_names(&bootstrap)?;
        ensure!(
            names == vec!["exists".to_string()],
            "topics after the failed and validate-only creates: {names:?}"
        );
        Ok(())
    });
}

fn cli_ok(args: &[&str]) -> Result<String> {
    let out = strata_cli(args)?;
    out.ensure_success(&format!("strata {}", args.join(" ")))?;
    Ok(out.stdout_str())
}

fn lists(output: &str, topic: &str) -> bool {
    output
        .lines()
        .any(|l| l.split_whitespace().any(|w| w == topic))
}

#[test]
fn strata_topic_cli() {
    run(Duration::from_secs(90), async {
        let broker = Broker::start(&[])?;
        let b = broker.bootstrap();
        let bs = ["--bootstrap-server", b.as_str()];
        let with = |args: &[&'static str]| -> Vec<&str> {
            args.iter().copied().chain(bs.iter().copied()).collect()
        };

        cli_ok(&with(&[
            "topic",
            "create",
            "cli-topic",
            "--partitions",
            "3",
            "--config",
            "retention.ms=777777",
        ]))?;
        ensure!(partition_count(&b, "cli-topic")? == Some(3));
        let admin = admin(&b)?;
        ensure_entry(
            &describe_topic(&admin, "cli-topic").await?,
            "retention.ms",
            "777777",
            true,
        )?;

        let listed = cli_ok(&with(&["topic", "list"]))?;
        ensure!(lists(&listed, "cli-topic"), "topic list:\n{listed}");

        let described = cli_ok(&with(&["topic", "describe", "cli-topic"]))?;
        ensure!(
            described.contains("cli-topic"),
            "topic describe:\n{described}"
        );

        cli_ok(&with(&[
            "topic",
            "alter",
            "cli-topic",
            "--config",
            "retention.ms=888888",
        ]))?;
        ensure_entry(
            &describe_topic(&admin, "cli-topic").await?,
            "retention.ms",
            "888888",
            true,
        )?;

        // Failures exit non-zero.
        let dup = strata_cli(&with(&[
            "topic",
            "create",
            "cli-topic",
            "--partitions",
            "1",
        ]))?;
        ensure!(
            !dup.status.success(),
            "creating an existing topic with the CLI exited 0"
        );

        cli_ok(&with(&["topic", "delete", "cli-topic"]))?;
        let listed = cli_ok(&with(&["topic", "list"]))?;
        ensure!(
            !lists(&listed, "cli-topic"),
            "topic list after delete:\n{listed}"
        );
        ensure!(partition_count(&b, "cli-topic")?.is_none());
        Ok(())
    });
}
