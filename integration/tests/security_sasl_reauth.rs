//! SASL re-authentication (KIP-368, issue 13, slice 2), against the broker of
//! [`strata_integration::sasl_broker`] with `connections.max.reauth.ms=2000`.
//!
//! A producer (retries=0, acks=all) sending a record every 200 ms for 8 s gets every record
//! acknowledged at offsets 0..n; librdkafka re-authenticated its connection at least three
//! times; the broker closed no expired session; the partition holds exactly the n records.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_integration::pyclient::{fields, script, strings};
use strata_integration::run;
use strata_integration::sasl_broker::{read_plain, SaslBroker};

#[test]
fn a_producer_outlives_its_session_by_reauthenticating() {
    run(Duration::from_secs(90), async {
        let sb = SaslBroker::start(&["--set", "connections.max.reauth.ms=2000"])?;
        let mut args = sb.admin_over_sasl_ssl("SCRAM-SHA-512");
        args.extend(strings(&[
            "--topic",
            "reauth",
            "--seconds",
            "8",
            "--interval",
            "0.2",
        ]));
        let lines = script("sasl_reauth.py", &args).await?;

        let sent: usize = fields(&lines, "SENT")
            .first()
            .and_then(|f| f.first())
            .context("no SENT line")?
            .parse()?;
        ensure!(sent >= 10, "only {sent} records sent in 8 s");
        let want: Vec<(i32, i64, String)> =
            (0..sent).map(|i| (0, i as i64, format!("r{i}"))).collect();
        let triples = |prefix: &str| -> Result<Vec<(i32, i64, String)>> {
            fields(&lines, prefix)
                .into_iter()
                .map(|f| {
                    ensure!(f.len() == 3, "{prefix} {f:?}");
                    Ok((f[0].parse()?, f[1].parse()?, f[2].clone()))
                })
                .collect()
        };
        ensure!(
            triples("ACK")? == want,
            "acknowledged: {:?}",
            triples("ACK")?
        );
        ensure!(triples("REC")? == want, "read back: {:?}", triples("REC")?);
        let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("ERR ")).collect();
        ensure!(errors.is_empty(), "producer errors: {errors:?}");
        let reauth: u32 = fields(&lines, "REAUTH")
            .first()
            .and_then(|f| f.first())
            .context("no REAUTH line")?
            .parse()?;
        ensure!(
            reauth >= 3,
            "librdkafka re-authenticated {reauth} times in 8 s with a 2 s session"
        );
        let expired = sb.metric("strata_sasl_sessions_expired_total")?;
        ensure!(expired == 0.0, "{expired} sessions closed as expired");
        let values: Vec<(i32, i64, String)> = read_plain(&sb, "reauth", 1)
            .await?
            .into_iter()
            .map(|r| (r.0, r.1, r.3))
            .collect();
        ensure!(values == want, "the partition holds {values:?}");
        Ok(())
    });
}
