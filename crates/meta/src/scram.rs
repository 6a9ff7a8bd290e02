//! Validation of SCRAM credentials before they are journaled.
//!
//! Invariants: only `SCRAM-SHA-256` and `SCRAM-SHA-512` are stored; iterations are within
//! Kafka's bounds (4096..=16384); the user name is non-empty; salt and keys are base64 of the
//! lengths the mechanism gives (keys: the hash's output size).

use base64::Engine;

use crate::error::{MetaError, MetaErrorKind};
use crate::record::ScramCredential;

/// Kafka's smallest and largest SCRAM iteration counts.
pub const ITERATIONS: std::ops::RangeInclusive<u32> = 4096..=16384;

/// The key length of a mechanism, `None` for an unknown one.
pub fn key_len(mechanism: &str) -> Option<usize> {
    match mechanism {
        "SCRAM-SHA-256" => Some(32),
        "SCRAM-SHA-512" => Some(64),
        _ => None,
    }
}

/// Checks a credential as described in the module docs.
pub fn validate(c: &ScramCredential) -> Result<(), MetaError> {
    let Some(len) = key_len(&c.mechanism) else {
        return Err(MetaError::new(
            MetaErrorKind::UnsupportedSaslMechanism,
            format!("unsupported SCRAM mechanism {:?}", c.mechanism),
        ));
    };
    if c.user.is_empty() {
        return Err(MetaError::new(
            MetaErrorKind::UnacceptableCredential,
            "a SCRAM user name may not be empty",
        ));
    }
    if !ITERATIONS.contains(&c.iterations) {
        return Err(MetaError::new(
            MetaErrorKind::UnacceptableCredential,
            format!(
                "SCRAM iterations {} are outside {}..={}",
                c.iterations,
                ITERATIONS.start(),
                ITERATIONS.end()
            ),
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let decoded = |what: &str, v: &str| {
        b64.decode(v).map_err(|e| {
            MetaError::new(
                MetaErrorKind::UnacceptableCredential,
                format!("SCRAM {what} is not base64: {e}"),
            )
        })
    };
    if decoded("salt", &c.salt)?.is_empty() {
        return Err(MetaError::new(
            MetaErrorKind::UnacceptableCredential,
            "a SCRAM salt may not be empty",
        ));
    }
    for (what, v) in [("stored key", &c.stored_key), ("server key", &c.server_key)] {
        if decoded(what, v)?.len() != len {
            return Err(MetaError::new(
                MetaErrorKind::UnacceptableCredential,
                format!("SCRAM {what} of {} must be {len} bytes", c.mechanism),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(mechanism: &str, iterations: u32, key_len: usize) -> ScramCredential {
        let b64 = base64::engine::general_purpose::STANDARD;
        ScramCredential {
            user: "alice".into(),
            mechanism: mechanism.into(),
            salt: b64.encode(b"salt"),
            iterations,
            stored_key: b64.encode(vec![1u8; key_len]),
            server_key: b64.encode(vec![2u8; key_len]),
        }
    }

    #[test]
    fn only_sound_credentials_are_stored() {
        validate(&cred("SCRAM-SHA-256", 4096, 32)).unwrap();
        validate(&cred("SCRAM-SHA-512", 16384, 64)).unwrap();
        let kind = |c: &ScramCredential| validate(c).unwrap_err().kind;
        assert_eq!(
            kind(&cred("SCRAM-SHA-1", 4096, 20)),
            MetaErrorKind::UnsupportedSaslMechanism
        );
        assert_eq!(
            kind(&cred("SCRAM-SHA-256", 4095, 32)),
            MetaErrorKind::UnacceptableCredential
        );
        assert_eq!(
            kind(&cred("SCRAM-SHA-256", 16385, 32)),
            MetaErrorKind::UnacceptableCredential
        );
        assert_eq!(
            kind(&cred("SCRAM-SHA-256", 4096, 64)),
            MetaErrorKind::UnacceptableCredential
        );
        let mut c = cred("SCRAM-SHA-256", 4096, 32);
        c.user.clear();
        assert_eq!(kind(&c), MetaErrorKind::UnacceptableCredential);
    }
}
