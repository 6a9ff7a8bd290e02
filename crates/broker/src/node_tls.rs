//! How the nodes of a cluster reach each other, and with what TLS. Two kinds of link:
//!
//! 1. **The quorum link** (`strata.cluster.listen`, `--cluster-listen [PROTOCOL://]IP:PORT`):
//!    Raft and forwarded metadata operations over gRPC. `SSL://` turns on mutual TLS for the
//!    listener and for every voter this node dials (`strata_quorum::link_tls`); plain
//!    `IP:PORT` or `PLAINTEXT://` is plaintext.
//! 2. **Inter-broker Kafka traffic** (followers' Fetch and OffsetForLeaderEpoch, the
//!    transaction coordinator's WriteTxnMarkers): sent to the peer's registered endpoint of
//!    the listener `inter.broker.listener.name` (Kafka's setting; default: the first PLAINTEXT
//!    listener, else the first listener). This node registers that listener's advertised
//!    address as its `host`/`port`. On an SSL listener the connection presents the node
//!    certificate as its client certificate, so the leader sees the node's certificate
//!    principal (`User:` + its subject, RFC 2253), which operators list in `super.users`.
//!
//! Both use one node certificate, the settings of the SSL Kafka listeners:
//! `ssl.keystore.certificate.chain` (`--tls-cert`), `ssl.keystore.key` (`--tls-key`), and
//! `ssl.truststore.certificates`, the CA the other nodes' certificates chain to. The
//! certificate therefore needs both extended key usages (serverAuth and clientAuth, or none)
//! and subjectAltNames covering the hosts other nodes dial: the voter addresses and the
//! advertised host of the inter-broker listener.
//!
//! Invariants:
//! - everything is checked when the settings are read, before anything listens: an SSL cluster
//!   listener or an explicitly named SSL inter-broker listener without a usable certificate,
//!   key and truststore, an inter-broker listener that does not exist, or one of protocol
//!   SASL_* (SASL between brokers is not built), refuses to start with an error naming the
//!   setting;
//! - a link set to TLS never falls back to plaintext;
//! - an inter-broker listener left to its default keeps the behaviour of earlier builds when
//!   it cannot be secured (a warning, then plaintext), so upgrading changes nothing for
//!   clusters that do not ask for TLS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use strata_meta::BrokerRegistration;
use strata_quorum::ClusterTls;

use crate::kafka_client::{ClientSecurity, KafkaClient};
use crate::listeners::{Listener, SecurityProtocol};

/// `inter.broker.listener.name`.
pub const INTER_BROKER_LISTENER: &str = "inter.broker.listener.name";
/// `strata.cluster.listen`.
pub const CLUSTER_LISTEN: &str = "strata.cluster.listen";

const CHAIN: &str = "ssl.keystore.certificate.chain";
const KEY: &str = "ssl.keystore.key";
const TRUST: &str = "ssl.truststore.certificates";

/// How long opening an inter-broker connection (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `strata.cluster.listen` (`[PLAINTEXT://|SSL://]IP:PORT`): the address, and with `SSL://`
/// the TLS of the quorum links.
pub(crate) fn cluster_listener(
    value: &str,
    raw: &BTreeMap<String, String>,
) -> Result<(SocketAddr, Option<ClusterTls>), String> {
    let value = value.trim();
    let (tls, addr) = match value.split_once("://") {
        None => (false, value),
        Some((p, addr)) => match SecurityProtocol::parse(p) {
            Some(SecurityProtocol::Plaintext) => (false, addr),
            Some(SecurityProtocol::Ssl) => (true, addr),
            _ => {
                return Err(format!(
                    "{CLUSTER_LISTEN} = {value}: the quorum listener speaks PLAINTEXT or SSL, \
                     not {p} (expected [PLAINTEXT://|SSL://]IP:PORT)"
                ))
            }
        },
    };
    let addr: SocketAddr = addr.parse().map_err(|e| {
        format!("{CLUSTER_LISTEN} = {value}: {e} (expected [PLAINTEXT://|SSL://]IP:PORT)")
    })?;
    if !tls {
        return Ok((addr, None));
    }
    let why = format!("{CLUSTER_LISTEN} = {value} (--cluster-listen)");
    let missing: Vec<&str> = [
        (CHAIN, "ssl.keystore.certificate.chain (--tls-cert)"),
        (KEY, "ssl.keystore.key (--tls-key)"),
        (TRUST, "ssl.truststore.certificates"),
    ]
    .into_iter()
    .filter(|(key, _)| raw.get(*key).is_none_or(|v| v.trim().is_empty()))
    .map(|(_, named)| named)
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{why} needs {}: the quorum links use mutual TLS with the node certificate \
             ({CHAIN}, {KEY}) and the cluster CA ({TRUST})",
            missing.join(" and ")
        ));
    }
    let pem = |key: &str| -> Result<Vec<u8>, String> {
        crate::tls::pem(raw, key)?.ok_or_else(|| format!("{why} needs {key}"))
    };
    let (chain, key, trust) = (pem(CHAIN)?, pem(KEY)?, pem(TRUST)?);
    let tls = ClusterTls::new(&chain, &key, &trust)
        .map_err(|e| format!("{why}: {CHAIN} / {KEY} / {TRUST}: {e}"))?;
    Ok((addr, Some(tls)))
}

/// The inter-broker listener and how this node's connections to it are secured.
#[derive(Debug, Clone)]
pub struct InterBroker {
    /// The listener's name, whose registered endpoint peers are dialed at.
    pub listener: String,
    /// PLAINTEXT, or SSL with the node certificate as client certificate.
    pub security: ClientSecurity,
}

impl InterBroker {
    /// Picks the inter-broker listener among `listeners` (see the module docs) and builds the
    /// security of connections to it. Returns the listener too (its advertised address is
    /// this node's registered `host`/`port`).
    pub(crate) fn from_settings(
        raw: &BTreeMap<String, String>,
        listeners: &[Listener],
    ) -> Result<(InterBroker, Listener), String> {
        let named = raw
            .get(INTER_BROKER_LISTENER)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        let listener = match named {
            Some(name) => listeners
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
                    format!(
                        "{INTER_BROKER_LISTENER} = {name}: no such listener in listeners \
                         (this node has {})",
                        names.join(", ")
                    )
                })?,
            None => listeners
                .iter()
                .find(|l| l.protocol == SecurityProtocol::Plaintext)
                .unwrap_or(&listeners[0]),
        }
        .clone();
        let security = match security_for(raw, &listener) {
            Ok(security) => security,
            Err(e) if named.is_some() => return Err(e),
            Err(e) => {
                tracing::warn!(
                    "{e}; brokers reach this one over plaintext until {INTER_BROKER_LISTENER} \
                     names a PLAINTEXT or a usable SSL listener"
                );
                ClientSecurity::plaintext()
            }
        };
        Ok((
            InterBroker {
                listener: listener.name.clone(),
                security,
            },
            listener,
        ))
    }

    /// Where `peer` takes inter-broker connections: its registered endpoint of the
    /// inter-broker listener (its `host`/`port` when it registered no endpoints); `None` when
    /// it has no such listener.
    pub(crate) fn address(&self, peer: &BrokerRegistration) -> Option<String> {
        peer.address_for(&self.listener)
            .map(|(host, port)| match host.contains(':') {
                true => format!("[{host}]:{port}"),
                false => format!("{host}:{port}"),
            })
    }

    /// Opens an inter-broker connection to `peer`.
    pub(crate) async fn connect(&self, peer: &BrokerRegistration) -> anyhow::Result<KafkaClient> {
        let addr = self.address(peer).ok_or_else(|| {
            anyhow::anyhow!(
                "broker {} registered no {} listener ({INTER_BROKER_LISTENER})",
                peer.node_id,
                self.listener
            )
        })?;
        let connect = KafkaClient::connect_with(&addr, &self.security);
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                anyhow::anyhow!("connect to {addr}: no connection within {CONNECT_TIMEOUT:?}")
            })?
    }
}

/// How connections to `listener` are secured: PLAINTEXT, or SSL with the node certificate.
fn security_for(
    raw: &BTreeMap<String, String>,
    listener: &Listener,
) -> Result<ClientSecurity, String> {
    let why = format!("{INTER_BROKER_LISTENER} = {}", listener.name);
    match listener.protocol {
        SecurityProtocol::Plaintext => Ok(ClientSecurity::plaintext()),
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => Err(format!(
            "{why}: SASL between brokers is not supported; name a PLAINTEXT listener, or an \
             SSL listener (brokers then present the node certificate, {CHAIN})"
        )),
        SecurityProtocol::Ssl => {
            // The client takes file paths (`ssl.*.location`); the node settings may also hold
            // the PEM text itself, which only the listeners and the quorum read.
            let path = |key: &str, flag: &str| -> Result<String, String> {
                let v = raw
                    .get(key)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        format!(
                            "{why}: brokers connect to it with the node certificate, so it \
                             needs {key}{flag} ({CHAIN}, {KEY} and {TRUST}, the CA of the other \
                             brokers' certificates)"
                        )
                    })?;
                if v.starts_with("-----BEGIN") {
                    return Err(format!(
                        "{why}: {key} must name a PEM file for connections between brokers, \
                         not hold the PEM text"
                    ));
                }
                Ok(v.to_string())
            };
            let mut props = BTreeMap::from([
                ("security.protocol".to_string(), "SSL".to_string()),
                (
                    "ssl.certificate.location".to_string(),
                    path(CHAIN, " (--tls-cert)")?,
                ),
                ("ssl.key.location".to_string(), path(KEY, " (--tls-key)")?),
                ("ssl.ca.location".to_string(), path(TRUST, "")?),
            ]);
            if let Some(v) = raw.get("ssl.endpoint.identification.algorithm") {
                props.insert(
                    "ssl.endpoint.identification.algorithm".to_string(),
                    v.clone(),
                );
            }
            let (security, _) =
                ClientSecurity::from_properties(&props).map_err(|e| format!("{why}: {e}"))?;
            Ok(security)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn listeners(text: &str) -> Vec<Listener> {
        crate::listeners::parse(text, None).unwrap()
    }

    #[test]
    fn cluster_listener_forms() {
        let (a, tls) = cluster_listener("127.0.0.1:9192", &raw(&[])).unwrap();
        assert_eq!((a.port(), tls.is_none()), (9192, true));
        let (a, tls) = cluster_listener("PLAINTEXT://127.0.0.1:9193", &raw(&[])).unwrap();
        assert_eq!((a.port(), tls.is_none()), (9193, true));
        let e = cluster_listener("SASL_SSL://127.0.0.1:1", &raw(&[])).unwrap_err();
        assert!(e.contains("PLAINTEXT or SSL"), "{e}");
        let e = cluster_listener("SSL://127.0.0.1:1", &raw(&[])).unwrap_err();
        assert!(
            e.contains("ssl.keystore.certificate.chain (--tls-cert)"),
            "{e}"
        );
        let e = cluster_listener(
            "SSL://127.0.0.1:1",
            &raw(&[(CHAIN, "/nonexistent/c.pem"), (KEY, "/k"), (TRUST, "/t")]),
        )
        .unwrap_err();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
        let e =
            cluster_listener("SSL://127.0.0.1:1", &raw(&[(CHAIN, "/c"), (KEY, "/k")])).unwrap_err();
        assert!(e.contains(TRUST), "{e}");
    }

    #[test]
    fn inter_broker_listener_choice() {
        let l = listeners("SSL://127.0.0.1:9093,127.0.0.1:9092");
        let (ib, listener) = InterBroker::from_settings(&raw(&[]), &l).unwrap();
        assert_eq!(
            (ib.listener.as_str(), listener.addr.port()),
            ("PLAINTEXT", 9092)
        );
        assert_eq!(ib.security.protocol(), SecurityProtocol::Plaintext);
        let e =
            InterBroker::from_settings(&raw(&[(INTER_BROKER_LISTENER, "SSL")]), &l).unwrap_err();
        assert!(
            e.contains("inter.broker.listener.name = SSL") && e.contains(TRUST),
            "{e}"
        );
        let e = InterBroker::from_settings(&raw(&[(INTER_BROKER_LISTENER, "INTERNAL")]), &l)
            .unwrap_err();
        assert!(
            e.contains("no such listener") && e.contains("SSL, PLAINTEXT"),
            "{e}"
        );
        let l = listeners("SASL_PLAINTEXT://127.0.0.1:9094,127.0.0.1:9092");
        let e = InterBroker::from_settings(&raw(&[(INTER_BROKER_LISTENER, "sasl_plaintext")]), &l)
            .unwrap_err();
        assert!(e.contains("SASL between brokers is not supported"), "{e}");
        // Left to its default, an unusable first listener keeps the old plaintext behaviour.
        let l = listeners("SSL://127.0.0.1:9093");
        let (ib, _) = InterBroker::from_settings(&raw(&[]), &l).unwrap();
        assert_eq!(ib.security.protocol(), SecurityProtocol::Plaintext);
    }

    #[test]
    fn peers_are_dialed_at_their_inter_broker_endpoint() {
        let l = listeners("127.0.0.1:9092");
        let (ib, _) = InterBroker::from_settings(&raw(&[]), &l).unwrap();
        let ib = InterBroker {
            listener: "SSL".into(),
            ..ib
        };
        let mut peer = BrokerRegistration {
            node_id: 2,
            host: "10.0.0.2".into(),
            port: 9092,
            rack: None,
            endpoints: vec![
                strata_meta::Endpoint {
                    listener: "PLAINTEXT".into(),
                    host: "10.0.0.2".into(),
                    port: 9092,
                },
                strata_meta::Endpoint {
                    listener: "SSL".into(),
                    host: "node-2.example".into(),
                    port: 9093,
                },
            ],
        };
        assert_eq!(ib.address(&peer).as_deref(), Some("node-2.example:9093"));
        peer.endpoints.truncate(1);
        assert_eq!(ib.address(&peer), None);
        peer.endpoints.clear();
        assert_eq!(ib.address(&peer).as_deref(), Some("10.0.0.2:9092"));
    }
}
