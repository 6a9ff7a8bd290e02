//! The client scripts of `integration/py/` as the TLS, SASL and ACL scenarios
//! (`tests/security_{tls,sasl,acl}_*.rs`) use them: run one from an async test with owned
//! arguments, and read what it printed.
//!
//! Invariants of the scripts' output: one fact per line, `<PREFIX> <rest>`, read either whole
//! ([`picked`]) or as fields separated by spaces, none of which holds a space ([`fields`]);
//! `DONE` is the last line of a run that passed ([`run_script`](crate::txn::run_script) fails
//! without it). A record is printed as `<PREFIX> <partition> <offset> <key> <value>` and read
//! as a [`Rec`]; a committed offset as `COMMITTED [<label>] <partition> <offset>`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Result};

use crate::txn::run_script_async;

/// The time limit of one client script unless a scenario says otherwise.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// A record as a script printed it: (partition, offset, key, value).
pub type Rec = (i32, i64, String, String);

/// `items` as owned strings (script and command-line arguments).
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `args` with `more` appended.
pub fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(strings(more));
    args
}

/// Runs `integration/py/<name>` with `args` within `timeout` ([`run_script_async`]); its
/// stdout lines, the last of which is `DONE`.
pub async fn script_within(name: &str, args: &[String], timeout: Duration) -> Result<Vec<String>> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(run_script_async(name, &args, timeout).await?.lines)
}

/// [`script_within`] with [`SCRIPT_TIMEOUT`].
pub async fn script(name: &str, args: &[String]) -> Result<Vec<String>> {
    script_within(name, args, SCRIPT_TIMEOUT).await
}

/// The rest of every line starting with `prefix `, in the order printed.
pub fn picked(lines: &[String], prefix: &str) -> Vec<String> {
    let prefix = format!("{prefix} ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The whitespace-separated fields after `prefix ` of every line that starts with it.
pub fn fields(lines: &[String], prefix: &str) -> Vec<Vec<String>> {
    picked(lines, prefix)
        .iter()
        .map(|rest| rest.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// `<prefix> p o key value` lines as records (values may be long: a bad line is reported by
/// its number of fields and their beginnings).
pub fn recs(lines: &[String], prefix: &str) -> Result<Vec<Rec>> {
    fields(lines, prefix)
        .into_iter()
        .map(|f| {
            let heads: Vec<&str> = f.iter().map(|s| &s[..s.len().min(40)]).collect();
            ensure!(
                f.len() == 4,
                "{prefix} line with {} fields {heads:?}",
                f.len()
            );
            Ok((f[0].parse()?, f[1].parse()?, f[2].clone(), f[3].clone()))
        })
        .collect()
}

/// `COMMITTED <label> <p> <o>` (or `COMMITTED <p> <o>` with an empty label) as p → o.
pub fn committed(lines: &[String], label: &str) -> Result<BTreeMap<i32, i64>> {
    let prefix = if label.is_empty() {
        "COMMITTED".to_string()
    } else {
        format!("COMMITTED {label}")
    };
    fields(lines, &prefix)
        .into_iter()
        .map(|f| {
            ensure!(f.len() == 2, "{prefix} line with fields {f:?}");
            Ok((f[0].parse()?, f[1].parse()?))
        })
        .collect()
}

/// `v`, sorted.
pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}
