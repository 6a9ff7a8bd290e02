//! Durability across restarts: 5000 acknowledged records (about 5 MB, across several 1 MiB
//! segments and 3 partitions) read back byte-exact after a graceful SIGTERM restart and again
//! after a SIGKILL restart; after each restart new records continue at the next offset.

use std::time::Duration;

use anyhow::{ensure, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata_integration::client::by_partition;
use strata_integration::{
    create_topic, producer, read_topic, run, send_all, Broker, Delivered, Outgoing,
};

const TOPIC: &str = "durable";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 5000;

fn records(seed: u64, count: usize) -> Vec<Outgoing> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let len = rng.random_range(1..2000usize);
            Outgoing {
                partition: Some((i % PARTITIONS as usize) as i32),
                key: Some(format!("k{seed}-{i}").into_bytes()),
                value: (0..len).map(|_| rng.random::<u8>()).collect(),
                headers: vec![("n".to_string(), Some(i.to_le_bytes().to_vec()))],
                ..Outgoing::default()
            }
        })
        .collect()
}

/// Reads the whole topic and compares it with `sent`/`acked`: exactly those records, each at
/// its acknowledged offset, byte for byte.
async fn verify(bootstrap: &str, sent: &[Outgoing], acked: &[Delivered], when: &str) -> Result<()> {
    let read = read_topic(bootstrap, TOPIC, PARTITIONS).await?;
    ensure!(
        read.len() == sent.len(),
        "{when}: read {} records, {} were acknowledged",
        read.len(),
        sent.len()
    );
    let groups = by_partition(&read, PARTITIONS);
    for (record, delivered) in sent.iter().zip(acked) {
        let p = usize::try_from(delivered.partition)?;
        let o = usize::try_from(delivered.offset)?;
        let got = groups[p].get(o);
        ensure!(
            got.is_some_and(|g| g.offset == delivered.offset
                && g.key == record.key
                && g.value.as_deref() == Some(record.value.as_slice())
                && g.headers == record.headers),
            "{when}: record acked at {p}/{o} differs or is missing (read {:?})",
            got.map(|g| (g.partition, g.offset, g.value.as_ref().map(Vec::len)))
        );
    }
    Ok(())
}

/// After a restart, one more record per partition lands at the next offset.
async fn append_more(
    bootstrap: &str,
    sent: &mut Vec<Outgoing>,
    acked: &mut Vec<Delivered>,
    seed: u64,
) -> Result<()> {
    let more = records(seed, PARTITIONS as usize);
    let producer = producer(bootstrap, &[])?;
    let delivered = send_all(&producer, TOPIC, &more).await?;
    for (record, d) in more.iter().zip(&delivered) {
        let expected = acked.iter().filter(|a| a.partition == d.partition).count() as i64;
        ensure!(
            d.offset == expected,
            "new record on partition {} acked at {}, expected {expected}",
            d.partition,
            d.offset
        );
        sent.push(record.clone());
        acked.push(*d);
    }
    Ok(())
}

#[test]
fn records_survive_sigterm_and_sigkill_restarts() {
    run(Duration::from_secs(240), scenario());
}

async fn scenario() -> Result<()> {
    let mut broker = Broker::start(&["--set", "log.segment.bytes=1048576"])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]).await?;

    let mut sent = records(1, RECORDS);
    let mut acked = {
        let producer = producer(&bootstrap, &[])?;
        send_all(&producer, TOPIC, &sent).await?
    };
    verify(&bootstrap, &sent, &acked, "before any restart").await?;

    let status = broker.sigterm_and_wait()?;
    ensure!(
        status.code() == Some(0),
        "graceful shutdown exited with {status}"
    );
    broker.restart()?;
    verify(&bootstrap, &sent, &acked, "after SIGTERM restart").await?;
    append_more(&bootstrap, &mut sent, &mut acked, 2).await?;

    broker.sigkill()?;
    broker.restart()?;
    verify(&bootstrap, &sent, &acked, "after SIGKILL restart").await?;
    append_more(&bootstrap, &mut sent, &mut acked, 3).await?;
    verify(&bootstrap, &sent, &acked, "after appending post-SIGKILL").await?;
    Ok(())
}
