//! Merging broker settings from the TOML file, the environment and flags.
//!
//! TOML keys are Kafka names. Because TOML reads `log.retention.ms = 1` as nested tables, nested
//! tables are flattened back into dotted names, so both `log.retention.ms = 1` and
//! `[log] retention.ms = 1` mean the Kafka setting `log.retention.ms`. Environment variables
//! `STRATA_LOG_RETENTION_MS=1` map to `log.retention.ms` (Kafka names contain no underscores).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// Environment variables with this prefix are broker settings.
const ENV_PREFIX: &str = "STRATA_";

/// Merges file < environment < flags into one map of Kafka names to values.
pub(crate) fn merge(
    file: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
    flags: Vec<(String, String)>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read config file {}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("parse config file {}", path.display()))?;
        flatten("", &table, &mut out);
    }
    for (k, v) in env {
        if let Some(name) = k.strip_prefix(ENV_PREFIX) {
            out.insert(name.to_ascii_lowercase().replace('_', "."), v);
        }
    }
    out.extend(flags);
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Array(items) => {
                let joined: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.insert(key, joined.join(","));
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_flattening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "num.partitions = 3\nlog.retention.ms = 1000\nlisteners = \"127.0.0.1:1\"\n[log.segment]\nbytes = 2048\n",
        )
        .unwrap();
        let env = vec![
            ("STRATA_NUM_PARTITIONS".to_string(), "4".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let flags = vec![("listeners".to_string(), "127.0.0.1:2".to_string())];
        let m = merge(Some(&path), env.into_iter(), flags).unwrap();
        assert_eq!(m["num.partitions"], "4");
        assert_eq!(m["log.retention.ms"], "1000");
        assert_eq!(m["log.segment.bytes"], "2048");
        assert_eq!(m["listeners"], "127.0.0.1:2");
        assert!(!m.contains_key("home"));
    }
}
