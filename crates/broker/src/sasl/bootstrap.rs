//! `--add-scram` (Kafka's `kafka-storage format --add-scram` syntax), applied at every start:
//!
//! ```text
//! SCRAM-SHA-256=[name=admin,password=admin-secret]
//! SCRAM-SHA-512=[name=alice,iterations=8192,salt="c2FsdA==",saltedpassword="…"]
//! ```
//!
//! Values may be double-quoted; `salt` and `saltedpassword` are base64; `iterations` defaults
//! to 4096.
//!
//! Invariants: only the salted credential reaches the metadata journal, never the password;
//! applying is idempotent — a user whose stored credential already matches (the same password,
//! or the same salt and salted password) is left as it is, so restarts with the same flags
//! write nothing; a malformed entry stops the start with an error that never echoes the
//! password.

use base64::Engine;
use strata_meta::{Operation, ScramCredential};

use super::scram::{self, Mechanism, DEFAULT_ITERATIONS};
use crate::broker::Broker;
use crate::error::BrokerError;

/// What one `--add-scram` entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Secret {
    Password(String),
    Salted { salt: Vec<u8>, salted: Vec<u8> },
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    mechanism: Mechanism,
    user: String,
    iterations: u32,
    secret: Secret,
}

/// The `k=v` pairs inside `[…]`, commas inside double quotes kept.
fn pairs(inner: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let (mut key, mut value, mut in_key, mut quoted) = (String::new(), String::new(), true, false);
    let mut push = |key: &mut String, value: &mut String| -> Result<(), String> {
        if key.trim().is_empty() {
            return Err("an attribute without a name".into());
        }
        out.push((key.trim().to_ascii_lowercase(), std::mem::take(value)));
        key.clear();
        Ok(())
    };
    for c in inner.chars() {
        match c {
            '"' if !in_key => quoted = !quoted,
            '=' if in_key => in_key = false,
            ',' if !quoted => {
                push(&mut key, &mut value)?;
                in_key = true;
            }
            c if in_key => key.push(c),
            c => value.push(c),
        }
    }
    if quoted {
        return Err("an unterminated quote".into());
    }
    if !key.trim().is_empty() {
        push(&mut key, &mut value)?;
    }
    Ok(out)
}

fn parse(entry: &str) -> Result<Entry, String> {
    let (mech, rest) = entry
        .split_once('=')
        .ok_or("expected MECHANISM=[name=…,password=…]")?;
    let mechanism = Mechanism::parse(mech.trim()).ok_or_else(|| {
        format!(
            "unknown mechanism {:?} (SCRAM-SHA-256, SCRAM-SHA-512)",
            mech.trim()
        )
    })?;
    let inner = rest
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or("expected [ … ] after the mechanism")?;
    let (mut user, mut password, mut salt, mut salted, mut iterations) =
        (None, None, None, None, DEFAULT_ITERATIONS);
    let b64 = base64::engine::general_purpose::STANDARD;
    for (k, v) in pairs(inner)? {
        match k.as_str() {
            "name" => user = Some(v),
            "password" => password = Some(v),
            "salt" => salt = Some(b64.decode(&v).map_err(|_| "salt is not base64")?),
            "saltedpassword" => {
                salted = Some(b64.decode(&v).map_err(|_| "saltedpassword is not base64")?)
            }
            "iterations" => {
                iterations = v
                    .parse()
                    .ok()
                    .filter(|i| strata_meta::scram::ITERATIONS.contains(i))
                    .ok_or("iterations must be within 4096..=16384")?
            }
            other => return Err(format!("unknown attribute {other:?}")),
        }
    }
    let user = user.filter(|u| !u.is_empty()).ok_or("name= is missing")?;
    let secret = match (password, salt, salted) {
        (Some(p), None, None) => Secret::Password(p),
        (None, Some(salt), Some(salted)) if !salt.is_empty() => Secret::Salted { salt, salted },
        _ => return Err("give either password=, or salt= with saltedpassword=".into()),
    };
    Ok(Entry {
        mechanism,
        user,
        iterations,
        secret,
    })
}

impl Entry {
    /// The credential to store, or `None` when `existing` already is this entry's.
    fn credential(
        &self,
        existing: Option<&ScramCredential>,
    ) -> Result<Option<ScramCredential>, String> {
        match &self.secret {
            Secret::Password(p) => {
                if existing.is_some_and(|c| {
                    c.iterations == self.iterations && scram::password_matches(c, p)
                }) {
                    return Ok(None);
                }
                scram::credential_from_password(&self.user, self.mechanism, p, self.iterations)
                    .map(Some)
            }
            Secret::Salted { salt, salted } => {
                let c = scram::credential_from_salted(
                    &self.user,
                    self.mechanism,
                    salt,
                    self.iterations,
                    salted,
                );
                Ok((existing != Some(&c)).then_some(c))
            }
        }
    }
}

/// Applies every `--add-scram` entry (see the module docs).
pub(crate) fn apply(broker: &Broker) -> Result<(), BrokerError> {
    for (i, raw) in broker.config.add_scram.iter().enumerate() {
        let entry =
            parse(raw).map_err(|e| BrokerError::Config(format!("--add-scram #{}: {e}", i + 1)))?;
        let image = broker.meta();
        let existing = image
            .scram
            .get(&entry.user)
            .and_then(|m| m.get(entry.mechanism.name()));
        let Some(credential) = entry
            .credential(existing)
            .map_err(|e| BrokerError::Config(format!("--add-scram #{}: {e}", i + 1)))?
        else {
            continue;
        };
        crate::metadata_quorum::execute(
            broker.quorum(),
            Operation::UpsertScramCredential(credential),
        )
        .map_err(|e| BrokerError::Config(format!("--add-scram #{}: {e}", i + 1)))?;
        tracing::info!(user = %entry.user, mechanism = entry.mechanism.name(), "SCRAM credential added (--add-scram)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_syntax() {
        let e = parse("SCRAM-SHA-256=[name=admin,password=admin-secret]").unwrap();
        assert_eq!(e.user, "admin");
        assert_eq!(e.iterations, 4096);
        assert_eq!(e.secret, Secret::Password("admin-secret".into()));
        let e = parse(r#"SCRAM-SHA-512=[name="al,ice",password="p=w,d",iterations=8192]"#).unwrap();
        assert_eq!((e.user.as_str(), e.iterations), ("al,ice", 8192));
        assert_eq!(e.secret, Secret::Password("p=w,d".into()));
        let e = parse(
            r#"SCRAM-SHA-256=[name=alice,salt="c2FsdA==",saltedpassword="AAAA",iterations=8192]"#,
        )
        .unwrap();
        assert!(matches!(e.secret, Secret::Salted { .. }));
        for bad in [
            "SCRAM-SHA-1=[name=a,password=b]",
            "SCRAM-SHA-256=name=a,password=b",
            "SCRAM-SHA-256=[password=b]",
            "SCRAM-SHA-256=[name=a]",
            "SCRAM-SHA-256=[name=a,password=b,iterations=10]",
            "SCRAM-SHA-256=[name=a,password=\"b]",
            "SCRAM-SHA-256=[name=a,password=b,colour=red]",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.contains("=b"), "{bad}: {err}");
        }
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let e = parse("SCRAM-SHA-256=[name=admin,password=admin-secret]").unwrap();
        let first = e.credential(None).unwrap().unwrap();
        assert!(scram::password_matches(&first, "admin-secret"));
        assert_eq!(e.credential(Some(&first)).unwrap(), None);
        let other = parse("SCRAM-SHA-256=[name=admin,password=changed]").unwrap();
        assert!(other.credential(Some(&first)).unwrap().is_some());
    }
}
