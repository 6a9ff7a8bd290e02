//! One login attempt of the SASL scenarios (`tests/security_sasl_*.rs`):
//! `integration/py/sasl_login.py` (confluent-kafka) connects with the given flags, fetches
//! metadata and, when asked, produces one record; [`Login`] is what it reported.
//!
//! Invariants: a run reports exactly one of `LOGIN OK` / `LOGIN FAIL`; a refused login got no
//! metadata and every authentication error is the broker's message ([`AUTH_FAILED`]); a
//! client without SASL on a SASL port got no metadata and transport errors only.

use anyhow::{bail, ensure, Context, Result};

use crate::pyclient::{fields, picked, script, strings};

/// librdkafka's text for a SASL_AUTHENTICATION_FAILED answer with the broker's message.
pub const AUTH_FAILED: &str =
    "SASL authentication error: Authentication failed: Invalid username or password";

/// What `sasl_login.py` reported.
#[derive(Debug)]
pub struct Login {
    /// Whether metadata came back.
    pub ok: bool,
    /// The topics the metadata listed.
    pub topics: Vec<String>,
    /// Where the one record was acknowledged: (partition, offset).
    pub ack: Option<(i32, i64)>,
    /// (librdkafka error code name, text).
    pub errors: Vec<(String, String)>,
}

impl Login {
    fn auth_errors(&self) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|(code, _)| code == "_AUTHENTICATION")
            .map(|(_, text)| text.as_str())
            .collect()
    }

    /// A refused login: no metadata, and every authentication error is the broker's message.
    pub fn ensure_refused(&self, what: &str) -> Result<()> {
        ensure!(
            !self.ok && self.topics.is_empty(),
            "{what}: logged in: {self:?}"
        );
        let auth = self.auth_errors();
        ensure!(
            !auth.is_empty(),
            "{what}: no authentication error: {self:?}"
        );
        for text in auth {
            ensure!(text.contains(AUTH_FAILED), "{what}: error {text:?}");
        }
        Ok(())
    }

    /// No SASL on a SASL port: no metadata, no authentication error, transport errors only.
    pub fn ensure_cut_off(&self, what: &str) -> Result<()> {
        ensure!(
            !self.ok && self.topics.is_empty(),
            "{what}: got metadata: {self:?}"
        );
        ensure!(
            self.auth_errors().is_empty(),
            "{what}: authentication error: {self:?}"
        );
        ensure!(
            self.errors
                .iter()
                .any(|(code, _)| code == "_TRANSPORT" || code == "_ALL_BROKERS_DOWN"),
            "{what}: no transport error: {self:?}"
        );
        Ok(())
    }
}

/// Runs `sasl_login.py`; with `produce = Some((topic, value))` a client that logs in produces
/// one record.
pub async fn login(
    args: Vec<String>,
    wait_s: &str,
    produce: Option<(&str, &str)>,
) -> Result<Login> {
    let mut args = args;
    args.extend(strings(&["--wait", wait_s]));
    if let Some((topic, value)) = produce {
        args.extend(strings(&["--topic", topic, "--value", value]));
    }
    let lines = script("sasl_login.py", &args).await?;
    let ok = lines.iter().any(|l| l == "LOGIN OK");
    let failed = lines.iter().any(|l| l == "LOGIN FAIL");
    ensure!(ok != failed, "sasl_login.py: {lines:?}");
    let ack = match fields(&lines, "ACK").as_slice() {
        [] => None,
        [f] if f.len() == 2 => Some((f[0].parse()?, f[1].parse()?)),
        other => bail!("ACK lines {other:?}"),
    };
    Ok(Login {
        ok,
        topics: fields(&lines, "TOPIC").into_iter().flatten().collect(),
        ack,
        errors: picked(&lines, "ERR")
            .iter()
            .map(|rest| {
                let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
                (code.to_string(), text.to_string())
            })
            .collect(),
    })
}

/// A login that must succeed; returns the produced record's (partition, offset).
pub async fn login_ok(
    args: Vec<String>,
    topic: &str,
    value: &str,
    what: &str,
) -> Result<(i32, i64)> {
    let l = login(args, "15", Some((topic, value))).await?;
    ensure!(l.ok, "{what}: login failed: {l:?}");
    ensure!(
        l.topics.iter().any(|t| t == topic),
        "{what}: {topic} not listed: {l:?}"
    );
    l.ack.with_context(|| format!("{what}: no ACK: {l:?}"))
}
