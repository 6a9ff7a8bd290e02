//! Real clients produce and consume over SASL_SSL (issue 13, slice 2), against the broker of
//! [`strata_integration::sasl_broker`] (PLAINTEXT, SASL_SSL and SASL_PLAINTEXT listeners; the
//! user `admin` for both SCRAM mechanisms).
//!
//! - confluent-kafka over SASL_SSL, SCRAM-SHA-256 and PLAIN: 60 keyed records acknowledged at
//!   contiguous offsets; consumer A of a group reads 35 and commits exactly what it read;
//!   consumer B of the group reads exactly the other 25 (no duplicate, no gap) and commits the
//!   end of every partition; the PLAINTEXT listener reads back the same 60 records.
//! - kafka-python (its own SCRAM and TLS code) over SASL_SSL with SCRAM-SHA-512: produce and
//!   consume 30 keyed records exactly; its group commits the end of both partitions.
//! - kcat over SASL_SSL (SCRAM-SHA-256): produces 5 records and consumes all 45 (40 written on
//!   the PLAINTEXT listener) exactly, as `partition offset key value`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_integration::kcat_tls::kcat_async;
use strata_integration::pyclient::{committed, recs, script, sorted, strings, Rec};
use strata_integration::sasl_broker::{read_plain, SaslBroker};
use strata_integration::{create_topic, producer, run, send_all, Outgoing};

/// Checks the acknowledgements of `count` records `k<i:03>` → `<value_prefix><i><suffix>`:
/// every key once with its value, each partition's offsets 0..n. Returns partition → n.
fn check_acks(
    acks: &[Rec],
    count: usize,
    value: impl Fn(usize) -> String,
) -> Result<BTreeMap<i32, i64>> {
    ensure!(
        acks.len() == count,
        "{} acknowledgements, expected {count}",
        acks.len()
    );
    let by_key: BTreeMap<&str, &Rec> = acks.iter().map(|r| (r.2.as_str(), r)).collect();
    ensure!(by_key.len() == count, "a key acknowledged twice: {acks:?}");
    for i in 0..count {
        let key = format!("k{i:03}");
        let r = by_key
            .get(key.as_str())
            .with_context(|| format!("{key} not acknowledged"))?;
        ensure!(r.3 == value(i), "{key} acknowledged with value {}", r.3);
    }
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in acks {
        offsets.entry(r.0).or_default().push(r.1);
    }
    let mut ends = BTreeMap::new();
    for (p, mut os) in offsets {
        os.sort_unstable();
        let n = os.len() as i64;
        ensure!(
            os == (0..n).collect::<Vec<_>>(),
            "partition {p} offsets {os:?}"
        );
        ends.insert(p, n);
    }
    Ok(ends)
}

#[test]
fn confluent_kafka_scram_and_plain_over_sasl_ssl_produce_consume_and_resume() {
    run(Duration::from_secs(120), async {
        let sb = SaslBroker::start(&[])?;
        for (mechanism, topic, group, tag) in [
            ("SCRAM-SHA-256", "scram256", "g-scram256", "s256"),
            ("PLAIN", "plain", "g-plain", "plain"),
        ] {
            let what = format!("{mechanism} over SASL_SSL");
            let mut args = sb.admin_over_sasl_ssl(mechanism);
            args.extend(strings(&[
                "--topic",
                topic,
                "--group",
                group,
                "--partitions",
                "3",
                "--count",
                "60",
                "--first",
                "35",
                "--tag",
                tag,
            ]));
            let lines = script("sasl_produce_consume.py", &args).await?;
            let acks = recs(&lines, "ACK")?;
            let ends =
                check_acks(&acks, 60, |i| format!("v{i}-{tag}")).with_context(|| what.clone())?;
            ensure!(ends.keys().copied().eq(0..3), "{what}: partitions {ends:?}");

            // Consumer A: 35 records, a prefix of each partition; its commit is exactly that.
            let a = recs(&lines, "REC A")?;
            ensure!(a.len() == 35, "{what}: A read {} records", a.len());
            let mut a_ends: BTreeMap<i32, i64> = BTreeMap::new();
            for r in &a {
                ensure!(acks.contains(r), "{what}: A read {r:?}, never acknowledged");
                let next = a_ends.entry(r.0).or_insert(0);
                ensure!(
                    r.1 == *next,
                    "{what}: A read {r:?} after offset {}",
                    *next - 1
                );
                *next += 1;
            }
            let want_a: BTreeMap<i32, i64> = (0..3)
                .map(|p| (p, a_ends.get(&p).copied().unwrap_or(-1001)))
                .collect();
            ensure!(
                committed(&lines, "A")? == want_a,
                "{what}: A committed {:?}, read {a_ends:?}",
                committed(&lines, "A")?
            );

            // Consumer B of the same group: exactly the rest, then the end of every partition.
            let b = recs(&lines, "REC B")?;
            ensure!(b.len() == 25, "{what}: B read {} records: {b:?}", b.len());
            for r in &b {
                ensure!(
                    r.1 >= a_ends.get(&r.0).copied().unwrap_or(0),
                    "{what}: B read {r:?}, already committed by A"
                );
            }
            let mut both = a.clone();
            both.extend(b.iter().cloned());
            ensure!(
                sorted(both) == sorted(acks.clone()),
                "{what}: A and B together are not the 60 records"
            );
            ensure!(
                committed(&lines, "B")? == ends,
                "{what}: B committed {:?}",
                committed(&lines, "B")?
            );

            // The log holds exactly the acknowledged records.
            ensure!(
                read_plain(&sb, topic, 3).await? == sorted(acks),
                "{what}: PLAINTEXT read differs"
            );
        }
        Ok(())
    });
}

/// kafka-python's SSL context takes the CA file and checks the host name, so SASL_SSL works
/// as it is; the test uses SASL_SSL.
#[test]
fn kafka_python_scram_sha_512_over_sasl_ssl() {
    run(Duration::from_secs(90), async {
        let sb = SaslBroker::start(&[])?;
        let mut args = sb.admin_over_sasl_ssl("SCRAM-SHA-512");
        args.extend(strings(&[
            "--topic",
            "kp",
            "--group",
            "g-kp",
            "--partitions",
            "2",
            "--count",
            "30",
        ]));
        let lines = script("sasl_kafka_python.py", &args).await?;
        let acks = recs(&lines, "ACK")?;
        let ends = check_acks(&acks, 30, |i| format!("py{i}"))?;
        let read = recs(&lines, "REC")?;
        ensure!(
            read.len() == 30,
            "kafka-python read {} records: {read:?}",
            read.len()
        );
        ensure!(
            sorted(read) == sorted(acks.clone()),
            "kafka-python read other records"
        );
        ensure!(
            committed(&lines, "")? == ends,
            "committed {:?}, ends {ends:?}",
            committed(&lines, "")?
        );
        ensure!(
            read_plain(&sb, "kp", 2).await? == sorted(acks),
            "PLAINTEXT read differs"
        );
        Ok(())
    });
}

#[test]
fn kcat_over_sasl_ssl_scram_sha_256() {
    run(Duration::from_secs(90), async {
        let sb = SaslBroker::start(&[])?;
        create_topic(&sb.plaintext, "kc", 2, &[]).await?;
        let records: Vec<Outgoing> = (0..40)
            .map(|i| Outgoing {
                partition: Some(i % 2),
                key: Some(format!("k{i}").into_bytes()),
                value: format!("v{i}").into_bytes(),
                ..Outgoing::default()
            })
            .collect();
        send_all(&producer(&sb.plaintext, &[])?, "kc", &records).await?;

        let ca = sb.ca();
        let sasl = [
            "-b",
            sb.sasl_ssl.as_str(),
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.mechanisms=SCRAM-SHA-256",
            "-X",
            "sasl.username=admin",
            "-X",
            "sasl.password=admin-secret",
            "-X",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("ssl.ca.location={ca}")])
        .collect::<Vec<_>>();
        let with =
            |more: &[&str]| -> Vec<String> { sasl.iter().cloned().chain(strings(more)).collect() };

        let out = kcat_async(
            with(&["-P", "-t", "kc", "-p", "1", "-K", ":"]),
            b"x0:y0\nx1:y1\nx2:y2\nx3:y3\nx4:y4\n",
        )
        .await?;
        out.ensure_success("kcat -P over SASL_SSL")?;
        let out = kcat_async(
            with(&["-C", "-t", "kc", "-e", "-q", "-f", "%p %o %k %s\\n"]),
            b"",
        )
        .await?;
        out.ensure_success("kcat -C over SASL_SSL")?;
        let mut got: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
        got.sort();
        let mut want: Vec<String> = (0..40)
            .map(|i| format!("{} {} k{i} v{i}", i % 2, i / 2))
            .chain((0..5).map(|i| format!("1 {} x{i} y{i}", 20 + i)))
            .collect();
        want.sort();
        ensure!(
            got == want,
            "kcat read:\n{}\nstderr:\n{}",
            got.join("\n"),
            out.stderr
        );
        Ok(())
    });
}
