//! The principal a request runs as, Kafka's `DefaultKafkaPrincipalBuilder`: `User:<name>`
//! after SASL; on an SSL listener that verified a client certificate, `User:` followed by the
//! certificate's subject in RFC 2253 form (`CN=client,OU=eng,O=Strata`), as Java's
//! `X500Principal.getName()` writes it (`ssl.principal.mapping.rules=DEFAULT`, the only rule
//! Strata applies); `User:ANONYMOUS` otherwise.
//!
//! Invariant: the principal of a request is set by its connection before the handler runs,
//! and outside a connection (unit tests, internal calls) it is `User:ANONYMOUS`.

use std::collections::BTreeMap;
use std::sync::Arc;

use x509_parser::prelude::{FromDer, X509Certificate};

/// The anonymous principal.
pub(crate) const ANONYMOUS: &str = "User:ANONYMOUS";

tokio::task_local! {
    /// The principal of the request being handled (set by `connection`).
    pub(crate) static PRINCIPAL: Arc<str>;
}

/// The principal of the request being handled.
pub(crate) fn current() -> Arc<str> {
    PRINCIPAL
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from(ANONYMOUS))
}

/// The principal of a SASL user.
pub(crate) fn of_user(user: &str) -> Arc<str> {
    Arc::from(format!("User:{user}"))
}

/// Refuses mapping rules other than Kafka's default (the only one Strata applies).
pub(crate) fn check_mapping_rules(raw: &BTreeMap<String, String>) -> Result<(), String> {
    match raw.get("ssl.principal.mapping.rules").map(|v| v.trim()) {
        None | Some("") | Some("DEFAULT") => Ok(()),
        Some(v) => Err(format!(
            "ssl.principal.mapping.rules = {v:?}: Strata applies only the DEFAULT rule (the \
             certificate subject as written by RFC 2253)"
        )),
    }
}

/// The principal of a verified client certificate (DER), or `None` if it cannot be parsed.
pub(crate) fn of_certificate(der: &[u8]) -> Option<Arc<str>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(Arc::from(format!("User:{}", rfc2253(cert.subject())?)))
}

/// A distinguished name as RFC 2253 writes it: last RDN first, attributes joined by `,`
/// (several in one RDN by `+`), the usual keywords, other attributes as `OID=#hex`.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> Option<String> {
    let mut rdns = Vec::new();
    for rdn in name.iter().collect::<Vec<_>>().into_iter().rev() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let keyword = match oid.as_str() {
                "2.5.4.3" => Some("CN"),
                "2.5.4.6" => Some("C"),
                "2.5.4.7" => Some("L"),
                "2.5.4.8" => Some("ST"),
                "2.5.4.10" => Some("O"),
                "2.5.4.11" => Some("OU"),
                "2.5.4.9" => Some("STREET"),
                "0.9.2342.19200300.100.1.25" => Some("DC"),
                "0.9.2342.19200300.100.1.1" => Some("UID"),
                _ => None,
            };
            match (keyword, attr.as_str()) {
                (Some(k), Ok(v)) => parts.push(format!("{k}={}", escape(v))),
                _ => {
                    let hex: String = attr
                        .attr_value()
                        .data
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    parts.push(format!("{oid}=#{hex}"));
                }
            }
        }
        rdns.push(parts.join("+"));
    }
    Some(rdns.join(","))
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_rfc_2253() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape(" lead#"), "\\ lead#");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn only_the_default_mapping_rule_is_accepted() {
        let mut raw = BTreeMap::new();
        check_mapping_rules(&raw).unwrap();
        raw.insert("ssl.principal.mapping.rules".into(), "DEFAULT".into());
        check_mapping_rules(&raw).unwrap();
        raw.insert(
            "ssl.principal.mapping.rules".into(),
            "RULE:^CN=(.*?),.*$/$1/".into(),
        );
        assert!(check_mapping_rules(&raw).is_err());
    }
}
