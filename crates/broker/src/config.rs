//! Broker configuration with Kafka's names.
//!
//! Settings arrive as a flat map of Kafka config names to strings, merged from (lowest to
//! highest precedence) built-in defaults, the TOML file, `STRATA_*` environment variables and
//! command-line flags; see the CLI. This module turns that map into typed settings and keeps the
//! raw map for topic-config defaults (each topic config has a broker synonym, e.g.
//! `retention.ms` ← `log.retention.ms`).
//!
//! Invariant: a [`BrokerConfig`] is only built from a map in which every value parsed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use strata_meta::topic_config::{self, TopicConfigDef};

/// Where a config value came from (Kafka's DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic-level override (TOPIC_CONFIG = 1).
    Topic,
    /// Set in the broker's static config (STATIC_BROKER_CONFIG = 4).
    StaticBroker,
    /// Kafka's default (DEFAULT_CONFIG = 5).
    Default,
}

impl ConfigSource {
    /// Kafka's numeric code.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// Typed broker settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// Where local tools reach this broker (the gRPC admin API): the first PLAINTEXT
    /// listener, else the first.
    pub listen: SocketAddr,
    /// Every listener (`listeners`, `advertised.listeners`; see `listeners.rs`).
    pub listeners: Vec<crate::listeners::Listener>,
    /// The advertised host of the inter-broker listener ([`BrokerConfig::inter_broker`]),
    /// registered with the quorum as this broker's `host`.
    pub advertised_host: String,
    /// Its advertised port (the registered `port`).
    pub advertised_port: i32,
    /// `inter.broker.listener.name`: the listener brokers reach each other on (replication,
    /// transaction markers), and how (see `node_tls.rs`).
    pub inter_broker: crate::node_tls::InterBroker,
    /// `log.dirs` (one directory).
    pub data_dir: PathBuf,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `strata.fetch.zero.copy`: send record bytes with sendfile(2) (true) or copy them.
    pub fetch_zero_copy: bool,
    /// `strata.shutdown.timeout.ms`: how long SIGTERM waits for in-flight requests.
    pub shutdown_timeout_ms: u64,
    /// `max.broker.partitions`: the most partitions this broker hosts (KIP-578's name).
    pub max_broker_partitions: i64,
    /// `strata.replica.fsync`: a follower's copy counts toward the high watermark only once it
    /// is fsynced (Redpanda's rule); read by replication.
    pub replica_fsync: bool,
    /// `controller.quorum.voters` (`--voters`); none: a one-voter quorum of this node.
    pub voters: Option<strata_quorum::Voters>,
    /// `strata.cluster.listen` (`--cluster-listen`): the gRPC listener between nodes; defaults
    /// to this node's address in the voter list.
    pub cluster_listen: Option<SocketAddr>,
    /// TLS of the quorum links (`strata.cluster.listen = SSL://…`); none: plaintext.
    pub cluster_tls: Option<strata_quorum::ClusterTls>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `replica.selector.class` (default none, as Kafka): with Kafka's
    /// `RackAwareReplicaSelector`, leaders send consumers to a follower in their rack and
    /// followers serve consumer fetches (KIP-392; see [`crate::replica_selector`]).
    pub replica_selector: Option<crate::replica_selector::ReplicaSelector>,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `offsets.topic.replication.factor` (3): replicas of `__consumer_offsets`, capped at
    /// the number of voters.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.commit.timeout.ms` (5000): how long an offset commit (or any coordinator
    /// write) waits for the ISR of its `__consumer_offsets` partition.
    pub offsets_commit_timeout_ms: u64,
    /// `transaction.state.log.replication.factor` (3): replicas of `__transaction_state`,
    /// capped at the number of voters.
    pub transaction_state_replication_factor: i16,
    /// The transaction coordinator's settings (`transaction.state.log.num.partitions`,
    /// `transaction.max.timeout.ms`,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    pub txn: strata_txn::TxnConfig,
    /// `broker.heartbeat.interval.ms`: how often a broker tells the controller it is alive.
    pub broker_heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_s: u64,
    /// Connection limits and timeouts (`queued.max.request.bytes`, `max.connections`, ...).
    pub connections: crate::conn_config::ConnectionConfig,
    /// `strata.read.replica` (`strata serve --read-replica`): serve the tiered topics of the
    /// bucket read-only, with no local log of their own (see `read_replica.rs`). Forces
    /// `auto.create.topics.enable=false`.
    pub read_replica: bool,
    /// `--add-scram` entries (Kafka's `kafka-storage format --add-scram` syntax), applied at
    /// start (`sasl/bootstrap.rs`). Kept out of `raw`: they may hold passwords.
    pub add_scram: Vec<String>,
    /// The ACL authorizer (`authorizer.class.name` set to any non-empty value), with
    /// `super.users` and `allow.everyone.if.no.acl.found`; `None`: every request is allowed.
    pub authorizer: Option<strata_meta::acl::AuthorizerSettings>,
    /// The merged raw settings (Kafka names).
    pub raw: BTreeMap<String, String>,
}

/// Built-in defaults for the broker settings Strata reads itself.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("node.id", "0"),
    ("listeners", "127.0.0.1:9092"),
    ("log.dirs", "./strata-data"),
    ("num.partitions", "1"),
    ("default.replication.factor", "1"),
    ("auto.create.topics.enable", "true"),
    ("socket.request.max.bytes", "104857600"),
    ("log.retention.check.interval.ms", "300000"),
    ("strata.fetch.zero.copy", "true"),
    ("strata.shutdown.timeout.ms", "10000"),
    ("max.broker.partitions", "10000"),
    ("strata.replica.fsync", "true"),
    ("replica.lag.time.max.ms", "30000"),
    ("broker.heartbeat.interval.ms", "2000"),
    ("broker.session.timeout.ms", "9000"),
    ("auto.leader.rebalance.enable", "true"),
    ("leader.imbalance.check.interval.seconds", "300"),
    (
        "queued.max.request.bytes",
        crate::conn_config::DEFAULT_QUEUED_MAX_REQUEST_BYTES,
    ),
    ("max.connections", "2147483647"),
    ("max.connections.per.ip", "2147483647"),
    ("connections.max.idle.ms", "600000"),
    ("strata.request.read.timeout.ms", "30000"),
    ("group.initial.rebalance.delay.ms", "3000"),
    ("group.min.session.timeout.ms", "6000"),
    ("group.max.session.timeout.ms", "1800000"),
    ("offsets.retention.minutes", "10080"),
    ("offsets.retention.check.interval.ms", "600000"),
    ("offsets.topic.num.partitions", "50"),
    ("offsets.topic.replication.factor", "3"),
    ("offsets.commit.timeout.ms", "5000"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.num.partitions", "50"),
    ("transaction.max.timeout.ms", "900000"),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "10000",
    ),
    ("offset.metadata.max.bytes", "4096"),
    ("strata.read.replica", "false"),
];

impl BrokerConfig {
    /// Every listener's advertised address, as the broker registers them.
    pub fn endpoints(&self) -> Vec<strata_meta::Endpoint> {
        self.listeners
            .iter()
            .map(|l| strata_meta::Endpoint {
                listener: l.name.clone(),
                host: l.advertised_host.clone(),
                port: l.advertised_port,
            })
            .collect()
    }

    /// Builds typed settings from a merged map (missing keys take [`DEFAULTS`]).
    pub fn from_map(mut raw: BTreeMap<String, String>) -> Result<BrokerConfig, String> {
        for (k, v) in DEFAULTS {
            raw.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        let listeners = crate::listeners::parse(
            &raw["listeners"],
            raw.get("advertised.listeners").map(String::as_str),
        )?;
        // A SASL listener nobody can log in to is a misconfiguration, not a broker to start.
        if listeners.iter().any(|l| l.protocol.sasl())
            && crate::sasl::enabled_mechanisms(&raw).is_empty()
        {
            return Err(format!(
                "sasl.enabled.mechanisms = {}: none of the mechanisms Strata supports ({}); \
                 a SASL listener needs at least one",
                raw.get("sasl.enabled.mechanisms")
                    .map_or("", String::as_str),
                crate::sasl::SUPPORTED.join(", ")
            ));
        }
        // Local tools reach this broker on the first PLAINTEXT listener, else the first.
        let primary = listeners
            .iter()
            .find(|l| l.protocol == crate::listeners::SecurityProtocol::Plaintext)
            .unwrap_or(&listeners[0])
            .clone();
        // Brokers reach each other (replication, markers) on `inter.broker.listener.name`
        // (default: the same listener), registered as this broker's host and port.
        let (inter_broker, inter_listener) =
            crate::node_tls::InterBroker::from_settings(&raw, &listeners)?;
        let cfg = BrokerConfig {
            node_id: parse(&raw, "node.id")?,
            listen: primary.addr,
            advertised_host: inter_listener.advertised_host.clone(),
            advertised_port: inter_listener.advertised_port,
            inter_broker,
            listeners,
            data_dir: PathBuf::from(&raw["log.dirs"]),
            num_partitions: parse(&raw, "num.partitions")?,
            default_replication_factor: parse(&raw, "default.replication.factor")?,
            auto_create_topics: parse::<bool>(&raw, "auto.create.topics.enable")?
                && !parse::<bool>(&raw, "strata.read.replica")?,
            read_replica: parse(&raw, "strata.read.replica")?,
            add_scram: Vec::new(),
            authorizer: {
                crate::authz::principal::check_mapping_rules(&raw)?;
                crate::authz::settings(&raw)?
            },
            socket_request_max_bytes: parse(&raw, "socket.request.max.bytes")?,
            retention_check_interval_ms: parse(&raw, "log.retention.check.interval.ms")?,
            fetch_zero_copy: parse(&raw, "strata.fetch.zero.copy")?,
            shutdown_timeout_ms: parse(&raw, "strata.shutdown.timeout.ms")?,
            max_broker_partitions: parse(&raw, "max.broker.partitions")?,
            replica_fsync: parse(&raw, "strata.replica.fsync")?,
            connections: crate::conn_config::ConnectionConfig::from_map(&raw)?,
            voters: None,
            cluster_listen: None,
            cluster_tls: None,
            rack: raw.get("broker.rack").filter(|r| !r.is_empty()).cloned(),
            replica_selector: crate::replica_selector::ReplicaSelector::parse(
                raw.get("replica.selector.class").map(String::as_str),
            )?,
            replica_lag_time_max_ms: parse(&raw, "replica.lag.time.max.ms")?,
            offsets_topic_replication_factor: parse(&raw, "offsets.topic.replication.factor")?,
            offsets_commit_timeout_ms: parse(&raw, "offsets.commit.timeout.ms")?,
            transaction_state_replication_factor: parse(
                &raw,
                "transaction.state.log.replication.factor",
            )?,
            txn: strata_txn::TxnConfig {
                num_partitions: parse(&raw, "transaction.state.log.num.partitions")?,
                max_timeout_ms: parse(&raw, "transaction.max.timeout.ms")?,
                abort_check_interval_ms: parse(
                    &raw,
                    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                )?,
            },
            broker_heartbeat_interval_ms: parse(&raw, "broker.heartbeat.interval.ms")?,
            broker_session_timeout_ms: parse(&raw, "broker.session.timeout.ms")?,
            auto_leader_rebalance: parse(&raw, "auto.leader.rebalance.enable")?,
            leader_imbalance_check_interval_s: parse(
                &raw,
                "leader.imbalance.check.interval.seconds",
            )?,
            raw,
        };
        let mut cfg = cfg;
        if let Some(text) = cfg
            .raw
            .get("controller.quorum.voters")
            .filter(|v| !v.trim().is_empty())
        {
            let voters = strata_quorum::parse_voters(text).map_err(|e| e.message)?;
            let me = u64::try_from(cfg.node_id)
                .ok()
                .filter(|id| voters.contains_key(id))
                .ok_or_else(|| {
                    format!(
                        "node.id {} is not one of controller.quorum.voters ({text})",
                        cfg.node_id
                    )
                })?;
            let listen = match cfg.raw.get("strata.cluster.listen") {
                Some(l) => l.clone(),
                None => voters[&me].clone(),
            };
            let (addr, tls) = crate::node_tls::cluster_listener(&listen, &cfg.raw)?;
            cfg.cluster_listen = Some(addr);
            cfg.cluster_tls = tls;
            cfg.voters = Some(voters);
        } else if cfg.raw.contains_key("strata.cluster.listen") {
            return Err("strata.cluster.listen (--cluster-listen) needs controller.quorum.voters (--voters)".into());
        }
        if cfg.max_broker_partitions < 1 {
            return Err("max.broker.partitions must be at least 1".into());
        }
        if cfg.num_partitions < 1 {
            return Err("num.partitions must be at least 1".into());
        }
        if cfg.transaction_state_replication_factor < 1 || cfg.txn.num_partitions < 1 {
            return Err(
                "transaction.state.log.replication.factor and transaction.state.log.num.partitions must be at least 1"
                    .to_string(),
            );
        }
        if cfg.offsets_topic_replication_factor < 1 {
            return Err("offsets.topic.replication.factor must be at least 1".into());
        }
        crate::groups::group_config(&cfg.raw)?;
        for def in topic_config::TOPIC_CONFIGS {
            if let Some((value, _)) = cfg.broker_setting(def) {
                topic_config::validate(def.name, &value)
                    .map_err(|e| format!("{}: {}", def.broker_key.unwrap_or(def.name), e))?;
            }
        }
        Ok(cfg)
    }

    /// The broker-level value for a topic config, if the broker sets its synonym (including
    /// Kafka's derived forms such as `log.retention.hours`).
    pub fn broker_setting(&self, def: &TopicConfigDef) -> Option<(String, ConfigSource)> {
        let key = def.broker_key?;
        if let Some(v) = self.raw.get(key) {
            return Some((v.clone(), ConfigSource::StaticBroker));
        }
        let derived = |k: &str, factor: i64| -> Option<String> {
            let v: i64 = self.raw.get(k)?.parse().ok()?;
            Some((v.saturating_mul(factor)).to_string())
        };
        let value = match key {
            "log.retention.ms" => derived("log.retention.minutes", 60_000)
                .or_else(|| derived("log.retention.hours", 3_600_000)),
            "log.roll.ms" => derived("log.roll.hours", 3_600_000),
            "log.roll.jitter.ms" => derived("log.roll.jitter.hours", 3_600_000),
            _ => None,
        }?;
        Some((value, ConfigSource::StaticBroker))
    }

    /// The effective value and source of a topic config given the topic's overrides.
    pub fn topic_value(
        &self,
        def: &TopicConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> (String, ConfigSource) {
        if let Some(v) = overrides.get(def.name) {
            return (v.clone(), ConfigSource::Topic);
        }
        self.broker_setting(def)
            .unwrap_or_else(|| (def.default.to_string(), ConfigSource::Default))
    }
}

/// True for settings whose values must never be shown (DescribeConfigs answers null, as Kafka
/// does for PASSWORD-type configs): passwords, secrets, private keys, JAAS configs, tokens and
/// credentials.
pub fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas.config",
        "credential",
        "token",
        "private",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k.ends_with(".key")
        || k.contains("keystore.key")
        || k.contains("certificate.chain")
}

pub(crate) fn parse<T: std::str::FromStr>(
    raw: &BTreeMap<String, String>,
    key: &str,
) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    raw[key]
        .trim()
        .parse()
        .map_err(|e| format!("{key} = {}: {e}", raw[key]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_advertised_listener() {
        let c = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9092");
        assert_eq!(
            (c.advertised_host.as_str(), c.advertised_port),
            ("127.0.0.1", 9092)
        );
        let c = BrokerConfig::from_map(map(&[
            ("listeners", "PLAINTEXT://0.0.0.0:19092"),
            ("advertised.listeners", "PLAINTEXT://broker.example:29092"),
        ]))
        .unwrap();
        assert_eq!(c.listen.port(), 19092);
        assert_eq!(
            (c.advertised_host.as_str(), c.advertised_port),
            ("broker.example", 29092)
        );
    }

    #[test]
    fn topic_values_resolve_override_then_broker_then_default() {
        let c = BrokerConfig::from_map(map(&[("log.retention.hours", "1")])).unwrap();
        let def = topic_config::lookup("retention.ms").unwrap();
        assert_eq!(
            c.topic_value(def, &BTreeMap::new()),
            ("3600000".to_string(), ConfigSource::StaticBroker)
        );
        assert_eq!(
            c.topic_value(def, &map(&[("retention.ms", "5")])),
            ("5".to_string(), ConfigSource::Topic)
        );
        let seg = topic_config::lookup("segment.bytes").unwrap();
        assert_eq!(
            c.topic_value(seg, &BTreeMap::new()),
            ("1073741824".to_string(), ConfigSource::Default)
        );
    }

    #[test]
    fn sensitive_keys() {
        for k in [
            "ssl.keystore.password",
            "sasl.jaas.config",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
            "ssl.key.password",
            "ssl.keystore.key",
            "strata.s3.secret.access.key",
            "aws.secret",
        ] {
            assert!(is_sensitive(k), "{k}");
        }
        for k in [
            "log.retention.ms",
            "listeners",
            "num.partitions",
            "strata.object.store",
        ] {
            assert!(!is_sensitive(k), "{k}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(BrokerConfig::from_map(map(&[("num.partitions", "x")])).is_err());
        assert!(BrokerConfig::from_map(map(&[("log.retention.ms", "-7")])).is_err());
        assert!(BrokerConfig::from_map(map(&[("listeners", "nope")])).is_err());
    }

    #[test]
    fn replica_selector_is_off_by_default_and_only_rack_aware() {
        use crate::replica_selector::{ReplicaSelector, RACK_AWARE_SELECTOR};
        assert_eq!(
            BrokerConfig::from_map(BTreeMap::new())
                .unwrap()
                .replica_selector,
            None
        );
        let c = BrokerConfig::from_map(map(&[("replica.selector.class", "")])).unwrap();
        assert_eq!(c.replica_selector, None);
        let c = BrokerConfig::from_map(map(&[("replica.selector.class", RACK_AWARE_SELECTOR)]))
            .unwrap();
        assert_eq!(c.replica_selector, Some(ReplicaSelector::RackAware));
        let err =
            BrokerConfig::from_map(map(&[("replica.selector.class", "com.example.MySelector")]))
                .unwrap_err();
        assert!(
            err.contains("replica.selector.class = com.example.MySelector"),
            "{err}"
        );
    }
}
