//! Kafka's listeners: `listeners` is a comma-separated list of `[PROTOCOL://]HOST:PORT`
//! (PLAINTEXT when the protocol is left out), `advertised.listeners` the addresses clients are
//! told, matched by listener name (a listener without one advertises its own address).
//!
//! A listener's name is its security protocol (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`,
//! `SASL_SSL`), as in Kafka without `listener.security.protocol.map`; so each protocol appears
//! at most once.
//!
//! Invariants: a parsed list is non-empty, names are unique, and every advertised entry names a
//! listener that exists (an entry without a protocol names the only listener, if there is one).

use std::net::SocketAddr;

/// A listener's security protocol (Kafka's `security.protocol` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No TLS, no authentication (principal `User:ANONYMOUS`).
    Plaintext,
    /// TLS; the principal is the client certificate's subject, if one is presented.
    Ssl,
    /// SASL authentication, no TLS.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Parses Kafka's name (case-insensitive).
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether connections are wrapped in TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The listener's name (its protocol's name).
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The host clients are told.
    pub advertised_host: String,
    /// The port clients are told.
    pub advertised_port: i32,
}

/// One `[PROTOCOL://]HOST:PORT` entry: (protocol, host, port).
fn entry(s: &str, setting: &str) -> Result<(SecurityProtocol, String, i32), String> {
    let s = s.trim();
    let (protocol, addr) = match s.split_once("://") {
        Some((p, a)) => (
            SecurityProtocol::parse(p).ok_or_else(|| {
                format!("{setting}: unknown protocol {p:?} in {s:?} (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")
            })?,
            a,
        ),
        None => (SecurityProtocol::Plaintext, s),
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{setting}: {s:?}: expected [PROTOCOL://]HOST:PORT"))?;
    let port: i32 = port
        .parse()
        .ok()
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| format!("{setting}: {s:?}: bad port {port:?}"))?;
    Ok((protocol, host.trim_matches(['[', ']']).to_string(), port))
}

/// Parses `listeners` and `advertised.listeners` (see the module docs).
pub fn parse(listeners: &str, advertised: Option<&str>) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = Vec::new();
    for s in listeners.split(',').filter(|s| !s.trim().is_empty()) {
        let (protocol, host, port) = entry(s, "listeners")?;
        if out.iter().any(|l| l.protocol == protocol) {
            return Err(format!(
                "listeners: {} appears twice (a listener's name is its protocol)",
                protocol.name()
            ));
        }
        let bind_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let addr: SocketAddr = match format!("{bind_host}:{port}").parse() {
            Ok(addr) => addr,
            // A host name binds to its first address, as Kafka's does.
            Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port as u16))
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| format!("listeners: {s:?}: cannot resolve {host:?}"))?,
        };
        out.push(Listener {
            name: protocol.name().to_string(),
            protocol,
            addr,
            advertised_host: host,
            advertised_port: port,
        });
    }
    if out.is_empty() {
        return Err("listeners: empty".to_string());
    }
    for s in advertised
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        let (protocol, host, port) = entry(s, "advertised.listeners")?;
        // Without a protocol, an address advertises the only listener there is.
        let only = (out.len() == 1 && !s.contains("://")).then_some(0);
        let at = only.or_else(|| out.iter().position(|l| l.protocol == protocol));
        let l = at.map(|i| &mut out[i]).ok_or_else(|| {
            format!(
                "advertised.listeners: {} is not among the listeners",
                protocol.name()
            )
        })?;
        l.advertised_host = host;
        l.advertised_port = port;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_forms() {
        let l = parse("127.0.0.1:9092,SASL_SSL://127.0.0.1:9093", None).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].name.as_str(), l[0].addr.port(), l[0].advertised_port),
            ("PLAINTEXT", 9092, 9092)
        );
        assert_eq!(l[1].protocol, SecurityProtocol::SaslSsl);
        assert!(l[1].protocol.tls() && l[1].protocol.sasl());
        let l = parse(
            "PLAINTEXT://0.0.0.0:9092,SSL://0.0.0.0:9094",
            Some("SSL://kafka.example.com:19094"),
        )
        .unwrap();
        assert_eq!(l[0].advertised_host, "0.0.0.0");
        assert_eq!(
            (l[1].advertised_host.as_str(), l[1].advertised_port),
            ("kafka.example.com", 19094)
        );
        let l = parse("SSL://[::1]:9094", None).unwrap();
        assert_eq!(l[0].advertised_host, "::1");
        let l = parse("localhost:9095", None).unwrap();
        assert!(l[0].addr.ip().is_loopback());
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        for bad in [
            "",
            "FOO://127.0.0.1:1",
            "127.0.0.1",
            "127.0.0.1:99999",
            "no-such-host.invalid:1",
            "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2",
        ] {
            assert!(parse(bad, None).is_err(), "{bad:?}");
        }
        assert!(parse("127.0.0.1:1", Some("SSL://h:2")).is_err());
        // A bare advertised address names the only listener, whatever its protocol.
        let l = parse("SSL://127.0.0.1:1", Some("h:2")).unwrap();
        assert_eq!(
            (l[0].advertised_host.as_str(), l[0].advertised_port),
            ("h", 2)
        );
    }
}
