//! Produce requests of about 1 MB over TLS (issue 13, speed): on TLS connections the broker
//! keeps the socket's receive low-water mark at the rest of a large frame
//! (`crates/broker/src/low_water.rs`), so these frames are exactly the ones read with the mark
//! set, and the small request after them is the one read after it is reset to 1.
//!
//! With the mark on (the default) and off (`strata.tls.low.water=false`): 24 records of
//! 300,000 bytes and one of 10 bytes, produced by confluent-kafka over SSL with batch.size
//! 1,000,000 and linger.ms 200, are acknowledged at offsets 0..=24 in order, and read back over
//! SSL from offset 0 byte for byte (`big_value`). A stalled read would leave records
//! unacknowledged (the client gives up after 60 s) and fail the run.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_integration::certs::TestCerts;
use strata_integration::pyclient::with;
use strata_integration::run;
use strata_integration::tls_broker::TlsBroker;
use strata_integration::tls_clients::py;

const COUNT: usize = 24;
const SIZE: usize = 300_000;

/// The `BIGACK` and `BIG` lines of one `bigframes` run, checked exactly.
fn ensure_round_trip(lines: &[String]) -> Result<()> {
    let field = |prefix: &str| -> Vec<Vec<String>> {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.split(' ').skip(1).map(String::from).collect())
            .collect()
    };
    let want: Vec<(String, String)> = (0..=COUNT)
        .map(|o| (o.to_string(), if o < COUNT { SIZE } else { 10 }.to_string()))
        .collect();
    let acks: Vec<(String, String)> = field("BIGACK ")
        .into_iter()
        .map(|f| (f[0].clone(), f[1].clone()))
        .collect();
    ensure!(
        acks == want,
        "acknowledged (offset, length): {acks:?}, want {want:?}"
    );
    let reads = field("BIG ");
    let got: Vec<(String, String)> = reads.iter().map(|f| (f[0].clone(), f[1].clone())).collect();
    ensure!(
        got == want,
        "read back (offset, length): {got:?}, want {want:?}"
    );
    let bad: Vec<&Vec<String>> = reads.iter().filter(|f| f[2] != "ok").collect();
    ensure!(bad.is_empty(), "records whose bytes differ: {bad:?}");
    Ok(())
}

#[test]
fn large_produce_frames_over_tls_with_and_without_the_low_water_mark() {
    run(Duration::from_secs(300), async {
        for (label, extra) in [
            ("low water on", Vec::new()),
            (
                "low water off",
                vec![
                    "--set".to_string(),
                    "strata.tls.low.water=false".to_string(),
                ],
            ),
        ] {
            let tb = TlsBroker::start(TestCerts::generate()?, false, |_| extra.clone())?;
            let topic = "tls-big";
            py(with(
                tb.ssl_flags("create"),
                &["--topic", topic, "--partitions", "1"],
            ))
            .await
            .context(label)?;
            let lines = py(with(
                tb.ssl_flags("bigframes"),
                &[
                    "--topic",
                    topic,
                    "--count",
                    &COUNT.to_string(),
                    "--size",
                    &SIZE.to_string(),
                ],
            ))
            .await
            .context(label)?;
            ensure_round_trip(&lines).context(label)?;
        }
        Ok(())
    });
}
