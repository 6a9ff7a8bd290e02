//! How a [`super::KafkaClient`] secures its connections, typed and checked once from Kafka
//! client properties (the `--command-config FILE` of the CLI, as Kafka's tools take it):
//!
//! | key | meaning |
//! |---|---|
//! | `security.protocol` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`, any case |
//! | `sasl.mechanism` (`sasl.mechanisms`) | `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512` |
//! | `sasl.username`, `sasl.password` | the SASL user |
//! | `sasl.jaas.config` | Java clients' form of the user: `…PlainLoginModule required username="u" password="p";` (or `…ScramLoginModule`); `sasl.username`/`sasl.password` win over it |
//! | `ssl.ca.location` | PEM file of the CA certificates the broker's certificate must chain to (default: the platform's roots) |
//! | `ssl.certificate.location`, `ssl.key.location` | PEM client certificate chain and key (mutual TLS), both or neither |
//! | `ssl.endpoint.identification.algorithm` | `https` (default): the certificate must name the host connected to; empty or `none`: it need not (it must still chain to a trusted CA) |
//!
//! Invariants:
//! - everything is checked here, before any connection: a bad value is an error naming its
//!   key, and files (CA, certificate, key) are read and parsed now, so connecting can only fail
//!   for reasons of the network or the broker;
//! - the password appears in no error, warning or `Debug` output;
//! - keys not in the table above are reported back as warnings and otherwise ignored, as
//!   Kafka's tools do; so are `sasl.*` keys without SASL and `ssl.*` keys without TLS.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::ClientConfig;

use super::jaas::{self, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE};
use super::properties::{self, Properties};
use super::tls::{self, TlsSettings};
use crate::listeners::SecurityProtocol;
use crate::sasl::scram::Mechanism;

const PROTOCOL: &str = "security.protocol";
const MECHANISM: &str = "sasl.mechanism";
/// librdkafka's spelling of [`MECHANISM`].
const MECHANISMS: &str = "sasl.mechanisms";
const USERNAME: &str = "sasl.username";
const PASSWORD: &str = "sasl.password";
const JAAS: &str = "sasl.jaas.config";
const CA: &str = "ssl.ca.location";
const CERT: &str = "ssl.certificate.location";
const KEY: &str = "ssl.key.location";
const ENDPOINT_ID: &str = "ssl.endpoint.identification.algorithm";

/// Every key understood, in the order of the module docs' table.
pub const KNOWN_KEYS: [&str; 10] = [
    PROTOCOL,
    MECHANISM,
    MECHANISMS,
    USERNAME,
    PASSWORD,
    JAAS,
    CA,
    CERT,
    KEY,
    ENDPOINT_ID,
];

/// A SASL mechanism a client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616): the password in one message; only over TLS in earnest.
    Plain,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    Scram(Mechanism),
}

impl SaslMechanism {
    /// Parses Kafka's name (any case).
    pub fn parse(name: &str) -> Option<SaslMechanism> {
        let name = name.trim().to_ascii_uppercase();
        if name == "PLAIN" {
            return Some(SaslMechanism::Plain);
        }
        Mechanism::parse(&name).map(SaslMechanism::Scram)
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }
}

/// A SASL user and how it logs in.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslLogin {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    password: String,
}

impl SaslLogin {
    /// A login of `username` with `password` over `mechanism`.
    pub fn new(mechanism: SaslMechanism, username: &str, password: &str) -> SaslLogin {
        SaslLogin {
            mechanism,
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    /// The password (never print it).
    pub(super) fn password(&self) -> &str {
        &self.password
    }
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The security of a client's connections: protocol, SASL login, TLS configuration. Cheap to
/// clone (the TLS configuration is shared).
#[derive(Debug, Clone)]
pub struct ClientSecurity {
    protocol: SecurityProtocol,
    /// Set exactly when the protocol is SASL_PLAINTEXT or SASL_SSL.
    sasl: Option<SaslLogin>,
    /// Set exactly when the protocol is SSL or SASL_SSL.
    tls: Option<Arc<ClientConfig>>,
}

impl Default for ClientSecurity {
    fn default() -> ClientSecurity {
        ClientSecurity::plaintext()
    }
}

impl ClientSecurity {
    /// PLAINTEXT: no TLS, no SASL.
    pub fn plaintext() -> ClientSecurity {
        ClientSecurity {
            protocol: SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
        }
    }

    /// The security protocol.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The SASL login, for SASL_PLAINTEXT and SASL_SSL.
    pub fn sasl(&self) -> Option<&SaslLogin> {
        self.sasl.as_ref()
    }

    /// The TLS configuration, for SSL and SASL_SSL.
    pub(super) fn tls(&self) -> Option<&Arc<ClientConfig>> {
        self.tls.as_ref()
    }

    /// The settings of `--command-config FILE` for a command-line tool: PLAINTEXT without a
    /// file; else the file's settings, with one line on stderr for each warning (unknown keys
    /// and the like). Errors name the file and the key.
    pub fn load_command_config(path: Option<&Path>) -> anyhow::Result<ClientSecurity> {
        let Some(path) = path else {
            return Ok(ClientSecurity::plaintext());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--command-config: reading {}", path.display()))?;
        let props = properties::parse(&text)
            .map_err(|e| anyhow::anyhow!("--command-config {}: {e}", path.display()))?;
        let (security, warnings) = ClientSecurity::from_properties(&props)
            .map_err(|e| anyhow::anyhow!("--command-config {}: {e}", path.display()))?;
        for w in warnings {
            eprintln!("warning: --command-config {}: {w}", path.display());
        }
        Ok(security)
    }

    /// The settings of Kafka client properties (see the module docs), and warnings about what
    /// was ignored.
    pub fn from_properties(props: &Properties) -> Result<(ClientSecurity, Vec<String>), String> {
        let mut warnings = Vec::new();
        let unknown: Vec<&str> = props
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN_KEYS.contains(k))
            .collect();
        if !unknown.is_empty() {
            warnings.push(format!("ignoring unknown keys: {}", unknown.join(", ")));
        }
        let get = |key: &str| props.get(key).map(|v| v.trim());
        let protocol = match get(PROTOCOL) {
            None | Some("") => SecurityProtocol::Plaintext,
            Some(p) => SecurityProtocol::parse(p).ok_or_else(|| {
                format!("{PROTOCOL} = {p}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
            })?,
        };
        let ignored = |prefix: &str| -> Vec<&str> {
            KNOWN_KEYS
                .iter()
                .copied()
                .filter(|k| k.starts_with(prefix) && props.contains_key(*k))
                .collect()
        };
        let sasl = if protocol.sasl() {
            Some(sasl_login(props)?)
        } else {
            let keys = ignored("sasl.");
            if !keys.is_empty() {
                warnings.push(format!(
                    "ignoring {} ({PROTOCOL} is {}, without SASL)",
                    keys.join(", "),
                    protocol.name()
                ));
            }
            None
        };
        let tls = if protocol.tls() {
            Some(tls::client_config(&tls_settings(props)?)?)
        } else {
            let keys = ignored("ssl.");
            if !keys.is_empty() {
                warnings.push(format!(
                    "ignoring {} ({PROTOCOL} is {}, without TLS)",
                    keys.join(", "),
                    protocol.name()
                ));
            }
            None
        };
        Ok((
            ClientSecurity {
                protocol,
                sasl,
                tls,
            },
            warnings,
        ))
    }
}

/// The SASL login of `props`.
fn sasl_login(props: &Properties) -> Result<SaslLogin, String> {
    let mechanism = match (props.get(MECHANISM), props.get(MECHANISMS)) {
        (Some(a), Some(b)) if a.trim() != b.trim() => {
            return Err(format!("{MECHANISM} and {MECHANISMS} disagree; set one"));
        }
        (Some(m), _) | (None, Some(m)) if !m.trim().is_empty() => SaslMechanism::parse(m)
            .ok_or_else(|| {
                format!(
                    "{MECHANISM} = {}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    m.trim()
                )
            })?,
        _ => SaslMechanism::Plain,
    };
    let jaas = match props.get(JAAS).filter(|v| !v.trim().is_empty()) {
        Some(text) => {
            let entry = jaas::parse(text).map_err(|e| format!("{JAAS}: {e}"))?;
            if entry.module != PLAIN_LOGIN_MODULE && entry.module != SCRAM_LOGIN_MODULE {
                return Err(format!(
                    "{JAAS}: login module {} is not supported (use {PLAIN_LOGIN_MODULE} or {SCRAM_LOGIN_MODULE})",
                    entry.module
                ));
            }
            Some(entry.options)
        }
        None => None,
    };
    let from_jaas = |option: &str| jaas.as_ref().and_then(|o| o.get(option));
    let username = props
        .get(USERNAME)
        .map(|u| u.trim())
        .or_else(|| from_jaas("username").map(String::as_str))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("SASL needs a user: set {USERNAME} (or username= in {JAAS})"))?;
    // A password may legitimately have surrounding spaces only when given in sasl.jaas.config's
    // quotes; sasl.password is taken as the properties parser left it.
    let password = props
        .get(PASSWORD)
        .or_else(|| from_jaas("password"))
        .ok_or_else(|| format!("SASL needs a password: set {PASSWORD} (or password= in {JAAS})"))?;
    Ok(SaslLogin::new(mechanism, username, password))
}

/// The TLS settings of `props`.
fn tls_settings(props: &Properties) -> Result<TlsSettings, String> {
    let path = |key: &str| {
        props
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let verify_hostname = match props
        .get(ENDPOINT_ID)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("https") => true,
        Some("") | Some("none") => false,
        Some(other) => {
            return Err(format!(
                "{ENDPOINT_ID} = {other}: expected https, or empty (or none) to skip hostname verification"
            ))
        }
    };
    let client = match (path(CERT), path(KEY)) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(format!("{CERT} and {KEY} go together: set both or neither")),
    };
    Ok(TlsSettings {
        ca: path(CA),
        client,
        verify_hostname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Properties {
        properties::parse(text).unwrap()
    }

    fn load(text: &str) -> Result<(ClientSecurity, Vec<String>), String> {
        ClientSecurity::from_properties(&props(text))
    }

    #[test]
    fn defaults_and_protocols() {
        let (s, w) = load("").unwrap();
        assert_eq!(s.protocol(), SecurityProtocol::Plaintext);
        assert!(s.sasl().is_none() && s.tls().is_none() && w.is_empty());
        let (s, _) =
            load("security.protocol = sasl_plaintext\nsasl.username=u\nsasl.password=p\n").unwrap();
        assert_eq!(s.protocol(), SecurityProtocol::SaslPlaintext);
        let login = s.sasl().unwrap();
        assert_eq!(login.mechanism, SaslMechanism::Plain);
        assert_eq!((login.username.as_str(), login.password()), ("u", "p"));
        assert!(s.tls().is_none());
        let e = load("security.protocol=TLS\n").unwrap_err();
        assert!(e.contains("security.protocol = TLS"), "{e}");
    }

    #[test]
    fn mechanisms() {
        let base = "security.protocol=SASL_PLAINTEXT\nsasl.username=u\nsasl.password=p\n";
        for (line, want) in [
            (
                "sasl.mechanism=SCRAM-SHA-256",
                SaslMechanism::Scram(Mechanism::Sha256),
            ),
            (
                "sasl.mechanism=scram-sha-512",
                SaslMechanism::Scram(Mechanism::Sha512),
            ),
            ("sasl.mechanisms=PLAIN", SaslMechanism::Plain),
            ("sasl.mechanism=", SaslMechanism::Plain),
        ] {
            let (s, _) = load(&format!("{base}{line}\n")).unwrap();
            assert_eq!(s.sasl().unwrap().mechanism, want, "{line}");
        }
        let e = load(&format!("{base}sasl.mechanism=GSSAPI\n")).unwrap_err();
        assert!(e.contains("sasl.mechanism = GSSAPI"), "{e}");
        let e = load(&format!(
            "{base}sasl.mechanism=PLAIN\nsasl.mechanisms=SCRAM-SHA-256\n"
        ))
        .unwrap_err();
        assert!(e.contains("disagree"), "{e}");
    }

    #[test]
    fn jaas_credentials() {
        let (s, w) = load(
            "security.protocol=SASL_PLAINTEXT\n\
             sasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n\
             \x20 username=\"admin\" password=\"admin secret\";\n",
        )
        .unwrap();
        let login = s.sasl().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password()),
            ("admin", "admin secret")
        );
        assert!(w.is_empty(), "{w:?}");
        // sasl.username / sasl.password win over the JAAS options.
        let (s, _) = load(
            "security.protocol=SASL_PLAINTEXT\nsasl.username=other\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"pw\";\n",
        )
        .unwrap();
        let login = s.sasl().unwrap();
        assert_eq!((login.username.as_str(), login.password()), ("other", "pw"));
        let e = load(
            "security.protocol=SASL_PLAINTEXT\n\
             sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required password=\"hunter2\";\n",
        )
        .unwrap_err();
        assert!(
            e.contains("OAuthBearerLoginModule") && !e.contains("hunter2"),
            "{e}"
        );
        let e = load(
            "security.protocol=SASL_PLAINTEXT\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required password=\"hunter2\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("sasl.jaas.config:") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn missing_credentials_are_errors_without_the_password() {
        let e = load("security.protocol=SASL_SSL\nsasl.password=hunter2\n").unwrap_err();
        assert!(e.contains("sasl.username") && !e.contains("hunter2"), "{e}");
        let e = load("security.protocol=SASL_PLAINTEXT\nsasl.username=u\n").unwrap_err();
        assert!(e.contains("sasl.password"), "{e}");
        let (s, _) =
            load("security.protocol=SASL_PLAINTEXT\nsasl.username=u\nsasl.password=hunter2\n")
                .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn warnings_for_unknown_and_unused_keys() {
        let (_, w) = load(
            "client.id=x\nrequest.timeout.ms=1\nsasl.username=u\nssl.ca.location=/nonexistent\n",
        )
        .unwrap();
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(w[0], "ignoring unknown keys: client.id, request.timeout.ms");
        assert!(
            w[1].contains("sasl.username") && w[1].contains("PLAINTEXT"),
            "{w:?}"
        );
        assert!(w[2].contains("ssl.ca.location"), "{w:?}");
    }

    #[test]
    fn tls_settings_are_checked() {
        let e = load("security.protocol=SSL\nssl.ca.location=/nonexistent/ca.pem\n").unwrap_err();
        assert!(
            e.contains("ssl.ca.location") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let e = load("security.protocol=SSL\nssl.certificate.location=/x.pem\n").unwrap_err();
        assert!(e.contains("ssl.key.location"), "{e}");
        let e =
            load("security.protocol=SSL\nssl.endpoint.identification.algorithm=dns\n").unwrap_err();
        assert!(
            e.contains("ssl.endpoint.identification.algorithm = dns"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let e = load(&format!(
            "security.protocol=SSL\nssl.ca.location={}\n",
            ca.display()
        ))
        .unwrap_err();
        assert!(e.contains("ssl.ca.location"), "{e}");
    }

    #[test]
    fn command_config_files() {
        let s = ClientSecurity::load_command_config(None).unwrap();
        assert_eq!(s.protocol(), SecurityProtocol::Plaintext);
        let e =
            ClientSecurity::load_command_config(Some(Path::new("/nonexistent/client.properties")))
                .unwrap_err();
        assert!(
            format!("{e:#}").contains("/nonexistent/client.properties"),
            "{e:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(&file, "security.protocol=SASL_SSL\nsasl.password=hunter2\n").unwrap();
        let e = ClientSecurity::load_command_config(Some(&file)).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("client.properties") && e.contains("sasl.username"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
}
