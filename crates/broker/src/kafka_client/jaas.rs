//! The `sasl.jaas.config` value of Java Kafka clients, which is how they carry SASL
//! credentials:
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required username="x" password="y";
//! ```
//!
//! Grammar (Kafka's `JaasConfig`, one login module): a login module class, a control flag
//! (`required`, `requisite`, `sufficient` or `optional`), `name=value` options whose value is
//! a bare word or a double-quoted string (`\"` and `\\` escape inside quotes), then `;`.
//!
//! Invariants: parsing never panics, and errors never quote a value (the password is one).

use std::collections::BTreeMap;

/// Kafka's PLAIN login module.
pub(crate) const PLAIN_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.plain.PlainLoginModule";
/// Kafka's SCRAM login module (SCRAM-SHA-256 and SCRAM-SHA-512).
pub(crate) const SCRAM_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.scram.ScramLoginModule";

const FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

/// One login module entry.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct JaasEntry {
    /// The login module class.
    pub(crate) module: String,
    /// Its options, by name.
    pub(crate) options: BTreeMap<String, String>,
}

impl std::fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Option values may be passwords: names only.
        f.debug_struct("JaasEntry")
            .field("module", &self.module)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses a `sasl.jaas.config` value (see the module docs). The `;` after the last option may
/// be left out.
pub(crate) fn parse(text: &str) -> Result<JaasEntry, String> {
    let mut rest = text.trim_start();
    let module = word(&mut rest);
    if module.is_empty() {
        return Err("no login module class".into());
    }
    rest = rest.trim_start();
    let flag = word(&mut rest);
    if !FLAGS.contains(&flag.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "expected a control flag (required, requisite, sufficient or optional) after {module}"
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix(';') {
            if !after.trim().is_empty() {
                return Err("only one login module is supported (text after ';')".into());
            }
            break;
        }
        let eq = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == ';')
            .filter(|&i| rest[i..].starts_with('='))
            .ok_or("expected name=value options after the control flag")?;
        let name = rest[..eq].to_string();
        if name.is_empty() {
            return Err("an option has no name".into());
        }
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = quoted_string(quoted)
                .ok_or_else(|| format!("option {name}: missing closing \""))?;
            rest = after;
            value
        } else {
            word(&mut rest).to_string()
        };
        options.insert(name, value);
    }
    Ok(JaasEntry {
        module: module.to_string(),
        options,
    })
}

/// Takes the leading run of characters up to whitespace or `;` off `rest`.
fn word<'a>(rest: &mut &'a str) -> &'a str {
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(rest.len());
    let (w, after) = rest.split_at(end);
    *rest = after;
    w
}

/// The string before the closing quote of `s` (escapes resolved) and what follows the quote.
fn quoted_string(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_forms() {
        let e = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"s3cr;et \\\"q\\\"\";",
        )
        .unwrap();
        assert_eq!(e.module, PLAIN_LOGIN_MODULE);
        assert_eq!(e.options["username"], "alice");
        assert_eq!(e.options["password"], "s3cr;et \"q\"");
        let e = parse(
            "  org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED\n username=bob\tpassword=\"\" ",
        )
        .unwrap();
        assert_eq!(e.module, SCRAM_LOGIN_MODULE);
        assert_eq!(e.options["username"], "bob");
        assert_eq!(e.options["password"], "");
        let e = parse("m optional;").unwrap();
        assert!(e.options.is_empty());
    }

    #[test]
    fn malformed_entries_do_not_quote_values() {
        for bad in [
            "",
            "   ",
            "org.x.Module",
            "org.x.Module maybe username=\"u\";",
            "org.x.Module required username=\"u\" password=\"topsecret;",
            "org.x.Module required username \"u\";",
            "org.x.Module required =\"topsecret\";",
            "org.x.Module required password=\"topsecret\"; other.Module required;",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains("topsecret"), "{bad:?}: {e}");
        }
        let e = parse("m required password=\"topsecret\"").unwrap();
        assert!(!format!("{e:?}").contains("topsecret"));
    }
}
