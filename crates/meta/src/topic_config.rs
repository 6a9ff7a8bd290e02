//! The topic configs Strata knows, with Kafka's names, types, defaults and broker synonyms.
//!
//! Invariants:
//! - values are checked once, at the edge, by [`normalize`]: trimmed, length-capped
//!   ([`MAX_VALUE_LEN`]), typed and range-checked with Kafka 4's bounds; what is stored is the
//!   normalized form (booleans lower-case, list items trimmed), so effective values always parse;
//! - the effective value of a config is: the topic override, else the broker's setting of its
//!   synonym (`broker_key`), else the Kafka default here.

use crate::error::{MetaError, MetaErrorKind};

/// The type of a config value, with its legal range.
#[derive(Debug, Clone, Copy)]
pub enum ConfigKind {
    /// i64 with a minimum.
    Long(i64),
    /// i32 with a minimum.
    Int(i32),
    /// `true` / `false`.
    Bool,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A comma-separated list of these strings (non-empty).
    List(&'static [&'static str]),
    /// A double in `[0, 1]`.
    Ratio,
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// Kafka's topic config name.
    pub name: &'static str,
    /// The broker config that supplies the default, if any.
    pub broker_key: Option<&'static str>,
    /// Kafka's default value.
    pub default: &'static str,
    /// Type and range.
    pub kind: ConfigKind,
    /// Kafka's documentation type name, for DescribeConfigs v3+.
    pub type_name: &'static str,
}

const fn def(
    name: &'static str,
    broker_key: Option<&'static str>,
    default: &'static str,
    kind: ConfigKind,
) -> TopicConfigDef {
    let type_name = match kind {
        ConfigKind::Long(_) => "LONG",
        ConfigKind::Int(_) => "INT",
        ConfigKind::Bool => "BOOLEAN",
        ConfigKind::Enum(_) => "STRING",
        ConfigKind::List(_) => "LIST",
        ConfigKind::Ratio => "DOUBLE",
    };
    TopicConfigDef {
        name,
        broker_key,
        default,
        kind,
        type_name,
    }
}

const LONG_MAX: &str = "9223372036854775807";
/// Kafka 4's lower bound for `segment.bytes` (1 MiB, KIP-1030).
const SEGMENT_BYTES_MIN: i32 = 1024 * 1024;
/// Longest config value accepted (no Kafka topic config needs more).
pub const MAX_VALUE_LEN: usize = 1024;

/// Every topic config, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        Some("log.cleanup.policy"),
        "delete",
        ConfigKind::List(&["compact", "delete"]),
    ),
    def(
        "compression.type",
        Some("compression.type"),
        "producer",
        ConfigKind::Enum(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    def(
        "delete.retention.ms",
        Some("log.cleaner.delete.retention.ms"),
        "86400000",
        ConfigKind::Long(0),
    ),
    def(
        "file.delete.delay.ms",
        Some("log.segment.delete.delay.ms"),
        "60000",
        ConfigKind::Long(0),
    ),
    def(
        "flush.messages",
        Some("log.flush.interval.messages"),
        LONG_MAX,
        ConfigKind::Long(1),
    ),
    def(
        "flush.ms",
        Some("log.flush.interval.ms"),
        LONG_MAX,
        ConfigKind::Long(0),
    ),
    def(
        "index.interval.bytes",
        Some("log.index.interval.bytes"),
        "4096",
        ConfigKind::Int(0),
    ),
    def(
        "local.retention.bytes",
        Some("log.local.retention.bytes"),
        "-2",
        ConfigKind::Long(-2),
    ),
    def(
        "local.retention.ms",
        Some("log.local.retention.ms"),
        "-2",
        ConfigKind::Long(-2),
    ),
    def(
        "max.compaction.lag.ms",
        Some("log.cleaner.max.compaction.lag.ms"),
        LONG_MAX,
        ConfigKind::Long(1),
    ),
    def(
        "max.message.bytes",
        Some("message.max.bytes"),
        "1048588",
        ConfigKind::Int(0),
    ),
    def(
        "message.timestamp.after.max.ms",
        Some("log.message.timestamp.after.max.ms"),
        "3600000",
        ConfigKind::Long(0),
    ),
    def(
        "message.timestamp.before.max.ms",
        Some("log.message.timestamp.before.max.ms"),
        LONG_MAX,
        ConfigKind::Long(0),
    ),
    def(
        "message.timestamp.type",
        Some("log.message.timestamp.type"),
        "CreateTime",
        ConfigKind::Enum(&["CreateTime", "LogAppendTime"]),
    ),
    def(
        "min.cleanable.dirty.ratio",
        Some("log.cleaner.min.cleanable.ratio"),
        "0.5",
        ConfigKind::Ratio,
    ),
    def(
        "min.compaction.lag.ms",
        Some("log.cleaner.min.compaction.lag.ms"),
        "0",
        ConfigKind::Long(0),
    ),
    def(
        "min.insync.replicas",
        Some("min.insync.replicas"),
        "1",
        ConfigKind::Int(1),
    ),
    def(
        "preallocate",
        Some("log.preallocate"),
        "false",
        ConfigKind::Bool,
    ),
    def("remote.storage.enable", None, "false", ConfigKind::Bool),
    def(
        "retention.bytes",
        Some("log.retention.bytes"),
        "-1",
        ConfigKind::Long(i64::MIN),
    ),
    def(
        "retention.ms",
        Some("log.retention.ms"),
        "604800000",
        ConfigKind::Long(-1),
    ),
    def(
        "segment.bytes",
        Some("log.segment.bytes"),
        "1073741824",
        ConfigKind::Int(SEGMENT_BYTES_MIN),
    ),
    def(
        "segment.index.bytes",
        Some("log.index.size.max.bytes"),
        "10485760",
        ConfigKind::Int(4),
    ),
    def(
        "segment.jitter.ms",
        Some("log.roll.jitter.ms"),
        "0",
        ConfigKind::Long(0),
    ),
    def(
        "segment.ms",
        Some("log.roll.ms"),
        "604800000",
        ConfigKind::Long(1),
    ),
    def(
        "strata.acks.all.fsync",
        Some("strata.acks.all.fsync"),
        "true",
        ConfigKind::Bool,
    ),
    def("strata.parquet.enable", None, "false", ConfigKind::Bool),
    def(
        "strata.parquet.max.lag.segments",
        None,
        "10",
        ConfigKind::Int(0),
    ),
    def(
        "unclean.leader.election.enable",
        Some("unclean.leader.election.enable"),
        "false",
        ConfigKind::Bool,
    ),
];

/// Looks a topic config up by name.
pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Validates `value` for the topic config `name` (INVALID_CONFIG on failure).
pub fn validate(name: &str, value: &str) -> Result<(), MetaError> {
    normalize(name, value).map(|_| ())
}

/// Checks `value` for the topic config `name` and returns the form to store: trimmed, and for
/// booleans and lists, canonical. INVALID_CONFIG for an unknown name, a value longer than
/// [`MAX_VALUE_LEN`], a wrong type or an out-of-range value.
pub fn normalize(name: &str, value: &str) -> Result<String, MetaError> {
    let invalid = |why: String| MetaError::new(MetaErrorKind::InvalidConfig, why);
    let def = lookup(name.trim()).ok_or_else(|| {
        invalid(format!(
            "Unknown topic config name: {}",
            truncate_for_message(name)
        ))
    })?;
    if value.len() > MAX_VALUE_LEN {
        return Err(invalid(format!(
            "Invalid value for configuration {}: {} bytes is longer than the limit of {MAX_VALUE_LEN}",
            def.name,
            value.len()
        )));
    }
    validate_kind(def, value).map_err(|why| {
        invalid(format!(
            "Invalid value {value} for configuration {}: {why}",
            def.name
        ))
    })?;
    let value = value.trim();
    Ok(match def.kind {
        ConfigKind::Bool => value.to_ascii_lowercase(),
        ConfigKind::List(_) => value
            .split(',')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(","),
        _ => value.to_string(),
    })
}

/// The first 64 bytes of `s`, cut at a character boundary (for error messages).
fn truncate_for_message(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn validate_kind(def: &TopicConfigDef, value: &str) -> Result<(), String> {
    let value = value.trim();
    match def.kind {
        ConfigKind::Long(min) => {
            let v: i64 = value
                .parse()
                .map_err(|_| "Not a number of type LONG".to_string())?;
            (v >= min)
                .then_some(())
                .ok_or_else(|| format!("Value must be at least {min}"))
        }
        ConfigKind::Int(min) => {
            let v: i32 = value
                .parse()
                .map_err(|_| "Not a number of type INT".to_string())?;
            (v >= min)
                .then_some(())
                .ok_or_else(|| format!("Value must be at least {min}"))
        }
        ConfigKind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err("Expected value to be either true or false".into()),
        },
        ConfigKind::Enum(options) => options
            .contains(&value)
            .then_some(())
            .ok_or_else(|| format!("String must be one of: {}", options.join(", "))),
        ConfigKind::List(options) => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if items.iter().all(|i| options.contains(i)) && !items.is_empty() {
                Ok(())
            } else {
                Err(format!("Each item must be one of: {}", options.join(", ")))
            }
        }
        ConfigKind::Ratio => {
            let v: f64 = value
                .parse()
                .map_err(|_| "Not a number of type DOUBLE".to_string())?;
            (0.0..=1.0)
                .contains(&v)
                .then_some(())
                .ok_or_else(|| "Value must be between 0 and 1".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_sorted_and_defaults_validate() {
        for w in TOPIC_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for d in TOPIC_CONFIGS {
            validate(d.name, d.default).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        }
    }

    #[test]
    fn rejects_bad_values_and_names() {
        assert_eq!(
            validate("retention.ms", "-5")
                .unwrap_err()
                .kafka_error_code(),
            40
        );
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "archive").is_err());
        assert!(validate("segment.bytes", "abc").is_err());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
    }

    #[test]
    fn normalizes_and_bounds_values() {
        assert_eq!(normalize("retention.ms", " 1000 ").unwrap(), "1000");
        assert_eq!(normalize("preallocate", "TRUE").unwrap(), "true");
        assert_eq!(
            normalize("cleanup.policy", "compact , delete").unwrap(),
            "compact,delete"
        );
        let code = |n: &str, v: &str| normalize(n, v).unwrap_err().kafka_error_code();
        assert_eq!(
            code("segment.bytes", "1048575"),
            40,
            "Kafka 4 minimum is 1 MiB"
        );
        assert!(normalize("segment.bytes", "1048576").is_ok());
        assert_eq!(code("segment.bytes", "2147483648"), 40, "beyond INT");
        assert_eq!(
            code("retention.ms", "9223372036854775808"),
            40,
            "beyond LONG"
        );
        assert_eq!(code("retention.ms", &"1".repeat(MAX_VALUE_LEN + 1)), 40);
        assert_eq!(code("flush.messages", "0"), 40);
        assert_eq!(code("min.insync.replicas", "1.5"), 40);
        assert_eq!(code("preallocate", "yes"), 40);
        assert_eq!(code(&"ü".repeat(100), "1"), 40);
    }
}
